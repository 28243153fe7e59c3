"""Decision engine speed: a request of 1,000 (subject, category) pairs, cold and warm.

    python bench/decisions.py [--pairs 1000] [--requests 30] [--repeat 3] [--singles 3000]

The state holds four member agencies, the starter contract and signed consents for a third
of the subjects (with provisions, grantees by id and by kind, some denials), folded exactly as
the registry folds the ledger. Figures, printed as JSON:

- ``batch``: whole requests of ``--pairs`` decisions through ``decide``; per-decision cost is
  the request time divided by the pairs (each request run ``--repeat`` times, the quietest
  run counting, since the machine is shared); p50/p99 over the requests.
  ``cold`` uses a fresh engine with the memo disabled (every decision is a Cedar call, in one
  batched call per request); ``warm`` repeats the request on one engine.
- ``single``: one decision per ``decide`` call, each timed on its own (includes the per-call
  overhead a batch amortises); cold again means no memo and a fresh engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import keys
from ledger.consent import new_consent, sign_consent
from ledger.contracts.model import starter_contract
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.registry import LedgerState
from ledger.vocabulary import AGENCY_KINDS

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CATEGORIES = [
    "identity.basic",
    "health.diagnosis",
    "health.substance_use",
    "education.grades",
    "human_services.benefits",
    "court.juvenile",
    "health.psychotherapy_notes",
    "education.attendance",
]
PROVIDERS = {
    "identity": "health",
    "health": "health",
    "education": "education",
    "human_services": "human_services",
    "court": "courts",
}


def build_state(subjects: list[str], rng: random.Random) -> LedgerState:
    state = LedgerState(approvals_required=2)
    signers = {agency: keys.generate(f"{agency}.bench") for agency in AGENCY_KINDS}
    index = 0

    def add(type_: str, body: dict, author: str) -> None:
        nonlocal index
        state.apply(index, type_, body, author, strict=True)
        index += 1

    for agency, kind in AGENCY_KINDS.items():
        public = keys.public_b64(signers[agency])
        add(
            "member.admitted",
            {"member": agency, "name": agency, "kind": kind, "key": public},
            agency,
        )
    contract = starter_contract()
    add("contract.proposed", contract.body(), "health")
    add("contract.approved", {"hash": contract.hash, "member": "health"}, "health")
    add("contract.approved", {"hash": contract.hash, "member": "education"}, "education")
    add("contract.activated", {"hash": contract.hash, "approvals": [5, 6]}, "operator")
    for number, subject in enumerate(subjects):
        if number % 3:
            continue
        variant = rng.randrange(4)
        fields: dict = {"grantees": ["education", "kind:health_provider"]}
        if variant == 1:
            fields = {
                "grantees": ["health"],
                "decision": "deny",
                "provisions": [{"categories": ["health"], "purposes": ["TREAT"]}],
            }
        elif variant == 2:
            fields = {
                "grantees": ["education", "human_services"],
                "decision": "deny",
                "grantor": {"kind": "parent", "reference": "p"},
            }
        elif variant == 3:
            fields = {
                "grantees": ["human_services"],
                "provisions": [{"categories": ["health.substance_use"]}],
            }
        fields.setdefault("grantor", {"kind": "self"})
        artefact = new_consent(
            id=f"c-{number}", subject=subject, start=NOW - timedelta(days=1), **fields
        )
        jws = sign_consent(artefact, signers["health"].private, "health")
        add(
            "consent.granted", {"consent_id": artefact.id, "subject": subject, "jws": jws}, "health"
        )
    return state


def make_request(subjects: list[str], pairs: int, rng: random.Random) -> list[DecisionRequest]:
    requester = rng.choice(
        [
            ("education", "school", ("teacher",), "COC"),
            ("health", "health_provider", ("physician",), "TREAT"),
            ("human_services", "human_services", ("case_worker",), "COC"),
        ]
    )
    agency, kind, roles, purpose = requester
    requests = []
    per_subject = 4
    chosen = rng.sample(subjects, pairs // per_subject)
    for subject in chosen:
        for category in rng.sample(CATEGORIES, per_subject):
            requests.append(
                DecisionRequest(
                    agency,
                    kind,
                    "user-hash",
                    roles,
                    purpose,
                    subject,
                    PROVIDERS[category.split(".")[0]],
                    category,
                )
            )
    return requests


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50_us": round(at(0.50) * 1e6, 2),
        "p99_us": round(at(0.99) * 1e6, 2),
        "mean_us": round(statistics.fmean(ordered) * 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per request; the best counts")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    subjects = [hashlib.sha256(f"s{n}".encode()).hexdigest() for n in range(args.subjects)]
    state = build_state(subjects, rng)
    requests = [make_request(subjects, args.pairs, rng) for _ in range(args.requests)]

    cold_batch, cold_cpu, warm_batch, cedar_calls = [], [], [], 0
    for batch in requests:
        best = best_cpu = float("inf")
        for _ in range(args.repeat):  # the machine is shared: keep each request's quietest run
            engine = DecisionEngine(state, memo_enabled=False)
            started, started_cpu = time.perf_counter(), time.thread_time()
            engine.decide(batch, at=NOW)
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.thread_time() - started_cpu)
            cedar_calls += engine.cedar_calls
        cold_batch.append(best / len(batch))
        cold_cpu.append(best_cpu / len(batch))
    warm = DecisionEngine(state)
    for batch in requests:
        warm.decide(batch, at=NOW)  # fill the memo and the facts cache
    for batch in requests:
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            warm.decide(batch, at=NOW)
            best = min(best, time.perf_counter() - started)
        warm_batch.append(best / len(batch))

    singles = [r for batch in requests for r in batch][: args.singles]
    cold_single, warm_single = [], []
    for request in singles:
        engine = DecisionEngine(state, memo_enabled=False)
        started = time.perf_counter()
        engine.decide([request], at=NOW)
        cold_single.append(time.perf_counter() - started)
    for request in singles:
        warm.decide([request], at=NOW)
    for request in singles:
        started = time.perf_counter()
        warm.decide([request], at=NOW)
        warm_single.append(time.perf_counter() - started)

    total_cold = sum(cold_batch) * args.pairs
    total_warm = sum(warm_batch) * args.pairs
    decisions = args.requests * args.pairs
    print(
        json.dumps(
            {
                "benchmark": "decisions",
                "python": platform.python_version(),
                "pairs_per_request": args.pairs,
                "requests": args.requests,
                "repeat": args.repeat,
                "consents": len(state.consents),
                "batch": {
                    "cold": {
                        **percentiles(cold_batch),
                        "decisions_per_s": round(decisions / total_cold),
                        "cedar_calls": cedar_calls,
                        # CPU time of this thread: what the decisions cost without the
                        # other processes competing for the two cores.
                        "cpu": percentiles(cold_cpu),
                    },
                    "warm": {
                        **percentiles(warm_batch),
                        "decisions_per_s": round(decisions / total_warm),
                        "memo_entries": len(warm._memo),
                    },
                },
                "single": {
                    "cold": percentiles(cold_single),
                    "warm": percentiles(warm_single),
                    "decisions": len(singles),
                },
                "targets_us": {"cold_p99": 100, "warm_p99": 5},
                "load_average": os.getloadavg()[0],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
