"""Ledger benchmark: append throughput and latency, proof time, verification rate. Prints JSON.

    python bench/ledger.py                      # SQLite appends at 1/64/512, proofs and
                                                # verification at 1M entries (~2 minutes)
    python bench/ledger.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/ledger.py --proof-size 10000000 --skip-verify    # proofs at 10M entries

Appends go through the public API (``open_ledger`` / ``append``) with every appender awaiting
its own receipt, i.e. each entry is durable before its caller continues. The large store for
proof timing and verification is built by a bulk path that writes the same rows, tiles and
signed checkpoints the writer would, much faster; proofs are then timed through
``Ledger.inclusion_proof`` / ``consistency_proof`` on the reopened store, and verification
through ``verify_store``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, update  # noqa: E402

from ledger import checkpoint as notes  # noqa: E402
from ledger import keys, merkle, store  # noqa: E402
from ledger.entries import Entry, new_entry  # noqa: E402
from ledger.log import TreeState, load_state, open_ledger  # noqa: E402
from ledger.members import MemberKeys  # noqa: E402
from ledger.verify import verify_store  # noqa: E402

ORIGIN = "bench.accord.example/ledger"


def disclosure(number: int) -> Entry:
    """A typical disclosure entry as the gateway writes it (~600 bytes canonical)."""
    return new_entry(
        "disclosure",
        {
            "request_id": f"req-{number:012d}",
            "requester": {"agency": "health", "user": f"{number % 977:064x}"},
            "purpose": "TREAT",
            "subject": f"{number * 2654435761 % 2**64:064x}",
            "provider": "education",
            "fields": ["attendance", "enrolledSince", "school"],
            "categories": ["education.attendance", "education.enrolment"],
            "basis": {"consents": [f"consent-{number % 5000}"], "policies": []},
            "contract": "e" * 64,
            "decided_at": 1_700_000_000_000 + number,
            "query_hash": f"{number:064x}",
            "obligations": [],
        },
        ts=1_700_000_000_000 + number,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def append_run(url: str, appenders: int, total: int) -> dict[str, Any]:
    signer = keys.generate(ORIGIN)
    per = max(1, total // appenders)
    entries = [disclosure(n) for n in range(per * appenders)]
    # The harness holds tens of thousands of entries for the whole run, which a gateway never
    # does (its entries live for one request); keep them out of the collector's scans.
    gc.collect()
    gc.freeze()
    latencies: list[float] = []
    async with open_ledger(url, signer, ORIGIN) as ledger:

        async def appender(offset: int) -> None:
            for n in range(per):
                started = time.perf_counter()
                await ledger.append(entries[offset * per + n])
                latencies.append(time.perf_counter() - started)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(appender(i) for i in range(appenders)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        batches = ledger.batches
    gc.unfreeze()
    count = per * appenders
    return {
        "appenders": appenders,
        "entries": count,
        "seconds": round(elapsed, 3),
        "entries_per_second": round(count / elapsed),
        # CPU spent by this process (all threads) per entry: the machine-independent cost,
        # and a sign of contention when entries_per_second falls short of 1e6 / this.
        "cpu_us_per_entry": round(cpu / count * 1e6, 1),
        "batches": batches,
        "mean_batch": round(count / batches, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 3),
            "p99": round(percentile(latencies, 0.99) * 1000, 3),
        },
    }


def bulk_build(
    url: str,
    signer: keys.Signer,
    size: int,
    every: int = 512,
    chunk: int = 20_480,
    small: bool = False,
) -> float:
    """Write ``size`` entries with tiles and a signed checkpoint every ``every`` entries (what
    group commit with 512 appenders writes), in large transactions, without the writer."""
    engine = store.make_engine(url, writer=True)
    started = time.perf_counter()
    template = disclosure(0)
    with engine.begin() as connection:
        store.create_schema(connection)
        state = load_state(connection)
        if state.size:
            raise SystemExit(f"bulk build needs an empty store, {url} holds {state.size}")
        connection.execute(
            insert(store.checkpoints_table),
            {"size": 0, "note": _note(signer, 0, merkle.EMPTY_ROOT)},
        )
    state = TreeState(0, merkle.Frontier(), [], MemberKeys(), "")
    body = template.body
    while state.size < size:
        rows = []
        checkpoints = []
        dirty: dict[tuple[int, int], Any] = {}
        for n in range(state.size, min(size, state.size + chunk)):
            if small:  # ~130 bytes: proof cost does not depend on entry size, disk use does
                review = {"entry": n, "reviewer": "r", "outcome": "justified", "note": ""}
                entry = Entry(1, "break_glass.reviewed", template.ts + n, "operator", review)
            else:
                body_n = {**body, "request_id": f"req-{n:012d}"}
                entry = Entry(1, "disclosure", template.ts + n, "operator", body_n)
            data = entry.encode()
            state.append(merkle.leaf_hash(data), dirty)
            rows.append({"idx": n, "type": entry.type, "data": data})
            if state.size % every == 0 or state.size == size:
                note = _note(signer, state.size, state.frontier.root())
                checkpoints.append({"size": state.size, "note": note})
        with engine.begin() as connection:
            connection.execute(insert(store.entries_table), rows)
            store.upsert_tiles(connection, store.tile_rows(dirty))
            connection.execute(insert(store.checkpoints_table), checkpoints)
            connection.execute(update(store.head_table).values(size=state.size))
    engine.dispose()
    return time.perf_counter() - started


def _note(signer: keys.Signer, size: int, root: bytes) -> str:
    return notes.signed_note(notes.Checkpoint(ORIGIN, size, root), signer)


async def proof_run(url: str, signer: keys.Signer, size: int, samples: int) -> dict[str, Any]:
    rng = random.Random(7)
    inclusion: list[float] = []
    consistency: list[float] = []
    async with open_ledger(url, signer, ORIGIN) as ledger:
        cp = notes.open_checkpoint(await ledger.checkpoint(), signer.verifier)
        assert cp.size == size
        for _ in range(samples):
            index = rng.randrange(size)
            started = time.perf_counter()
            proof = await ledger.inclusion_proof(index, size)
            inclusion.append(time.perf_counter() - started)
            data = (await ledger.entry_bytes(index, index + 1))[0]
            merkle.verify_inclusion(index, size, merkle.leaf_hash(data), proof, cp.root)
        for _ in range(samples):
            old = rng.randrange(1, size)
            started = time.perf_counter()
            proof = await ledger.consistency_proof(old, size)
            consistency.append(time.perf_counter() - started)
        old_root = await ledger.root(old)
        merkle.verify_consistency(old, size, old_root, cp.root, proof)

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(statistics.median(values) * 1000, 3),
            "p99_ms": round(percentile(values, 0.99) * 1000, 3),
        }

    return {
        "tree_size": size,
        "samples": samples,
        "inclusion": summary(inclusion),
        "consistency": summary(consistency),
    }


def postgres_database(dsn: str) -> tuple[str, str]:
    import psycopg

    name = f"accord_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, dsn.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appenders", default="1,64,512", help="concurrency levels")
    parser.add_argument("--entries", type=int, default=40_000, help="entries per append run")
    parser.add_argument("--single-entries", type=int, default=2_000, help="entries at 1 appender")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ACCORD_TEST_POSTGRES_DSN"),
        help="PostgreSQL DSN of a server to create a scratch database on",
    )
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--proof-samples", type=int, default=300)
    parser.add_argument(
        "--small-entries",
        action="store_true",
        help="fill the big store with ~130-byte entries (for 10M-entry proof runs)",
    )
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--skip-proofs", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.appenders.split(",")]
    result: dict[str, Any] = {
        "benchmark": "ledger",
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }

    with tempfile.TemporaryDirectory(prefix="accord-bench-") as scratch:
        if not args.skip_append:
            runs = []
            for level in levels:
                url = f"sqlite:///{scratch}/append-{level}.db"
                total = args.single_entries if level == 1 else args.entries
                runs.append(asyncio.run(append_run(url, level, total)))
            result["append_sqlite"] = runs
            if args.postgres:
                runs = []
                for level in levels:
                    name, url = postgres_database(args.postgres)
                    try:
                        total = args.single_entries if level == 1 else args.entries
                        runs.append(asyncio.run(append_run(url, level, total)))
                    finally:
                        drop_postgres_database(args.postgres, name)
                result["append_postgres"] = runs
            else:
                result["append_postgres"] = "skipped: pass --postgres DSN"

        if not (args.skip_proofs and args.skip_verify):
            signer = keys.generate(ORIGIN)
            url = f"sqlite:///{scratch}/big.db"
            seconds = bulk_build(url, signer, args.proof_size, small=args.small_entries)
            result["bulk_build_seconds"] = round(seconds, 1)
            if not args.skip_proofs:
                result["proofs_sqlite"] = asyncio.run(
                    proof_run(url, signer, args.proof_size, args.proof_samples)
                )
            if not args.skip_verify:
                report = verify_store(url, signer.verifier, origin=ORIGIN)
                result["verify_sqlite"] = {
                    "entries": report.entries,
                    "checkpoints": report.checkpoints,
                    "seconds": round(report.seconds, 1),
                    "entries_per_second": round(report.rate),
                }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
