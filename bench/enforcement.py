"""What consent enforcement and disclosure recording cost, against plain federation.

One run, one workload, two gateways in turn (``accord serve`` with ``enforcement`` off, then
on, repeated ``--rounds`` times, alternating): a case worker's person query joining three
agencies (identity and benefits from human services, diagnoses from health, enrolment from
education), over a pool of people who all consented, so both gateways release the same fields.
The enforcing gateway authenticates each request (EdDSA bearer token), plans key-first (for
a person seen in the last 30 seconds, the usual case here, the key-only root field and human
services' ``_entities`` fetch share one request and health's and education's start beside it;
otherwise the root field goes first), decides every
(person, agency, category), attaches a gateway token to each subgraph call, and appends a
disclosure per (person, agency) to a SQLite ledger (group commit, ``synchronous=FULL``) before
answering.

The agencies are stand-ins that answer any selection from canned values at a few µs per call
(they accept tokens without checking them), so the figures are the gateway's own. The gateway
is pinned to CPU 0; the agencies, the load generator and the enforcing gateway's ledger process
(which appends the entries) to CPU 1. The ledger process's CPU is reported apart, and with the
gateway's in the total-CPU ratio.

    python bench/enforcement.py [--duration 10] [--connections 32] [--rounds 2] [--people 200]
        [--agency-delay-ms 0]

``--agency-delay-ms`` makes each stand-in agency wait that long before it answers a call, as
an agency looking the person up in its own database would (the wait costs no CPU here, as
such a lookup would cost none on the gateway's machine). Then the gateway is no longer the
bottleneck at the given connections, and the figures show what enforcement costs a client
in latency rather than what it costs the gateway in CPU. The target is for the default, 0.

Prints JSON: per mode requests/s, p50/p99 latency, errors, CPU per request of the gateway, its
ledger process, the agencies and the load generator, and agency calls per request; the
enforced/plain throughput ratio (target: at least 0.85), what the ledger recorded, and the
target's budget: the CPU per request each core could spend at 0.85 of plain throughput, neither
busier than the busier core of the enforcing run, and how far the gateway and the ledger
process are over it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

AGENCIES = ("human_services", "health", "education", "courts")
QUERY = """query Profile($id: ID!) {
  person(id: $id) {
    givenName
    familyName
    dateOfBirth
    benefits { program status }
    diagnoses { code description }
    enrolment { school gradeLevel }
  }
}"""

# Canned answers of the stand-in agencies, by field name.
SCALARS = {
    "givenName": "Ada",
    "familyName": "Lovelace",
    "dateOfBirth": "1990-04-01",
    "program": "SNAP",
    "status": "active",
    "code": "E11.9",
    "description": "Type 2 diabetes mellitus without complications",
    "school": "Lincoln High School",
    "gradeLevel": 11,
}
LISTS = {"benefits", "diagnoses"}


# -- stand-in agencies ------------------------------------------------------------------------


def _compile(selection_set) -> list:
    """A selection as [(response key, field name, nested or None)], with fragments inlined."""
    from graphql import FieldNode, InlineFragmentNode

    out = []
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            nested = _compile(node.selection_set) if node.selection_set else None
            key = node.alias.value if node.alias else node.name.value
            out.append((key, node.name.value, nested))
        elif isinstance(node, InlineFragmentNode):
            out.extend(_compile(node.selection_set))
    return out


def _fill(compiled: list, typename: str, ident: str | None) -> dict:
    value: dict = {}
    for key, name, nested in compiled:
        if name == "__typename":
            value[key] = typename
        elif name == "id":
            value[key] = ident
        elif nested is not None:
            one = _fill(nested, name, None)
            value[key] = [one, dict(one)] if name in LISTS else one
        else:
            value[key] = SCALARS.get(name, "x")
    return value


def _answer(query: str, variables: dict, cache: dict) -> dict:
    plan = cache.get(query)
    if plan is None:
        from graphql import parse

        operation = parse(query).definitions[0]
        plan = cache[query] = []
        for key, name, nested in _compile(operation.selection_set):
            argument = None
            for field in operation.selection_set.selections:
                if (field.alias or field.name).value == key and field.arguments:
                    argument = field.arguments[0].value
            plan.append(
                (key, name, nested, getattr(getattr(argument, "name", None), "value", None))
            )
    data: dict = {}
    for key, name, nested, variable in plan:
        if name == "_entities":
            data[key] = [
                _fill(nested, rep.get("__typename", "Person"), rep.get("id"))
                for rep in variables.get(variable or "representations", [])
            ]
        elif name == "person":
            data[key] = _fill(nested, "Person", variables.get(variable or "id"))
        else:
            data[key] = None
    return {"data": data}


# GraphQL calls answered by this process's stand-in agencies, read through GET /calls.
_CALLS = [0]


async def _serve_agency(port: int, delay: float) -> None:
    cache: dict = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                if line.startswith(b"GET /calls"):
                    payload = orjson.dumps({"calls": _CALLS[0]})
                elif line.startswith(b"GET"):
                    payload = b'{"status":"ok"}'
                else:
                    _CALLS[0] += 1
                    if delay:
                        await asyncio.sleep(delay)
                    payload = orjson.dumps(
                        _answer(body.get("query", ""), body.get("variables") or {}, cache)
                    )
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _agencies_main(ports: list[int], delay: float) -> int:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def run() -> None:
        await asyncio.gather(*(_serve_agency(p, delay) for p in ports))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


# -- load generator ---------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _load(spec: dict) -> dict:
    host, port = "127.0.0.1", spec["port"]
    requests = []
    for person in spec["people"]:
        body = orjson.dumps({"query": QUERY, "variables": {"id": person}})
        requests.append(
            (
                f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "content-type: application/json\r\naccept: application/json\r\n"
                f"authorization: Bearer {spec['token']}\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    latencies: list[float] = []
    completed = [0]
    errors = {"http": 0, "graphql": 0, "connection": 0}
    measure_from = time.perf_counter() + spec["warmup"]
    stop_at = measure_from + spec["duration"]

    async def worker(offset: int) -> None:
        reader = writer = None
        n = offset
        while time.perf_counter() < stop_at:
            request = requests[n % len(requests)]
            n += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                sent = time.perf_counter()
                writer.write(request)
                status, payload = await _read_response(reader)  # type: ignore[arg-type]
                done = time.perf_counter()
                completed[0] += 1
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                errors["connection"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            if sent < measure_from:
                continue
            latencies.append(done - sent)
            if status != 200:
                errors["http"] += 1
            elif b'"errors"' in payload:
                errors["graphql"] += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker(i * 7) for i in range(spec["connections"])))
    elapsed = time.perf_counter() - measure_from
    latencies.sort()
    count = len(latencies)

    def percentile(p: float) -> float | None:
        return round(latencies[min(count - 1, int(p * count))] * 1000, 2) if count else None

    return {
        "requests": count,
        "completed_with_warmup": completed[0],
        "requests_per_second": round(count / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": {k: v for k, v in errors.items() if v},
    }


def _loader_main(spec_text: str) -> int:
    spec = json.loads(spec_text)
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_load(spec))))
    return 0


# -- orchestration ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Process ids of ``pid``'s children (the enforcing gateway's ledger process), leaving out
    multiprocessing's resource tracker, which sits idle beside it."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def _waited_children_cpu() -> float:
    """CPU time of this process's children that have exited and been waited for (the load
    generator, once ``subprocess.run`` returns)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpus() -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    return (available[0], available[1]) if len(available) >= 2 else (None, None)


def spawn(command: list[str], env: dict | None, cpu: int | None, log: Path) -> subprocess.Popen:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=pin,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def accord(workdir: Path, *argv: str) -> str:
    """Run an ``accord`` command in-process against the bench configuration."""
    from app.cli import main

    out = io.StringIO()
    os.environ["ACCORD_CONFIG"] = str(workdir / "accord.toml")
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"accord {' '.join(argv)} failed with {code}")
    return out.getvalue()


def write_config(workdir: Path, supergraph: Path, port: int, enforcement: bool) -> Path:
    from app.demo_idp import DemoIdentityProvider

    idp = DemoIdentityProvider(workdir)
    lines = [
        f'data_dir = "{workdir}"',
        f'supergraph = "{supergraph}"',
        f"port = {port}",
        f"enforcement = {'true' if enforcement else 'false'}",
    ]
    for issuer in idp.issuers():
        lines += [
            "[[issuers]]",
            f'agency = "{issuer.agency}"',
            f'issuer = "{issuer.issuer}"',
            f'audience = "{issuer.audience}"',
            f'jwks_file = "{issuer.jwks_file}"',
        ]
    path = workdir / ("accord.toml" if enforcement else "plain.toml")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prepare_ledger(workdir: Path, people: list[str]) -> None:
    """Members, the starter contract, and a consent from each person to human services."""
    for agency in AGENCIES:
        accord(workdir, "contracts", "admit", agency)
    proposal = json.loads(accord(workdir, "contracts", "propose", "--agency", "health"))
    digest = proposal.get("hash") or proposal.get("contract", {}).get("hash")
    for member in ("health", "education"):
        accord(workdir, "contracts", "approve", digest, "--agency", member)
    accord(workdir, "contracts", "activate", digest)
    for person in people:
        accord(
            workdir,
            "consent",
            "grant",
            "--agency",
            "human_services",
            "--subject-id",
            person,
            "--grantee",
            "human_services",
            "--adult",
        )


def target_budget(plain: dict, enforced: dict, target: float) -> dict:
    """What each core may spend per enforced request for ``target`` x plain throughput, if
    neither is busier than the busier of the two was in the enforcing run: the gap the
    measured CPU per request leaves on either side of the machine (the gateway's core; the
    other one, shared by the ledger process, the agencies and the load generator)."""
    wanted = target * plain["requests_per_second"]
    served = enforced["requests_per_second"]
    if not wanted or not served:
        return {}
    gateway = enforced["gateway_cpu_us_per_request"]
    ledger = enforced["ledger_process_cpu_us_per_request"]
    neighbours = enforced["agencies_cpu_us_per_request"] + enforced["loader_cpu_us_per_request"]
    busiest = max(gateway, ledger + neighbours) * served  # µs of CPU per second
    per_core = busiest / wanted
    return {
        "requests_per_second": round(wanted),
        "core_busy_share": round(busiest / 1e6, 3),
        "gateway_cpu_us_per_request": round(per_core, 1),
        "gateway_added_over_plain_us": round(per_core - plain["gateway_cpu_us_per_request"], 1),
        "gateway_over_budget_us": round(gateway - per_core, 1),
        "ledger_process_cpu_us_per_request": round(per_core - neighbours, 1),
        "ledger_process_over_budget_us": round(ledger - (per_core - neighbours), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--agency-delay-ms", type=float, default=0.0)
    parser.add_argument("--agencies", help=argparse.SUPPRESS)
    parser.add_argument("--loader", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (math.isfinite(args.agency_delay_ms) and args.agency_delay_ms >= 0):
        parser.error("--agency-delay-ms must be a finite number of milliseconds, 0 or more")
    if args.agencies:
        return _agencies_main(
            [int(p) for p in args.agencies.split(",")], args.agency_delay_ms / 1000
        )
    if args.loader:
        return _loader_main(args.loader)

    from app.federation.compose import SubgraphSource, compose
    from examples.agencies.base import agency_schema
    from ledger.view import LogView

    gateway_cpu, other_cpu = _cpus()
    workdir = Path(tempfile.mkdtemp(prefix="accord-bench-enforcement-"))
    ports = {name: free_port() for name in AGENCIES}
    agencies = spawn(
        [
            sys.executable,
            __file__,
            "--agencies",
            ",".join(str(p) for p in ports.values()),
            "--agency-delay-ms",
            str(args.agency_delay_ms),
        ],
        None,
        other_cpu,
        workdir / "agencies.log",
    )
    processes = [agencies]

    def agency_calls() -> int:
        """Calls the stand-in agencies (one process) have answered so far."""
        port = next(iter(ports.values()))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/calls", timeout=10) as response:
            return json.loads(response.read())["calls"]

    try:
        for port in ports.values():
            wait_ready(f"http://127.0.0.1:{port}/healthz", agencies, workdir / "agencies.log")
        supergraph = workdir / "supergraph.graphql"
        supergraph.write_text(
            compose(
                [
                    SubgraphSource(n, f"http://127.0.0.1:{p}/graphql", agency_schema(n).as_str())
                    for n, p in ports.items()
                ]
            ),
            encoding="utf-8",
        )
        people = [f"P{n:06d}" for n in range(args.people)]
        gateway_port = free_port()
        configs = {
            "plain": write_config(workdir, supergraph, gateway_port, enforcement=False),
            "enforced": write_config(workdir, supergraph, gateway_port, enforcement=True),
        }
        prepare_ledger(workdir, people)
        from app.demo_idp import DemoIdentityProvider

        token = DemoIdentityProvider(workdir).case_worker_token("human_services", "COC")
        runs: dict[str, list[dict]] = {"plain": [], "enforced": []}
        for _ in range(args.rounds):
            for mode in ("plain", "enforced"):
                log = workdir / f"gateway-{mode}.log"
                gateway = spawn(
                    [sys.executable, "-m", "app", "serve"],
                    {"ACCORD_CONFIG": str(configs[mode])},
                    gateway_cpu,
                    log,
                )
                processes.append(gateway)
                try:
                    wait_ready(f"http://127.0.0.1:{gateway_port}/healthz", gateway, log)
                    spec = {
                        "port": gateway_port,
                        "people": people,
                        "token": token,
                        "connections": args.connections,
                        "duration": args.duration,
                        "warmup": args.warmup,
                        "cpu": other_cpu,
                    }
                    # The ledger's own process (enforced mode) shares the second CPU with the
                    # agencies and the load generator; its CPU is reported apart.
                    helpers = children(gateway.pid)
                    for pid in helpers:
                        if other_cpu is not None:
                            with contextlib.suppress(OSError):
                                os.sched_setaffinity(pid, {other_cpu})
                    cpu_before = cpu_seconds(gateway.pid)
                    helpers_before = sum(cpu_seconds(pid) for pid in helpers)
                    agencies_before = cpu_seconds(agencies.pid)
                    loader_before = _waited_children_cpu()
                    calls_before = agency_calls()
                    result = subprocess.run(
                        [sys.executable, __file__, "--loader", json.dumps(spec)],
                        capture_output=True,
                        text=True,
                        timeout=args.duration + args.warmup + 120,
                        check=True,
                    )
                    cpu = cpu_seconds(gateway.pid) - cpu_before
                    ledger_cpu = sum(cpu_seconds(pid) for pid in helpers) - helpers_before
                    agencies_cpu = cpu_seconds(agencies.pid) - agencies_before
                    loader_cpu = _waited_children_cpu() - loader_before
                    calls = agency_calls() - calls_before
                    run = json.loads(result.stdout)
                    done = run.pop("completed_with_warmup")
                    run["gateway_cpu_us_per_request"] = round(cpu / done * 1e6, 1) if done else None
                    run["ledger_process_cpu_us_per_request"] = (
                        round(ledger_cpu / done * 1e6, 1) if done else None
                    )
                    # What shares the second CPU with the ledger process (the loader's CPU
                    # includes its warm-up, as the others' do).
                    run["agencies_cpu_us_per_request"] = (
                        round(agencies_cpu / done * 1e6, 1) if done else None
                    )
                    run["loader_cpu_us_per_request"] = (
                        round(loader_cpu / done * 1e6, 1) if done else None
                    )
                    run["agency_calls_per_request"] = round(calls / done, 2) if done else None
                    runs[mode].append(run)
                finally:
                    stop(gateway)
        with LogView(f"sqlite:///{workdir / 'ledger.db'}") as view:
            ledger_size = view.size
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)

    def summary(results: list[dict]) -> dict:
        return {
            "requests_per_second": statistics.median(r["requests_per_second"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] or 0 for r in results),
            "p99_ms": statistics.median(r["p99_ms"] or 0 for r in results),
            "errors": sum(sum(r["errors"].values()) for r in results),
            "gateway_cpu_us_per_request": statistics.median(
                r["gateway_cpu_us_per_request"] or 0 for r in results
            ),
            "ledger_process_cpu_us_per_request": statistics.median(
                r["ledger_process_cpu_us_per_request"] or 0 for r in results
            ),
            "agencies_cpu_us_per_request": statistics.median(
                r["agencies_cpu_us_per_request"] or 0 for r in results
            ),
            "loader_cpu_us_per_request": statistics.median(
                r["loader_cpu_us_per_request"] or 0 for r in results
            ),
            "agency_calls_per_request": statistics.median(
                r["agency_calls_per_request"] or 0 for r in results
            ),
            "runs": results,
        }

    plain, enforced = summary(runs["plain"]), summary(runs["enforced"])
    ratio = (
        enforced["requests_per_second"] / plain["requests_per_second"]
        if plain["requests_per_second"]
        else 0.0
    )
    cpu_ratio = (
        plain["gateway_cpu_us_per_request"] / enforced["gateway_cpu_us_per_request"]
        if enforced["gateway_cpu_us_per_request"]
        else 0.0
    )
    print(
        json.dumps(
            {
                "workload": {
                    "query": "person + 3 agencies (identity, benefits, diagnoses, enrolment)",
                    "people": args.people,
                    "connections": args.connections,
                    "agency_delay_ms": args.agency_delay_ms,
                    "duration_s": args.duration,
                    "rounds": args.rounds,
                    "cpus": {"gateway": gateway_cpu, "agencies_and_loader": other_cpu},
                },
                "plain": plain,
                "enforced": enforced,
                "enforced_vs_plain_throughput": round(ratio, 3),
                # Throughput at saturation is CPU-bound: the ratio of gateway CPU per request
                # is the steadier figure on a machine shared with other work.
                "plain_vs_enforced_cpu_per_request": round(cpu_ratio, 3),
                # All the CPU a request costs, the ledger's process included.
                "plain_vs_enforced_total_cpu_per_request": round(
                    plain["gateway_cpu_us_per_request"]
                    / (
                        enforced["gateway_cpu_us_per_request"]
                        + enforced["ledger_process_cpu_us_per_request"]
                    ),
                    3,
                )
                if enforced["gateway_cpu_us_per_request"]
                else 0.0,
                "enforcement_cost_percent": round((1 - ratio) * 100, 1),
                "target_cost_percent": 15,
                "meets_target": ratio >= 0.85,
                "target_budget": target_budget(plain, enforced, 0.85),
                "ledger_entries_total": ledger_size,  # setup and warm-up included
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
