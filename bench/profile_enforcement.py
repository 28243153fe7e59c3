"""Where the enforcing gateway's CPU goes: the gateway app run in-process (no HTTP server in
front) against the stand-in agencies of ``bench/enforcement.py``, driven by concurrent ASGI
calls, under pyinstrument.

    python bench/profile_enforcement.py [--requests 3000] [--concurrency 32] [--plain]
        [--html profile.html]

Prints JSON: requests, wall and gateway-process CPU time per request (by thread), the CPU per
request of the ledger's own process (it appends the entries; see ledger/process.py), and the
gateway's top functions by own time. ``--without-ledger`` answers appends in the gateway
without sending them to the ledger process (attribution only: nothing is durable).
``--parts`` times the enforcing path's synchronous steps one by one instead of profiling, in
µs per request; what they leave out is awaiting, the event loop and HTTP. The event loop's idle
share, and in enforcing mode how long and how many requests wait for the ledger's receipts,
show how much of the wall time is latency rather than work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.append(str(BENCH))  # after the project: bench/ledger.py must not hide the package

import enforcement as bench  # noqa: E402


async def _call(app, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _drive(app, people, token, requests: int, concurrency: int) -> int:
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    bodies = [
        orjson.dumps({"query": bench.QUERY, "variables": {"id": person}}) for person in people
    ]
    counter = iter(range(requests))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for n in counter:
            status, body = await _call(app, bodies[n % len(bodies)], headers)
            if status != 200 or b'"errors"' in body:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def _time_appends() -> dict[str, float]:
    """Time every append the gateway hands to the ledger process, from the call to the
    receipts; returns the running count and total seconds."""
    from ledger.process import LedgerProcess

    totals = {"appends": 0, "seconds": 0.0}
    original = LedgerProcess.append_all

    async def append_all(self, entries):
        started = time.perf_counter()
        try:
            return await original(self, entries)
        finally:
            totals["appends"] += 1
            totals["seconds"] += time.perf_counter() - started

    LedgerProcess.append_all = append_all  # type: ignore[method-assign]
    return totals


# The enforcing path's synchronous steps, timed by --parts: (module, owner or None, name, label).
PARTS = (
    ("app.enforcement.service", "Enforcement", "context", "request context"),
    ("app.enforcement.service", "Enforcement", "sync_registry", "registry head check"),
    ("app.enforcement.guard", "Guard", "_decide", "decide (head check and engine included)"),
    ("ledger.decisions", "DecisionEngine", "decide_within", "decision engine"),
    ("app.enforcement.guard", "Guard", "_apply", "group by permitted fields, note disclosures"),
    ("app.enforcement.tokens", "TokenSigner", "__call__", "gateway tokens"),
    ("app.enforcement.unasked", "UnaskedFieldFilter", "__call__", "prune unasked fields"),
    ("app.enforcement.service", None, "request_entries", "build the entries"),
    ("ledger.process", "_Channel", "send", "ledger process: send"),
    ("ledger.process", "_Channel", "data_received", "ledger process: read replies"),
)


def _time_parts() -> dict[str, float]:
    """Wrap each of PARTS with a timer; returns the running totals in seconds, by label."""
    import functools
    import importlib

    totals = {label: 0.0 for *_, label in PARTS}
    for module_name, owner_name, name, label in PARTS:
        owner = importlib.import_module(module_name)
        if owner_name is not None:
            owner = getattr(owner, owner_name)
        original = getattr(owner, name)

        def timed(*args, __original=original, __label=label, **kwargs):
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                totals[__label] += time.perf_counter() - started

        setattr(owner, name, functools.wraps(original)(timed))
    return totals


async def _run(args, workdir: Path, config: Path, people, token) -> dict:
    from app.server import create_app
    from app.settings import load_settings

    if args.without_ledger:
        from ledger.log import Receipt
        from ledger.process import LedgerProcess

        async def append_all(self, entries):  # nothing recorded: for attribution only
            return [Receipt(n, b"", "") for n in range(len(list(entries)))]

        LedgerProcess.append_all = append_all  # type: ignore[method-assign]
    waits = None if args.plain or args.without_ledger else _time_appends()
    parts = _time_parts() if args.parts else None  # before start-up binds any of them
    settings = load_settings(config)
    app = create_app(settings)
    lifespan_messages = asyncio.Queue()
    await lifespan_messages.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def receive():
        return await lifespan_messages.get()

    async def send(message):
        if message["type"].startswith("lifespan.startup"):
            started.set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await started.wait()
    try:
        await _drive(app, people, token, min(args.requests, 300), args.concurrency)  # warm up
        profiler = None
        for label in parts or ():
            parts[label] = 0.0  # the warm-up does not count
        if waits is not None:
            waits.update(appends=0, seconds=0.0)
        if not args.no_profile and parts is None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        children = _children_cpu()
        wall, cpu, threads = time.perf_counter(), time.process_time(), _thread_cpu()
        failures = await _drive(app, people, token, args.requests, args.concurrency)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        children = {k: v - children.get(k, 0.0) for k, v in _children_cpu().items()}
        after = _thread_cpu()
        by_thread = {
            name: round((after[name] - threads.get(name, 0.0)) / args.requests * 1e6, 1)
            for name in after
        }
        result = {
            "mode": "plain" if args.plain else "enforced",
            "requests": args.requests,
            "concurrency": args.concurrency,
            "failures": failures,
            "wall_us_per_request": round(wall / args.requests * 1e6, 1),
            "cpu_us_per_request": round(cpu / args.requests * 1e6, 1),
            # The event loop's thread and the worker threads.
            "cpu_us_per_request_by_thread": {k: v for k, v in by_thread.items() if v >= 1},
            # Whether the event loop ran out of work: CPU is then left for lack of a request
            # ready to use it, not because enforcement used it.
            "event_loop_idle_share": round(max(0.0, 1 - cpu / wall), 3),
        }
        if waits is not None and waits["appends"]:
            # How long a request waits for its entries to be durable, and (Little's law) how
            # many of the concurrent requests are waiting for the ledger at any moment.
            result["ledger_wait_ms"] = round(waits["seconds"] / waits["appends"] * 1e3, 2)
            result["requests_waiting_on_ledger"] = round(waits["seconds"] / wall, 1)
        ledger_cpu = sum(v for k, v in children.items() if k != "agencies")
        result["ledger_process_cpu_us_per_request"] = round(ledger_cpu / args.requests * 1e6, 1)
        if parts is not None:
            result["parts_us_per_request"] = {
                label: round(seconds / args.requests * 1e6, 1) for label, seconds in parts.items()
            }
        if profiler is not None:
            profiler.stop()
            session = profiler.last_session
            result["top_own_time"] = _top(session, args.requests)
            if args.html:
                Path(args.html).write_text(profiler.output_html(), encoding="utf-8")
            if args.text:
                Path(args.text).write_text(
                    profiler.output_text(unicode=False, color=False, show_all=False),
                    encoding="utf-8",
                )
        return result
    finally:
        await lifespan_messages.put({"type": "lifespan.shutdown"})
        await lifespan


def _children_cpu() -> dict[str, float]:
    """CPU seconds of this process's children by pid (the stand-in agencies by name)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if b"resource_tracker" in cmdline:
                continue  # multiprocessing's helper beside the ledger process, idle
            name = "agencies" if b"--agencies" in cmdline else pid
            found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread, by name (pool threads of one pool summed)."""
    import os
    import threading

    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "event loop" if thread is threading.main_thread() else thread.name.split("_")[0]
        name = name.rstrip("0123456789").rstrip("-") or thread.name
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


def _top(session, requests: int, count: int = 25) -> list[dict]:
    """Functions by own (self) time, in µs per request."""
    own: dict[str, float] = {}

    def walk(frame) -> None:
        key = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
        own[key] = own.get(key, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    root = session.root_frame()
    if root is not None:
        walk(root)
    ranked = sorted(own.items(), key=lambda item: -item[1])[:count]
    return [{"function": k, "us_per_request": round(v / requests * 1e6, 1)} for k, v in ranked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--plain", action="store_true", help="enforcement off")
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument(
        "--without-ledger",
        action="store_true",
        help="answer appends without recording (attribution only: nothing is durable)",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="time the enforcing path's synchronous steps (no profiler)",
    )
    parser.add_argument("--html", help="write pyinstrument's HTML report here")
    parser.add_argument("--text", help="write pyinstrument's call tree here")
    args = parser.parse_args()

    from app.federation.compose import SubgraphSource, compose
    from examples.agencies.base import agency_schema

    workdir = Path(tempfile.mkdtemp(prefix="accord-profile-enforcement-"))
    ports = {name: bench.free_port() for name in bench.AGENCIES}
    agencies = bench.spawn(
        [sys.executable, bench.__file__, "--agencies", ",".join(str(p) for p in ports.values())],
        None,
        None,
        workdir / "agencies.log",
    )
    try:
        for port in ports.values():
            bench.wait_ready(f"http://127.0.0.1:{port}/healthz", agencies, workdir / "agencies.log")
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
        config = bench.write_config(workdir, supergraph, bench.free_port(), not args.plain)
        if not args.plain:
            bench.prepare_ledger(workdir, people)
        from app.demo_idp import DemoIdentityProvider

        token = DemoIdentityProvider(workdir).case_worker_token("human_services", "COC")
        result = asyncio.run(_run(args, workdir, config, people, token))
    finally:
        bench.stop(agencies)
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
