"""Run the public federation gateway audit against Accord and print the score as JSON.

The audit (graphql-hive/federation-gateway-audit) serves each suite's subgraphs and expected
answers on port 4200 and starts a gateway per suite through a ``run.sh`` with the suite id.
This script registers Accord as a gateway in a local copy of the audit (outside this
repository), runs the audit's own harness (Node 24), and summarises its ``results.txt``.

    python bench/audit.py --audit /path/to/federation-gateway-audit \
        --node /path/to/node24/bin [--suite requires-requires]

The audit copy needs its npm dependencies installed (``npm install`` in it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_ID = "accord"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audit", type=Path, help="local copy of the audit")
    parser.add_argument("--node", type=Path, help="directory holding a Node 24 `node` binary")
    parser.add_argument("--suite", help="run only this suite")
    parser.add_argument("--port", type=int, default=4000, help="port Accord listens on")
    args = parser.parse_args()

    if args.audit is None:
        # `make bench` runs every script: say plainly what is missing instead of failing.
        print(json.dumps({"skipped": "needs a checkout of the audit (--audit) and Node 24"}))
        return 0
    audit = args.audit.resolve()
    if not (audit / "src" / "cli.ts").is_file():
        parser.error(f"{audit} is not a copy of federation-gateway-audit (no src/cli.ts)")
    tsx = audit / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        parser.error(f"{audit} has no node_modules; run `npm install` in it first")
    env = dict(os.environ)
    if args.node:
        env["PATH"] = f"{args.node.resolve()}{os.pathsep}{env.get('PATH', '')}"

    gateway_dir = audit / "gateways" / GATEWAY_ID
    gateway_dir.mkdir(parents=True, exist_ok=True)
    graphql_url = f"http://127.0.0.1:{args.port}/graphql"
    health_url = f"http://127.0.0.1:{args.port}/healthz"
    (gateway_dir / "gateway.json").write_text(
        json.dumps({"name": "Accord", "graphql": graphql_url, "health": health_url}, indent=2)
    )
    fetch = (
        "import sys, urllib.request; "
        "open('supergraph.graphql', 'wb').write(urllib.request.urlopen("
        "'http://127.0.0.1:4200/' + sys.argv[1] + '/supergraph').read())"
    )
    python = shlex.quote(sys.executable)
    (gateway_dir / "run.sh").write_text(
        "#!/bin/sh\nset -e\n"
        # The audit measures plain federation: no callers' tokens, no consent ledger.
        "export ACCORD_ENFORCEMENT=false\n"
        f'{python} -c {shlex.quote(fetch)} "$1"\n'
        f"cd {shlex.quote(str(ROOT))}\n"
        f"exec {python} -m app serve"
        f" --supergraph {shlex.quote(str(gateway_dir / 'supergraph.graphql'))}"
        f" --port {args.port}\n"
    )
    results = gateway_dir / "results.txt"
    results.unlink(missing_ok=True)
    command = [str(tsx), "src/cli.ts"]
    if args.suite:
        command += ["test-suite", "--test", args.suite]
    else:
        command += ["test"]
    command += [
        "--cwd",
        str(gateway_dir),
        "--run-script",
        "./run.sh",
        "--graphql",
        graphql_url,
        "--healthcheck",
        health_url,
        "--reporter",
        "dot",
    ]
    proc = subprocess.run(command, cwd=audit, env=env, capture_output=True, text=True)
    if args.suite:
        output = proc.stdout
        passed = output.count("\u2714") if "\u2714" in output else None
        print(json.dumps({"suite": args.suite, "exit_code": proc.returncode, "output": output}))
        return 0 if proc.returncode == 0 and passed != 0 else 1
    if not results.exists():
        print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
        print(json.dumps({"error": "the audit wrote no results.txt"}))
        return 1
    print(json.dumps(summarise(results.read_text())))
    return 0


def summarise(text: str) -> dict:
    """Turn the audit's ``results.txt`` (suite id line, then a line of . and X) into JSON."""
    lines = text.splitlines()
    suites: dict[str, str] = {}
    for index in range(0, len(lines) - 1, 2):
        if lines[index] == "" or lines[index].startswith("---"):
            break
        suites[lines[index]] = lines[index + 1]
    passed = sum(r.count(".") for r in suites.values())
    failed = sum(r.count("X") for r in suites.values())
    failing = {
        suite: [i for i, mark in enumerate(result) if mark == "X"]
        for suite, result in suites.items()
        if "X" in result
    }
    return {
        "gateway": "accord",
        "suites": len(suites),
        "suites_passed": sum(1 for r in suites.values() if "X" not in r),
        "cases": passed + failed,
        "passed": passed,
        "failed": failed,
        "failing": failing,
    }


if __name__ == "__main__":
    sys.exit(main())
