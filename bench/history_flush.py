"""What the disclosure history index costs the log's writer, by how many batches share a flush.

The gateway's ledger process commits each batch of appends, then indexes the batch's
disclosures into the history tables in a transaction of its own while no append waits (see
``HistoryIndex.defer``). Each such flush dirties index pages all over the tables (the subject
index is keyed by a digest, the tags by consent and category), so its cost per entry falls as
more batches share one flush. This measures that directly: the real ``Ledger`` with its inline
writer, as the ledger process runs it, SQLite on a temporary directory, batches of
``--requests-per-batch`` requests of three disclosures each, and the writer left idle (so the
deferred index runs) after every ``K`` batches. Without the index is the baseline.

    python bench/history_flush.py [--batches 400] [--every 1,8,24]

Prints JSON: CPU µs per request (three entries) without the index and with it flushed after
every K batches, and the index's share of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger import keys  # noqa: E402
from ledger.decisions import Decision, DecisionRequest, disclosure_body  # noqa: E402
from ledger.entries import Entry, operator_entry  # noqa: E402
from ledger.log import open_ledger  # noqa: E402
from ledger.process import install_consent_registry, install_history_index  # noqa: E402

ORIGIN = "bench.accord.example/history-flush"
PROVIDERS = ("human_services", "health", "education")
PEOPLE = 200


def request_entries(number: int) -> list[Entry]:
    """One request's disclosures, as the gateway builds them: a person, three agencies."""
    subject = f"{number % PEOPLE * 2654435761 % 2**64:064x}"
    entries = []
    for provider in PROVIDERS:
        asked = DecisionRequest(
            requester_agency="human_services",
            requester_kind="agency",
            user="a" * 64,
            roles=("caseworker",),
            purpose="TREAT",
            subject=subject,
            provider=provider,
            category=f"{provider}.record",
        )
        permit = Decision(
            permit=True,
            code=None,
            rule="consent",
            reason="consented",
            basis={"consents": (f"consent-{number % PEOPLE}",), "policies": ()},
            obligations=(),
            silent=False,
            break_glass=False,
            contract="c" * 64,
            ledger_index=7,
        )
        body = disclosure_body(
            asked,
            [permit],
            ["identity.basic", f"{provider}.record"],
            request_id=f"req-{number:012d}",
            fields=["Person.familyName", f"Person.{provider}"],
            query_hash="q" * 64,
            decided_at=int(time.time() * 1000),
        )
        entries.append(operator_entry("disclosure", body))
    return entries


async def cpu_per_request(index: bool, every: int, batches: int, per_batch: int) -> float:
    with tempfile.TemporaryDirectory(prefix="accord-history-flush-") as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        signer = keys.load_or_create(Path(tmp) / "keys", "log", ORIGIN)
        async with open_ledger(url, signer, ORIGIN, inline_writer=True) as ledger:
            if index:
                install_history_index(ledger)
            install_consent_registry(ledger, 1)
            requests = [request_entries(n) for n in range(batches * per_batch)]
            started = time.process_time()
            for batch in range(batches):
                chunk = requests[batch * per_batch : (batch + 1) * per_batch]
                await asyncio.gather(*(ledger.submit(entries) for entries in chunk))
                if (batch + 1) % every == 0:
                    await asyncio.sleep(0.0005)  # the writer is idle: the deferred index runs
            await ledger.settle()
            return (time.process_time() - started) / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--requests-per-batch", type=int, default=14)
    parser.add_argument("--every", default="1,8,24", help="batches per flush, comma-separated")
    args = parser.parse_args()
    try:
        every = [int(k) for k in args.every.split(",")]
    except ValueError:
        parser.error(f"--every takes whole numbers separated by commas, not {args.every!r}")
    if min(every) < 1 or args.batches < 1 or args.requests_per_batch < 1:
        parser.error("--every, --batches and --requests-per-batch must be at least 1")

    def run(index: bool, k: int) -> float:
        return asyncio.run(cpu_per_request(index, k, args.batches, args.requests_per_batch))

    without = run(False, 1)
    result: dict = {
        "requests": args.batches * args.requests_per_batch,
        "entries_per_request": len(PROVIDERS),
        "without_index_cpu_us_per_request": round(without, 1),
        "with_index": {},
    }
    for k in every:
        with_index = run(True, k)
        result["with_index"][f"flush_every_{k}_batches"] = {
            "cpu_us_per_request": round(with_index, 1),
            "index_cpu_us_per_request": round(with_index - without, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
