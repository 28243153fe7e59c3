"""Accord beside Apollo Gateway and Hive Gateway on the gateways-benchmark workload.

The workload is graphql-hive/graphql-gateways-benchmark's: four subgraphs (accounts,
inventory, products, reviews; ``bench/subgraphs``) and its deeply nested query. Everything
runs on 127.0.0.1 in one run: the subgraphs (Node), then each gateway in turn, each loaded by
the same closed-loop generator (bare asyncio, keep-alive connections, every response checked
against the reference answer) for a bounded time. Printed as JSON: requests/s, p50/p99
latency, errors, peak RSS, subgraph requests per client request, and Accord's ratios to each
peer.

    npm --prefix bench/gateways install        # once: the Node gateways and subgraph runtime
    python bench/federation.py [--duration 24] [--rounds 3] [--connections 50] \
        [--gateways apollo,hive,accord]
    python bench/federation.py --subgraphs-only   # load the subgraphs directly

All gateways are started first (their answer to the query is checked against the first one's,
Apollo Gateway's by default, and the subgraph requests one query causes are counted), then
loaded in turns (``--rounds``), so background load on a shared machine falls on each alike.
Gateway processes are pinned to CPU 0, the subgraphs and the load generator to CPU 1, so each
gateway gets one core. Accord runs with enforcement off (plain federation, like its peers);
Hive Gateway without inbound request de-duplication. A default run takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SUBGRAPHS = BENCH / "subgraphs"
GATEWAYS = BENCH / "gateways"
NODE_MODULES = GATEWAYS / "node_modules"
SUBGRAPH_NAMES = ("accounts", "inventory", "products", "reviews")

QUERY = """fragment User on User {
  id
  username
  name
}

fragment Review on Review {
  id
  body
}

fragment Product on Product {
  inStock
  name
  price
  shippingEstimate
  upc
  weight
}

query TestQuery {
  users {
    ...User
    reviews {
      ...Review
      product {
        ...Product
        reviews {
          ...Review
          author {
            ...User
            reviews {
              ...Review
              product {
                ...Product
              }
            }
          }
        }
      }
    }
  }
  topProducts {
    ...Product
    reviews {
      ...Review
      author {
        ...User
        reviews {
          ...Review
          product {
            ...Product
          }
        }
      }
    }
  }
}"""

# A typical entity fetch, for loading the subgraphs directly.
ENTITY_QUERY = (
    "query($r:[_Any!]!){_entities(representations:$r){...on Product{inStock shippingEstimate}}}"
)


# -- load generator (runs in its own process) --------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = None
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        return status, b"".join(parts)
    return status, await reader.readexactly(length or 0)


async def _load(
    url: str, body: bytes, expected: object, connections: int, duration: float, warmup: float
) -> dict[str, object]:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    request = (
        f"POST /{path} HTTP/1.1\r\nHost: {host_port}\r\ncontent-type: application/json\r\n"
        f"accept: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = {"http": 0, "graphql": 0, "mismatch": 0, "connection": 0}
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker() -> None:
        reader = writer = None
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                sent = time.perf_counter()
                writer.write(request)
                status, payload = await _read_response(reader)  # type: ignore[arg-type]
                done = time.perf_counter()
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                if sent >= measure_from:
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
                continue
            answer = orjson.loads(payload)
            if answer.get("errors"):
                errors["graphql"] += 1
            elif expected is not None and answer.get("data") != expected:
                errors["mismatch"] += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - measure_from
    latencies.sort()
    count = len(latencies)

    def percentile(p: float) -> float | None:
        return round(latencies[min(count - 1, int(p * count))] * 1000, 2) if count else None

    return {
        "requests": count,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(count / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": sum(errors.values()),
        "error_kinds": {k: v for k, v in errors.items() if v},
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
    }


def _loader_main(spec: str) -> int:
    options = json.loads(spec)
    if options.get("cpu") is not None:
        os.sched_setaffinity(0, {options["cpu"]})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        _load(
            options["url"],
            options["body"].encode(),
            options["expected"],
            options["connections"],
            options["duration"],
            options["warmup"],
        )
    )
    # A file, not stdout: the result can be large, and nothing else may interleave with it.
    Path(options["out"]).write_text(json.dumps(result))
    return 0


def run_loader(
    url: str,
    body: dict,
    expected: object,
    connections: int,
    duration: float,
    warmup: float,
    cpu: int | None,
) -> dict[str, object]:
    handle, name = tempfile.mkstemp(prefix="accord-bench-load-", suffix=".json")
    os.close(handle)
    out = Path(name)
    spec = json.dumps(
        {
            "url": url,
            "body": json.dumps(body),
            "expected": expected,
            "connections": connections,
            "duration": duration,
            "warmup": warmup,
            "cpu": cpu,
            "out": str(out),
        }
    )
    try:
        result = subprocess.run(
            [sys.executable, __file__, "--loader", spec],
            capture_output=True,
            text=True,
            timeout=duration + warmup + 60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"load generator failed: {result.stderr.strip()[-2000:]}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict, timeout: float = 30.0) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def start(
    command: list[str], cwd: Path, env: dict[str, str] | None, cpu: int | None, log: Path
) -> subprocess.Popen:
    handle = log.open("wb")

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=pin,
    )


def stop(proc: subprocess.Popen) -> None:
    """Stop a process we started, and its process group (Node gateways fork workers)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:
        with contextlib.suppress(ProcessLookupError):  # workers may outlive their parent
            os.killpg(proc.pid, signal.SIGKILL)


def wait_graphql(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> float:
    """Seconds until ``{ __typename }`` answers at ``url``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before serving")
        try:
            if post(url, {"query": "{ __typename }"}, timeout=2).get("data"):
                return time.monotonic() - began
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not serving after {timeout}s")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its descendants, in MiB."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def accord_available() -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode == 0


def gateway_command(
    name: str, supergraph: Path, port: int, data_dir: Path
) -> tuple[list[str], Path, dict]:
    if name == "accord":
        command = [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--supergraph",
            str(supergraph),
            "--port",
            str(port),
        ]
        # Plain federation, like the peers: no callers' tokens, no consent ledger.
        return command, ROOT, {"ACCORD_ENFORCEMENT": "false", "ACCORD_DATA_DIR": str(data_dir)}
    if name == "apollo":
        command = ["node", str(GATEWAYS / "apollo-gateway.cjs"), "--supergraph", str(supergraph)]
        return [*command, "--port", str(port)], GATEWAYS, {"NODE_ENV": "production"}
    if name == "hive":
        command = [
            str(NODE_MODULES / ".bin" / "hive-gateway"),
            "supergraph",
            str(supergraph),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--fork",
            "1",
            "--jit",
        ]
        return command, GATEWAYS, {"NODE_ENV": "production"}
    raise ValueError(name)


def endpoint(name: str, port: int) -> str:
    return f"http://127.0.0.1:{port}/" if name == "apollo" else f"http://127.0.0.1:{port}/graphql"


def subgraph_capacity(
    base: str, connections: int, duration: float, warmup: float, cpu: int | None
) -> dict[str, object]:
    """Requests/s the subgraph server sustains for a typical entity fetch."""
    representations = [
        {"__typename": "Product", "upc": str(i), "price": 899, "weight": 100} for i in range(1, 6)
    ]
    body = {"query": ENTITY_QUERY, "variables": {"r": representations}}
    figures = combine(
        [run_loader(f"{base}/inventory", body, None, connections, duration, warmup, cpu)]
    )
    return {k: v for k, v in figures.items() if k != "rounds_requests_per_second"}


def compose_supergraph(base: str, out: Path) -> None:
    from app.federation.compose import SubgraphSource, compose

    sources = [
        SubgraphSource(name, f"{base}/{name}", (SUBGRAPHS / f"{name}.graphql").read_text())
        for name in SUBGRAPH_NAMES
    ]
    out.write_text(compose(sources) + "\n")


def subgraph_requests(stats_url: str, url: str) -> tuple[dict, dict[str, int]]:
    """One query through the gateway; the answer and the subgraph requests it caused."""
    post(stats_url + "/reset", {})
    answer = post(url, {"query": QUERY, "operationName": "TestQuery"})
    time.sleep(0.2)
    return answer, get(stats_url)


# -- the run -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration", type=float, default=24.0, help="seconds measured per gateway (all rounds)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of warm-up load before each turn"
    )
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns each gateway gets (duration is split)"
    )
    parser.add_argument("--gateways", default="apollo,hive,accord")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--subgraphs-only", action="store_true", help="load the subgraphs only")
    parser.add_argument("--loader", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loader:
        return _loader_main(args.loader)
    if shutil.which("node") is None or not (NODE_MODULES / "@apollo").is_dir():
        # `make bench` runs every script: say plainly what is missing instead of failing.
        reason = "needs node and `npm --prefix bench/gateways install`"
        print(json.dumps({"skipped": reason}))
        return 0
    pin = None if args.no_pin or (os.cpu_count() or 1) < 2 else True
    gateway_cpu, side_cpu = (0, 1) if pin else (None, None)

    workdir = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    started: list[subprocess.Popen] = []
    report: dict[str, object] = {
        "workload": "graphql-gateways-benchmark (accounts, inventory, products, reviews)",
        "connections": args.connections,
        "duration_seconds": args.duration,
        "pinned": bool(pin),
        "load_average_before": os.getloadavg()[0],
    }
    try:
        sub_port = free_port()
        base = f"http://127.0.0.1:{sub_port}"
        subgraphs = start(
            ["node", str(SUBGRAPHS / "server.cjs"), "--port", str(sub_port)],
            ROOT,
            {"NODE_PATH": str(NODE_MODULES), "NODE_ENV": "production"},
            side_cpu,
            workdir / "subgraphs.log",
        )
        started.append(subgraphs)
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{base}/health")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or subgraphs.poll() is not None:
                    raise RuntimeError("subgraphs did not start") from None
                time.sleep(0.1)

        # The subgraphs must not be the bottleneck: load them directly first (the loader on
        # the gateway's core, so the subgraphs get theirs as during the gateway runs).
        direct = subgraph_capacity(
            base,
            args.connections,
            args.duration if args.subgraphs_only else 4.0,
            args.warmup if args.subgraphs_only else 1.0,
            gateway_cpu,
        )
        report["subgraphs_direct"] = direct
        if args.subgraphs_only:
            print(json.dumps(report, indent=2))
            return 0

        supergraph = workdir / "supergraph.graphql"
        compose_supergraph(base, supergraph)
        wanted = [g.strip() for g in args.gateways.split(",") if g.strip()]
        results: dict[str, dict[str, object]] = {}
        running: dict[str, tuple[subprocess.Popen, str]] = {}
        reference: object = None
        # Start every gateway, check its answer and count its subgraph requests.
        for name in wanted:
            if name == "accord" and not accord_available():
                results[name] = {"skipped": "accord serve is not available"}
                continue
            port = free_port()
            command, cwd, env = gateway_command(name, supergraph, port, workdir / "data")
            proc = start(command, cwd, env, gateway_cpu, workdir / f"{name}.log")
            started.append(proc)
            url = endpoint(name, port)
            try:
                startup = wait_graphql(url, proc)
                answer, counts = subgraph_requests(f"{base}/stats", url)
                if answer.get("errors") or not answer.get("data"):
                    raise RuntimeError(f"query failed: {json.dumps(answer)[:500]}")
                if reference is None:
                    reference = answer["data"]
                results[name] = {
                    "startup_seconds": round(startup, 2),
                    "answer_matches_reference": answer["data"] == reference,
                    "subgraph_requests_per_query": sum(counts.values()),
                    "subgraph_requests_by_subgraph": counts,
                }
                running[name] = (proc, url)
            except (RuntimeError, TimeoutError, urllib.error.URLError, OSError) as exc:
                log = (workdir / f"{name}.log").read_text(errors="replace")[-1500:]
                results[name] = {"failed": str(exc), "log_tail": log}
                stop(proc)
                started.remove(proc)
        # Load them in turns, so background load on a shared machine falls on each alike.
        rounds: dict[str, list[dict[str, object]]] = {name: [] for name in running}
        for _ in range(args.rounds):
            for name, (_, url) in running.items():
                rounds[name].append(
                    run_loader(
                        url,
                        {"query": QUERY, "operationName": "TestQuery"},
                        reference,
                        args.connections,
                        args.duration / args.rounds,
                        args.warmup,
                        side_cpu,
                    )
                )
        for name, (proc, _) in running.items():
            figures = combine(rounds[name])
            per_query = int(results[name]["subgraph_requests_per_query"])  # type: ignore[call-overload]
            demand = float(figures["requests_per_second"]) * per_query  # type: ignore[arg-type]
            results[name] = {
                **figures,
                "peak_rss_mb": peak_rss_mb(proc.pid),
                **results[name],
                # share of the subgraphs' measured capacity this gateway's load used
                "subgraph_requests_per_second": round(demand, 1),
                "subgraph_utilisation": round(
                    demand / float(direct["requests_per_second"]),
                    3,  # type: ignore[arg-type]
                )
                if direct["requests_per_second"]
                else None,
            }
            stop(proc)
            started.remove(proc)
        report["gateways"] = results
        report["load_average_after"] = os.getloadavg()[0]
        report["ratios"] = ratios(results)
    finally:
        for proc in started:
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


def combine(rounds: list[dict[str, object]]) -> dict[str, object]:
    """One gateway's figures over all its rounds."""
    latencies = sorted(x for r in rounds for x in r["latencies_ms"])  # type: ignore[union-attr]
    seconds = sum(float(r["seconds"]) for r in rounds)  # type: ignore[arg-type]
    count = len(latencies)
    kinds: dict[str, int] = {}
    for r in rounds:
        for kind, n in r["error_kinds"].items():  # type: ignore[union-attr]
            kinds[kind] = kinds.get(kind, 0) + n

    def percentile(p: float) -> float | None:
        return round(latencies[min(count - 1, int(p * count))], 2) if count else None

    return {
        "requests": count,
        "seconds": round(seconds, 2),
        "requests_per_second": round(count / seconds, 1) if seconds else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": sum(kinds.values()),
        "error_kinds": kinds,
        "rounds_requests_per_second": [r["requests_per_second"] for r in rounds],
    }


def ratios(results: dict[str, dict[str, object]]) -> dict[str, dict[str, float]]:
    """Accord's figures divided by each peer's (throughput up is better, latency down)."""
    accord = results.get("accord", {})
    out: dict[str, dict[str, float]] = {}
    if "requests_per_second" not in accord:
        return out
    for peer, figures in results.items():
        if peer == "accord" or "requests_per_second" not in figures:
            continue
        entry = {}
        for key in ("requests_per_second", "p50_ms", "p99_ms", "peak_rss_mb"):
            ours, theirs = accord.get(key), figures.get(key)
            if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs:
                entry[key] = round(ours / theirs, 2)
        out[f"accord_vs_{peer}"] = entry
    return out


if __name__ == "__main__":
    sys.exit(main())
