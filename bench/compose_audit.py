"""Compose every suite of the federation gateway audit with Accord and compare with Apollo.

The audit (graphql-hive/federation-gateway-audit) defines each suite's subgraphs in
TypeScript files (``createSubgraph("name", { typeDefs: `...` })``) and serves the supergraph
that Apollo's ``composeServices`` makes of them. This script reads the SDLs out of a local
copy of the audit, composes them with Accord, composes them with ``@apollo/composition`` from
a Node install (the reference), and compares the two supergraphs semantically: same
definitions, same fields, arguments, values and directive applications, in any order.

    python bench/compose_audit.py --audit /path/to/federation-gateway-audit \
        --reference /path/to/composition-install [--service-sdl] [--mutations] \
        [--suite NAME] [--show-diff]

``--mutations`` also composes variants of every suite with one directive or one ``!`` removed
and checks that Accord and Apollo agree: same supergraph, or both refuse (with a common error
code when possible). Apollo's satisfiability check is not implemented, so variants only it
refuses for that reason are counted apart.

``--gateway --node DIR`` instead runs the audit's own harness (Node 24) with Accord serving,
per suite, the supergraph ``accord compose`` builds from the live subgraphs; it reports the
cases passed.

``--shipped`` (with ``--node``) compares with the supergraph the audit's own server ships for
each suite instead, composing the subgraphs it lists (with ``--service-sdl``: what each live
subgraph answers to ``_service``).

``--random N [--seed S]`` also compares Accord and Apollo on 4N small random subgraph sets:
entities and value types over two or three subgraphs with random directives (2N), Federation 1
style (N), and interfaces, unions and @interfaceObject (N).

``--service-sdl`` composes what each subgraph answers to ``{ _service { sdl } }`` (as built
by ``@apollo/subgraph``) rather than the SDL as written, the form ``accord compose`` reads
from a running subgraph.

Prints JSON: suites, how many compose to an equivalent supergraph, and the differences.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.federation.compose import (  # noqa: E402
    CompositionError,
    SubgraphSource,
    compose,
    fetch_sdl,
)
from app.federation.compose_compare import supergraph_differences  # noqa: E402

SUBGRAPH = re.compile(
    r'createSubgraph\(\s*"([^"]+)"\s*,\s*\{\s*typeDefs:\s*(?:/\*\s*GraphQL\s*\*/)?\s*`([^`]*)`',
    re.S,
)
# The reference composer: reads [{name, url, sdl}] per suite on stdin, prints {suite: sdl|errors}.
REFERENCE_JS = r"""
const { composeServices } = require("@apollo/composition");
const { parse } = require("graphql");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [suite, subgraphs] of Object.entries(input)) {
  let result;
  try {
    result = composeServices(
      subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) })));
  } catch (error) {
    result = { errors: [{ message: String(error), extensions: { code: "INVALID_GRAPHQL" } }] };
  }
  out[suite] = result.errors
    ? { errors: result.errors.map((e) => `${e.extensions?.code}: ${e.message}`) }
    : { sdl: result.supergraphSdl };
}
process.stdout.write(JSON.stringify(out));
"""

# The SDL each subgraph serves at `_service { sdl }` when built with @apollo/subgraph.
SERVICE_SDL_JS = r"""
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { parse, execute } = require("graphql");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const out = {};
  for (const [suite, subgraphs] of Object.entries(input)) {
    out[suite] = [];
    for (const s of subgraphs) {
      const schema = buildSubgraphSchema({ typeDefs: parse(s.sdl) });
      const result = await execute({ schema, document: parse("{ _service { sdl } }") });
      out[suite].push({ ...s, sdl: result.data._service.sdl });
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def service_sdls(
    node_modules: Path, suites: dict[str, list[dict[str, str]]]
) -> dict[str, list[dict[str, str]]]:
    """The suites' subgraphs with the SDL a running subgraph would answer to ``_service``."""
    result = subprocess.run(
        ["node", "-e", SERVICE_SDL_JS],
        input=json.dumps(suites),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(node_modules)},
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"building subgraphs failed: {result.stderr.strip()[:2000]}")
    return json.loads(result.stdout)


def audit_suites(audit: Path) -> dict[str, list[dict[str, str]]]:
    """Each suite's subgraphs as {name, url, sdl}, read from the audit's TypeScript sources."""
    suites: dict[str, list[dict[str, str]]] = {}
    base = audit / "src" / "test-suites"
    if not base.is_dir():
        raise SystemExit(f"{base} not found: pass --audit with a checkout of the audit")
    for suite_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        subgraphs = []
        for source in sorted(suite_dir.glob("*.ts")):
            for name, sdl in SUBGRAPH.findall(source.read_text(encoding="utf-8")):
                url = f"http://127.0.0.1:4200/{suite_dir.name}/{name}"
                subgraphs.append({"name": name, "url": url, "sdl": sdl})
        if subgraphs:
            suites[suite_dir.name] = subgraphs
    return suites


def reference_supergraphs(
    reference: Path, suites: dict[str, list[dict[str, str]]]
) -> dict[str, dict[str, object]]:
    result = subprocess.run(
        ["node", "-e", REFERENCE_JS],
        input=json.dumps(suites),
        capture_output=True,
        text=True,
        cwd=reference,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"reference composition failed: {result.stderr.strip()[:2000]}")
    return json.loads(result.stdout)


# Mutations: remove one federation directive (or one `!`) from one subgraph of a suite.
MUTATIONS = (
    r"@shareable",
    r"@external",
    r'@key\(fields: "[^"]*"\)',
    r"@inaccessible",
    r'@provides\(fields: "[^"]*"\)',
    r'@requires\(\s*fields: "[^"]*"\s*\)',
    r'@override\(from: "[^"]*"\)',
    r"!",
)


def mutations(suites: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """Variants of every suite, each one edit away from it: most should not compose."""
    variants: dict[str, list[dict[str, str]]] = {}
    for suite, subgraphs in suites.items():
        for index, subgraph in enumerate(subgraphs):
            sdl = subgraph["sdl"]
            for pattern in MUTATIONS:
                for n, match in enumerate(re.finditer(pattern, sdl)):
                    if n > 5:
                        break
                    if sdl[match.start() - 1] == '"':  # an @link import, not a use
                        continue
                    edited = [dict(s) for s in subgraphs]
                    edited[index]["sdl"] = sdl[: match.start()] + sdl[match.end() :]
                    variants[f"{suite}|{subgraph['name']}|{pattern[:12]}|{n}"] = edited
    return variants


RANDOM_HEAD = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", '
    '"@shareable", "@external", "@requires", "@override", "@inaccessible"])\n'
)
RANDOM_TYPES = ("Int", "String", "Int!", "String!", "[Int]", "Boolean")


def random_subgraphs(rng: random.Random, shareable: float) -> list[dict[str, str]]:
    """A small random set of Federation 2 subgraphs: entities and value types spread over two
    or three subgraphs, with @shareable at rate ``shareable`` and some @external/@requires,
    @override, @inaccessible, resolvable: false, enum arguments and type mismatches."""
    types = [f"T{i}" for i in range(rng.randint(2, 5))]
    fields = {
        t: {f"f{j}": rng.choice(RANDOM_TYPES) for j in range(rng.randint(1, 4))} for t in types
    }
    for t in types:
        if rng.random() < 0.4:
            fields[t]["ref"] = rng.choice(types)
    keyed = {t: rng.random() < 0.75 for t in types}
    count = rng.randint(2, 3)
    subgraphs = []
    for index in range(count):
        mine = [t for t in types if rng.random() < 0.7] or [types[0]]
        roots = []
        for t in rng.sample(mine, k=min(len(mine), rng.randint(1, 2))):
            argument = "(k: Kind)" if rng.random() < 0.2 else ""
            shared = " @shareable" if rng.random() < 0.5 else ""
            roots.append(f"q{t}{argument}: {t}{shared}")
        if rng.random() < 0.3:
            roots.append("common: String" + (" @shareable" if rng.random() < 0.7 else ""))
        lines = [RANDOM_HEAD, "type Query { " + " ".join(roots) + " }"]
        for t in mine:
            body = ["id: ID!"] if keyed[t] or rng.random() < 0.5 else []
            externals = []
            for name, field_type in fields[t].items():
                if rng.random() >= 0.6 or (name == "ref" and field_type not in mine):
                    continue
                if rng.random() < 0.1 and field_type.endswith("!"):
                    field_type = field_type[:-1]
                roll, directive = rng.random(), ""
                if roll < shareable:
                    directive = " @shareable"
                elif roll < shareable + 0.1 and keyed[t]:
                    externals.append(name)
                    directive = " @external"
                elif roll < shareable + 0.13:
                    directive = f' @override(from: "s{rng.randint(0, count - 1)}")'
                elif roll < shareable + 0.16:
                    directive = " @inaccessible @shareable"
                body.append(f"{name}: {field_type}{directive}")
            if externals and rng.random() < 0.8:
                body.append(f'calc: Int @requires(fields: "{" ".join(externals)}")')
            body = body or ["id: ID!"]
            key = ""
            if keyed[t] and any(f.startswith("id:") for f in body):
                key = ' @key(fields: "id"' + (", resolvable: false" if rng.random() < 0.1 else "")
                key += ")"
            shared_type = " @shareable" if rng.random() < 0.2 else ""
            lines.append(f"type {t}{key}{shared_type} {{ " + " ".join(body) + " }")
        if any("Kind" in line for line in lines):
            values = [v for v in ("A", "B", "C") if rng.random() < 0.8] or ["A"]
            lines.append("enum Kind { " + " ".join(values) + " }")
        name = f"s{index}"
        subgraphs.append({"name": name, "url": f"http://127.0.0.1/{name}", "sdl": "\n".join(lines)})
    return subgraphs


def random_fed1_subgraphs(rng: random.Random) -> list[dict[str, str]]:
    """A small random set of Federation 1 subgraphs: an owner per entity, other subgraphs
    extending it (``extend type`` or ``@extends``) with @external keys and fields, @requires
    and @provides."""
    types = [f"T{i}" for i in range(rng.randint(2, 4))]
    scalars = ("Int", "String", "Int!", "String!", "Boolean")
    fields = {t: {f"f{j}": rng.choice(scalars) for j in range(rng.randint(1, 4))} for t in types}
    for t in types:
        if rng.random() < 0.3:
            fields[t]["ref"] = rng.choice(types)
    keyed = {t: rng.random() < 0.8 for t in types}
    owner = {t: rng.randint(0, 2) for t in types}
    count = rng.randint(2, 3)
    subgraphs = []
    for index in range(count):
        mine = [t for t in types if owner[t] % count == index or rng.random() < 0.5] or types[:1]
        roots = [f"q{t}: {t}" for t in rng.sample(mine, k=min(len(mine), rng.randint(1, 2)))]
        query = "extend type Query { " if rng.random() < 0.6 else "type Query { "
        lines = [query + " ".join(roots) + " }"]
        for t in mine:
            owns = owner[t] % count == index
            body = ["id: ID!"] if keyed[t] else []
            externals = []
            for name, field_type in fields[t].items():
                if (name == "ref" and field_type not in mine) or rng.random() >= 0.6:
                    continue
                external = not owns and keyed[t] and rng.random() < 0.3
                if external:
                    externals.append(name)
                body.append(f"{name}: {field_type}" + (" @external" if external else ""))
            if externals and rng.random() < 0.6:
                body.append(f'calc: Int @requires(fields: "{" ".join(externals)}")')
            target = fields[t].get("ref")
            if target in mine and rng.random() < 0.15:
                body = [b for b in body if not b.startswith("ref:")]
                body.append(f'ref: {target} @provides(fields: "id")')
            body = body or ["id: ID!"]
            key = ' @key(fields: "id")' if keyed[t] and "id: ID!" in body else ""
            if key and not owns:
                body = ["id: ID! @external" if b == "id: ID!" else b for b in body]
                if rng.random() < 0.7:
                    lines.append(f"extend type {t}{key} {{ " + " ".join(body) + " }")
                    continue
                key += " @extends"
            lines.append(f"type {t}{key} {{ " + " ".join(body) + " }")
        name = f"s{index}"
        subgraphs.append({"name": name, "url": f"http://127.0.0.1/{name}", "sdl": "\n".join(lines)})
    return subgraphs


def random_abstract_subgraphs(rng: random.Random) -> list[dict[str, str]]:
    """A small random set of subgraphs around one interface: implementations spread over
    subgraphs, optional entity-interface @key, a union of them, shared abstract root fields,
    and sometimes an @interfaceObject view of the interface."""
    head = RANDOM_HEAD.replace('"@inaccessible"', '"@inaccessible", "@interfaceObject"')
    implementations = [f"O{i}" for i in range(rng.randint(1, 3))]
    shared = {f"g{j}": rng.choice(("Int", "String", "Int!")) for j in range(rng.randint(1, 3))}
    entity_interface = rng.random() < 0.5
    subgraphs = []
    for index in range(rng.randint(2, 3)):
        lines = [head]
        roots = []
        if index > 0 and entity_interface and rng.random() < 0.15:
            extra = f"x{index}: Int" + (" @shareable" if rng.random() < 0.3 else "")
            lines.append(f'type I @key(fields: "id") @interfaceObject {{ id: ID! {extra} }}')
        else:
            mine = [o for o in implementations if rng.random() < 0.7] or implementations[:1]
            declared = [name for name in shared if rng.random() < 0.8]
            key = ' @key(fields: "id")' if entity_interface else ""
            body = " ".join(f"{name}: {shared[name]}" for name in declared)
            lines.append(f"interface I{key} {{ id: ID! {body} }}")
            for o in mine:
                parts = ["id: ID!"]
                for name in declared:
                    field_type = shared[name] if rng.random() < 0.9 else shared[name].rstrip("!")
                    parts.append(
                        f"{name}: {field_type}" + (" @shareable" if rng.random() < 0.6 else "")
                    )
                parts.append(f"o{index}: String" + (" @shareable" if rng.random() < 0.5 else ""))
                own_key = ' @key(fields: "id")' if entity_interface or rng.random() < 0.6 else ""
                lines.append(f"type {o} implements I{own_key} {{ {' '.join(parts)} }}")
            if rng.random() < 0.5:
                lines.append(f"union U = {' | '.join(mine)}")
                roots.append("anyU: [U]" + (" @shareable" if rng.random() < 0.6 else ""))
        roots.append("anyI: I" + (" @shareable" if rng.random() < 0.6 else ""))
        lines.append("type Query { " + " ".join(roots) + " }")
        name = f"s{index}"
        subgraphs.append({"name": name, "url": f"http://127.0.0.1/{name}", "sdl": "\n".join(lines)})
    return subgraphs


def judge(subgraphs: list[dict[str, str]], reference: dict[str, object]) -> tuple[str, dict]:
    """Compose with Accord and compare with Apollo's outcome for the same subgraphs."""
    sources = [SubgraphSource(s["name"], s["url"], s["sdl"]) for s in subgraphs]
    try:
        ours: str | None = compose(sources)
        our_codes: list[str] = []
    except CompositionError as exc:
        ours, our_codes = None, sorted({i.code for i in exc.issues})
    if "errors" in reference:
        their_codes = sorted({str(e).split(":")[0] for e in reference["errors"]})  # type: ignore[union-attr]
        entry = {"apollo": their_codes, "accord": our_codes or "sdl"}
        if ours is None:
            return ("agree" if set(our_codes) & set(their_codes) else "both-refuse"), entry
        if their_codes == ["SATISFIABILITY_ERROR"]:
            return "satisfiability-not-checked", entry
        return "disagree", entry
    if ours is None:
        return "disagree", {"apollo": "sdl", "accord": our_codes}
    diffs = supergraph_differences(ours, str(reference["sdl"]))
    if diffs:
        return "disagree", {"apollo": "sdl", "accord": "sdl", "diff": diffs}
    return "agree", {}


def shipped_suites(
    audit: Path, node: Path | None, port: int, names: list[str], live_sdl: bool
) -> tuple[dict[str, list[dict[str, str]]], dict[str, dict[str, object]]]:
    """Each suite's subgraphs and supergraph as the audit's own server ships them.

    Starts the audit server (Node 24, ``src/cli.ts serve``), reads ``/<suite>/subgraphs`` and
    ``/<suite>/supergraph``, and with ``live_sdl`` asks every live subgraph for its
    ``_service`` SDL as ``accord compose`` would. The server is stopped before returning.
    """
    tsx = audit / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        raise SystemExit(f"{audit} has no node_modules; run `npm install` in it first")
    env = dict(os.environ)
    if node:
        env["PATH"] = f"{node.resolve()}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        [str(tsx), "src/cli.ts", "serve", "--port", str(port)],
        cwd=audit,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/{names[0]}/subgraphs", timeout=2).read()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the audit server did not start") from None
                time.sleep(0.2)
        suites: dict[str, list[dict[str, str]]] = {}
        references: dict[str, dict[str, object]] = {}
        for name in names:
            with urllib.request.urlopen(f"{base}/{name}/subgraphs", timeout=30) as answer:
                subgraphs = json.loads(answer.read())
            with urllib.request.urlopen(f"{base}/{name}/supergraph", timeout=30) as answer:
                references[name] = {"sdl": answer.read().decode()}
            if live_sdl:
                for subgraph in subgraphs:
                    subgraph["sdl"] = fetch_sdl(subgraph["url"])
            suites[name] = [{k: s[k] for k in ("name", "url", "sdl")} for s in subgraphs]
        return suites, references
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


GATEWAY_ID = "accord-composed"


def run_gateway_audit(args: argparse.Namespace) -> dict[str, object]:
    """Run the audit's own harness against Accord serving supergraphs Accord composed.

    For every suite, ``run.sh`` asks the audit server for the suite's subgraphs (name and
    URL), runs ``accord compose`` against the live subgraphs (their ``_service`` SDL), then
    starts ``accord serve`` on the result. Same answers as with Apollo's supergraph means the
    composed supergraph is as good to the gateway.
    """
    audit = args.audit.resolve()
    tsx = audit / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        raise SystemExit(f"{audit} has no node_modules; run `npm install` in it first")
    env = dict(os.environ)
    if args.node:
        env["PATH"] = f"{args.node.resolve()}{os.pathsep}{env.get('PATH', '')}"
    gateway_dir = audit / "gateways" / GATEWAY_ID
    gateway_dir.mkdir(parents=True, exist_ok=True)
    graphql_url = f"http://127.0.0.1:{args.gateway_port}/graphql"
    health_url = f"http://127.0.0.1:{args.gateway_port}/healthz"
    (gateway_dir / "gateway.json").write_text(
        json.dumps(
            {"name": "Accord (composed by Accord)", "graphql": graphql_url, "health": health_url}
        )
    )
    python = shlex.quote(sys.executable)
    listing = (
        "import json, sys, urllib.request; "
        f"subgraphs = json.load(urllib.request.urlopen('http://127.0.0.1:{args.audit_port}/' "
        "+ sys.argv[1] + '/subgraphs')); "
        "print(' '.join(f\"-s {s['name']} {s['url']}\" for s in subgraphs))"
    )
    help_text = subprocess.run(
        [sys.executable, "-m", "app", "compose", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    plain = " --no-accord" if "--no-accord" in help_text else ""
    supergraph = shlex.quote(str(gateway_dir / "supergraph.graphql"))
    (gateway_dir / "run.sh").write_text(
        "#!/bin/sh\nset -e\n"
        "export ACCORD_ENFORCEMENT=false\n"
        f"cd {shlex.quote(str(ROOT))}\n"
        f'subgraphs=$({python} -c {shlex.quote(listing)} "$1")\n'
        f"{python} -m app compose $subgraphs{plain} --output {supergraph}\n"
        f"exec {python} -m app serve --supergraph {supergraph} --port {args.gateway_port}\n"
    )
    (gateway_dir / "run.sh").chmod(0o755)
    results = gateway_dir / "results.txt"
    results.unlink(missing_ok=True)
    command = [str(tsx), "src/cli.ts", "test", "--port", str(args.audit_port)]
    command += ["--cwd", str(gateway_dir), "--run-script", "./run.sh"]
    command += ["--graphql", graphql_url, "--healthcheck", health_url, "--reporter", "dot"]
    proc = subprocess.run(
        command, cwd=audit, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    if not results.exists():
        return {"error": "the audit wrote no results.txt", "output": proc.stdout[-3000:]}
    lines = results.read_text().splitlines()
    marks: dict[str, str] = {}
    for index in range(0, len(lines) - 1, 2):
        if not lines[index] or lines[index].startswith("---"):
            break
        marks[lines[index]] = lines[index + 1]
    return {
        "gateway": GATEWAY_ID,
        "cases": sum(len(m) for m in marks.values()),
        "passed": sum(m.count(".") for m in marks.values()),
        "failed": sum(m.count("X") for m in marks.values()),
        "failing_suites": sorted(s for s, m in marks.items() if "X" in m),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audit", type=Path, help="local copy of the audit")
    parser.add_argument(
        "--reference",
        type=Path,
        help="directory whose node_modules has @apollo/composition and graphql",
    )
    parser.add_argument(
        "--service-sdl",
        action="store_true",
        help="compose the SDL each subgraph serves at _service (built with @apollo/subgraph "
        "from bench/gateways/node_modules) instead of the SDL as written",
    )
    parser.add_argument(
        "--mutations",
        action="store_true",
        help="also compare Accord and Apollo on variants of each suite with one directive or "
        "one `!` removed (mostly composition errors)",
    )
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="instead, run the audit's own harness against Accord serving supergraphs that "
        "`accord compose` builds from the live subgraphs (needs --node and the audit's "
        "npm install)",
    )
    parser.add_argument("--node", type=Path, help="directory holding a Node 24 `node`")
    parser.add_argument("--audit-port", type=int, default=4210)
    parser.add_argument("--gateway-port", type=int, default=4011)
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="compare with the supergraph the audit's own server ships (started here with "
        "--node) and compose what its subgraphs serve: the SDL it lists, or with "
        "--service-sdl what each live subgraph answers to _service",
    )
    parser.add_argument(
        "--random",
        type=int,
        default=0,
        metavar="N",
        help="also compare Accord and Apollo on 4N random subgraph sets (Federation 2 with few "
        "and with many @shareable, Federation 1, interfaces and unions)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for --random")
    parser.add_argument("--suite", action="append", help="only these suites")
    parser.add_argument("--show-diff", action="store_true", help="include the differences")
    args = parser.parse_args()
    missing = []
    if args.audit is None or not (args.audit / "src" / "test-suites").is_dir():
        missing.append("a checkout of the audit (--audit)")
    if (
        not args.gateway
        and not args.shipped
        and (args.reference is None or not (args.reference / "node_modules").is_dir())
    ):
        missing.append("a directory with @apollo/composition and graphql installed (--reference)")
    if shutil.which("node") is None and args.node is None:
        missing.append("node")
    if missing:
        # `make bench` runs every script: say plainly what is missing instead of failing.
        print(json.dumps({"skipped": "needs " + ", ".join(missing)}))
        return 0
    if args.gateway:
        outcome = run_gateway_audit(args)
        print(json.dumps(outcome, indent=2))
        return 0 if outcome.get("failed") == 0 else 1

    suites = audit_suites(args.audit)
    if args.suite:
        suites = {name: suites[name] for name in args.suite if name in suites}
    if args.shipped:
        suites, references = shipped_suites(
            args.audit.resolve(), args.node, args.audit_port, list(suites), args.service_sdl
        )
    else:
        references = reference_supergraphs(args.reference, suites)
        if args.service_sdl:
            suites = service_sdls(ROOT / "bench" / "gateways" / "node_modules", suites)
    report: dict[str, object] = {}
    equivalent = 0
    for suite, subgraphs in suites.items():
        reference = references[suite]
        sources = [SubgraphSource(s["name"], s["url"], s["sdl"]) for s in subgraphs]
        try:
            ours: str | None = compose(sources)
            our_errors: list[str] = []
        except CompositionError as exc:
            ours, our_errors = None, [str(i) for i in exc.issues]
        if "errors" in reference:
            ok = ours is None
            entry: dict[str, object] = {"apollo": "errors", "accord": "errors" if ok else "sdl"}
        elif ours is None:
            ok = False
            entry = {"apollo": "sdl", "accord": "errors", "errors": our_errors}
        else:
            diffs = supergraph_differences(ours, str(reference["sdl"]))
            ok = not diffs
            entry = {"apollo": "sdl", "accord": "sdl", "differences": len(diffs)}
            if diffs and args.show_diff:
                entry["diff"] = diffs
        entry["equivalent"] = ok
        equivalent += ok
        report[suite] = entry
    summary: dict[str, object] = {
        "suites": len(suites),
        "equivalent": equivalent,
        "input": "_service sdl" if args.service_sdl else "sdl as written",
        "reference": "shipped by the audit server"
        if args.shipped
        else "composed by @apollo/composition",
    }
    disagreements = 0
    if args.mutations:
        variants = mutations(suites)
        verdicts: dict[str, int] = {}
        details: dict[str, object] = {}
        references = reference_supergraphs(args.reference, variants)
        for key, subgraphs in variants.items():
            verdict, entry = judge(subgraphs, references[key])
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            if verdict == "disagree":
                details[key] = entry if args.show_diff else {**entry, "diff": "..."}
        disagreements = verdicts.get("disagree", 0)
        summary["mutations"] = {"variants": len(variants), "verdicts": verdicts}
        summary["mutation_disagreements"] = details
    if args.random:
        rng = random.Random(args.seed)
        cases = {
            f"random-{share}-{i}": random_subgraphs(rng, share)
            for share in (0.4, 0.8)
            for i in range(args.random)
        }
        cases.update({f"random-fed1-{i}": random_fed1_subgraphs(rng) for i in range(args.random)})
        cases.update(
            {f"random-abstract-{i}": random_abstract_subgraphs(rng) for i in range(args.random)}
        )
        references = reference_supergraphs(args.reference, cases)
        verdicts = {}
        details = {}
        composed = 0
        for key, subgraphs in cases.items():
            composed += "sdl" in references[key]
            verdict, entry = judge(subgraphs, references[key])
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            if verdict == "disagree":
                details[key] = {"subgraphs": subgraphs, **entry}
        disagreements += verdicts.get("disagree", 0)
        summary["random"] = {
            "cases": len(cases),
            "seed": args.seed,
            "apollo_composed": composed,
            "verdicts": verdicts,
        }
        summary["random_disagreements"] = details
    summary["results"] = report
    print(json.dumps(summary, indent=2))
    return 0 if equivalent == len(suites) and not disagreements else 1


if __name__ == "__main__":
    sys.exit(main())
