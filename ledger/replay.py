"""Replay: decide a recorded disclosure or refusal again and say whether the outcome matches.

A decision is a pure function of the active contract, the requester's attributes, the category,
the purpose and the consent facts, and every one of those is on the ledger. Replaying an entry
rebuilds the state as of the ledger index the decision was made at (the entry's
``ledger_index`` when it records one, else the entry's own index: everything committed before
it), re-decides each category at the recorded decision time, and compares the outcome, the
legal basis and the contract hash with what the entry claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, inspect

from ledger import store
from ledger.decisions import DRY_RUN_OBLIGATION, Decision, DecisionEngine, DecisionRequest
from ledger.entries import Entry, decode_entry
from ledger.registry import (
    LedgerState,
    fold_entries,
    indexed_size,
    load_state,
    ms_to_datetime,
    registry_head_table,
)

REPLAYABLE = ("disclosure", "access.denied", "break_glass")


class ReplayError(ValueError):
    """The entry cannot be replayed (out of range, or not a decision)."""


@dataclass
class ReplayReport:
    index: int
    type: str
    evaluated_at: int  # the ledger index whose state was used
    match: bool
    differences: list[str] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "evaluated_at": self.evaluated_at,
            "match": self.match,
            "differences": self.differences,
            "recorded": self.recorded,
            "replayed": self.replayed,
        }


def read_entry(connection: Connection, index: int) -> Entry:
    size = store.head_size(connection)
    if not 0 <= index < size:
        raise ReplayError(f"entry {index} does not exist (the ledger has {size} entries)")
    for _, data in store.iter_entry_rows(connection, index, index + 1):
        return decode_entry(data)
    raise ReplayError(f"entry {index} is missing from the store")  # pragma: no cover


def replay(
    connection: Connection, index: int, approvals_required: int = 2, from_log: bool = False
) -> ReplayReport:
    """Replay the decision recorded at ``index``; ``from_log`` ignores the index tables and
    folds (and re-verifies) the log itself, as an auditor who trusts nothing else would."""
    entry = read_entry(connection, index)
    if entry.type not in REPLAYABLE:
        raise ReplayError(
            f"entry {index} is a {entry.type} entry; only {', '.join(REPLAYABLE)} can be replayed"
        )
    body = entry.body
    as_of = body.get("ledger_index", index)
    if not isinstance(as_of, int) or not 0 <= as_of <= index:
        raise ReplayError(f"entry {index} names an impossible ledger_index {as_of!r}")
    if not from_log:
        # Index tables that lag the log (or were never written) are not trusted for replay.
        has_index = inspect(connection).has_table(registry_head_table.name)
        from_log = not has_index or indexed_size(connection) != store.head_size(connection)
    if from_log:
        state = fold_entries(connection, as_of, approvals_required)
    else:
        state = load_state(connection, as_of, approvals_required)
    inputs = body
    if entry.type == "disclosure" and "justification" not in body:
        justification = _break_glass_justification(connection, index, body)
        if justification:
            inputs = {**body, "justification": justification}
    decisions = decide_recorded(state, inputs)
    report = ReplayReport(index, entry.type, as_of, True, recorded=body)
    report.replayed = [
        {"category": category, **decision.to_json()}
        for category, decision in zip(body["categories"], decisions, strict=True)
    ]
    report.differences = compare(entry.type, body, decisions)
    report.match = not report.differences
    return report


# The gateway writes a request's break_glass entry right after the disclosure it belongs to.
_BREAK_GLASS_WINDOW = 4


def _break_glass_justification(connection: Connection, index: int, body: dict[str, Any]) -> str:
    """The justification of the break_glass entry recorded with this disclosure, if any: a
    disclosure body does not carry it, and an emergency permit depends on it."""
    end = min(index + 1 + _BREAK_GLASS_WINDOW, store.head_size(connection))
    for _, data in store.iter_entry_rows(connection, index + 1, end):
        other = decode_entry(data)
        if other.type != "break_glass":
            continue
        found = other.body
        same = all(found[k] == body[k] for k in ("request_id", "subject", "provider", "purpose"))
        if same and found["requester"] == body["requester"]:
            return found["justification"]
    return ""


def decide_recorded(state: LedgerState, body: dict[str, Any]) -> list[Decision]:
    """Decide every category of a recorded entry again, against ``state``."""
    agency = body["requester"]["agency"]
    justification = body.get("justification") or ("yes" if body.get("justified") else None)
    requests = [
        DecisionRequest(
            requester_agency=agency,
            requester_kind=state.agency_kind(agency),
            user=body["requester"]["user"],
            roles=tuple(body.get("roles", ())),
            purpose=body["purpose"],
            subject=body["subject"],
            provider=body["provider"],
            category=category,
            justification=justification,
            court_order=body.get("court_order") or None,
        )
        for category in body["categories"]
    ]
    return DecisionEngine(state).decide(requests, at=ms_to_datetime(body["decided_at"]))


def compare(type: str, body: dict[str, Any], decisions: list[Decision]) -> list[str]:
    """What the recorded entry claims that the replayed decisions do not support."""
    differences: list[str] = []
    categories = body["categories"]
    contracts = {d.contract for d in decisions}
    if contracts != {body["contract"]}:
        active = ", ".join(sorted(str(c) for c in contracts))
        differences.append(f"recorded contract {body['contract']} but {active} was active")
    # Dry-run mode releases refused fields and marks the disclosure; a refusal is then expected.
    dry_run = type == "disclosure" and DRY_RUN_OBLIGATION in body.get("obligations", ())
    if type in ("disclosure", "break_glass") and not dry_run:
        for category, decision in zip(categories, decisions, strict=True):
            if not decision.permit:
                differences.append(f"{category}: disclosed, but replay denies ({decision.rule})")
        if type == "break_glass" and not any(d.break_glass for d in decisions):
            differences.append("recorded as break-glass, but replay needs no break-glass rule")
    if type == "disclosure":
        permits = [d for d in decisions if d.permit]
        consents = sorted({c for d in permits for c in d.basis["consents"]})
        policies = sorted({p for d in permits for p in d.basis["policies"]})
        if sorted(body["basis"]["consents"]) != consents:
            differences.append(
                f"basis consents {sorted(body['basis']['consents'])} but replay finds {consents}"
            )
        if sorted(body["basis"]["policies"]) != policies:
            differences.append(
                f"basis policies {sorted(body['basis']['policies'])} but replay finds {policies}"
            )
    if type == "access.denied":
        for category, decision in zip(categories, decisions, strict=True):
            if decision.permit:
                differences.append(f"{category}: refused, but replay permits ({decision.rule})")
        rules = {d.rule for d in decisions if not d.permit}
        codes = {d.code for d in decisions if not d.permit}
        if rules and body["rule"] not in rules:
            differences.append(
                f"recorded rule {body['rule']} but replay refuses by {sorted(rules)}"
            )
        if codes and body["code"] not in codes:
            differences.append(f"recorded code {body['code']} but replay gives {sorted(codes)}")
        if rules and body["silent"] != any(d.silent for d in decisions):
            differences.append("recorded silent flag differs from the contract's")
    return differences
