"""Disclosure history benchmark: what the index costs on the append path, and what a page of
history costs at a given log size. Prints JSON.

    python bench/history.py                       # 100,000 disclosures on SQLite (~1 minute)
    python bench/history.py --entries 1000000
    python bench/history.py --postgres postgresql://postgres@127.0.0.1:5432/test

Appends go through ``open_ledger`` in batches of 1000 (``append_all``), once without and once
with the history hook, to the same number of entries, and again as the gateway appends (64
concurrent callers, three entries per request, group commit); page times are the query
behind one API page (``history.page``, 50 rows, the entries read back from the log) for each
kind of filter, at the newest end and deep in the log through a cursor, and the rebuild from
the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ledger import history, keys, store  # noqa: E402
from ledger.entries import new_entry  # noqa: E402
from ledger.history import HistoryFilter  # noqa: E402
from ledger.log import open_ledger  # noqa: E402

ORIGIN = "bench.accord.example/ledger"
AGENCIES = ("health", "education", "human_services", "courts")
CATEGORIES = ("identity.basic", "health.diagnosis", "education.grades", "court.case")
PURPOSES = ("TREAT", "COC", "CAREMGT", "HLEGAL")
BATCH = 1000
ROUNDS = 3


def disclosure(rng: random.Random, i: int, subjects: int) -> Any:
    requester, provider = rng.sample(AGENCIES, 2)
    body = {
        "request_id": f"r{i}",
        "requester": {"agency": requester, "user": "u" * 16},
        "purpose": rng.choice(PURPOSES),
        "subject": f"{rng.randrange(subjects):064x}",
        "provider": provider,
        "fields": ["Person.name"],
        "categories": [rng.choice(CATEGORIES)],
        "basis": {"consents": [f"c-{rng.randrange(subjects)}"], "policies": ["consent.permit"]},
        "contract": "c" * 64,
        "decided_at": 1_780_000_000_000 + i,
        "query_hash": "q" * 16,
        "obligations": [],
    }
    return new_entry("disclosure", body, ts=1_780_000_000_000 + i * 10)


HOOK_TIME = {"seconds": 0.0, "entries": 0}


def timed_hook() -> Any:
    """The history hook, timing itself: its cost per entry inside the writer's transaction."""
    index = history.HistoryIndex()

    def hook(connection: Any, committed: Any) -> None:
        started = time.perf_counter()
        index.on_commit(connection, committed)
        HOOK_TIME["seconds"] += time.perf_counter() - started
        HOOK_TIME["entries"] += len(committed)

    return hook


def hook_cost() -> float:
    """Microseconds per entry spent in the hook since the last call."""
    cost = HOOK_TIME["seconds"] / max(HOOK_TIME["entries"], 1) * 1e6
    HOOK_TIME.update(seconds=0.0, entries=0)
    return round(cost, 1)


async def fill(url: str, count: int, hooked: bool, seed: int, subjects: int) -> float:
    rng = random.Random(seed)
    hooks = [timed_hook()] if hooked else []
    started = time.perf_counter()
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, hooks) as ledger:
        for start in range(0, count, BATCH):
            batch = [disclosure(rng, i, subjects) for i in range(start, min(count, start + BATCH))]
            await ledger.append_all(batch)
    return count / (time.perf_counter() - started)


async def gateway_like(url: str, requests: int, hooked: bool, subjects: int) -> float:
    """Requests of three entries each from 64 concurrent callers, as the gateway appends:
    group commit batches whatever is queued, often a handful of requests."""
    rng = random.Random(3)
    hooks = [timed_hook()] if hooked else []
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, hooks) as ledger:
        queue = list(range(requests))

        async def caller() -> None:
            while queue:
                i = queue.pop()
                await ledger.append_all([disclosure(rng, i * 3 + k, subjects) for k in range(3)])

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(64)))
        return requests / (time.perf_counter() - started)


def timed(function: Any, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def fresh_database(dsn: str | None, directory: Path, name: str) -> str:
    if dsn is None:
        return f"sqlite:///{directory / (name + '.db')}"
    database = f"bench_history_{name}_{uuid.uuid4().hex[:8]}"
    admin = store.make_engine(dsn)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return make_url(store.normalize_url(dsn)).set(database=database).render_as_string(False)


def drop_database(dsn: str | None, url: str) -> None:
    if dsn is None:
        return
    admin = store.make_engine(dsn)
    name = make_url(url).database
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5000, help="for the gateway-like run")
    parser.add_argument("--postgres", metavar="DSN", default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "entries": args.entries,
        "subjects": args.subjects,
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        plain = fresh_database(args.postgres, directory, "plain")
        indexed = fresh_database(args.postgres, directory, "indexed")
        try:
            without = asyncio.run(fill(plain, args.entries, False, 1, args.subjects))
            with_hook = asyncio.run(fill(indexed, args.entries, True, 1, args.subjects))
            result["append_entries_per_s"] = {
                "batch": BATCH,
                "without_history": round(without),
                "with_history": round(with_hook),
                "ratio": round(with_hook / without, 3),
                "hook_us_per_entry": hook_cost(),
            }
            # Interleaved rounds, best of each: a shared machine's load shifts between runs.
            rates: dict[bool, list[float]] = {False: [], True: []}
            for round_ in range(ROUNDS):
                for hooked in (False, True):
                    url = fresh_database(args.postgres, directory, f"gw_{round_}_{int(hooked)}")
                    try:
                        rates[hooked].append(
                            asyncio.run(gateway_like(url, args.requests, hooked, args.subjects))
                        )
                    finally:
                        drop_database(args.postgres, url)
            plain_rps, indexed_rps = max(rates[False]), max(rates[True])
            result["gateway_like_requests_per_s"] = {
                "entries_per_request": 3,
                "concurrent_callers": 64,
                "rounds": ROUNDS,
                "without_history": round(plain_rps),
                "with_history": round(indexed_rps),
                "ratio": round(indexed_rps / plain_rps, 3),
                "hook_us_per_entry": hook_cost(),
            }
            engine = store.make_engine(indexed)
            rng = random.Random(2)
            subject = f"{rng.randrange(args.subjects):064x}"
            filters = {
                "all": HistoryFilter(types=("disclosure",)),
                "subject": HistoryFilter(types=("disclosure",), subject=subject),
                "requester": HistoryFilter(types=("disclosure",), requester="health"),
                "agency_admin": HistoryFilter(types=("disclosure",), agency="courts"),
                "category": HistoryFilter(types=("disclosure",), category="health.diagnosis"),
                "basis": HistoryFilter(types=("disclosure",), basis="consent.permit"),
                "category_and_purpose": HistoryFilter(
                    types=("disclosure",), category="court.case", purpose="HLEGAL"
                ),
            }
            pages: dict[str, Any] = {}
            with engine.connect() as connection:
                for name, spec in filters.items():

                    def newest(spec: HistoryFilter = spec) -> None:
                        with connection.begin():
                            history.page(connection, spec, None, 50)

                    def deep(spec: HistoryFilter = spec) -> None:
                        with connection.begin():
                            history.page(connection, spec, args.entries // 10, 50)

                    pages[name] = {
                        "newest": timed(newest, args.repeat),
                        "deep_cursor": timed(deep, args.repeat),
                    }
                result["page_of_50"] = pages
                started = time.perf_counter()
                with connection.begin():
                    history.rebuild(connection)
                result["rebuild_s"] = round(time.perf_counter() - started, 2)
            engine.dispose()
        finally:
            drop_database(args.postgres, plain)
            drop_database(args.postgres, indexed)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
