"""The decision engine: may this category of this person be disclosed to this requester?

A decision is a pure function of (active contract, principal attributes, category, purpose,
consent facts). The engine derives the consent facts from the registry state, memoises the
contract's verdict on that key, and evaluates every miss of a request in one batched Cedar call.
Both caches are dropped whenever the state's version moves (any consent or contract entry), so
a revocation committed before a decision always changes it; facts are also recomputed when a
consent period starts or ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ledger.contracts.model import Contract, Facts, Shape, Verdict
from ledger.registry import FOSTER_CARE_POLICY, ConsentRecord
from ledger.vocabulary import CATEGORIES, PURPOSES, VocabularyError

# Carried by a disclosure that dry-run mode released without a permitting decision, so that
# auditors (and replay) can tell rollout traffic from disclosures with a legal basis.
DRY_RUN_OBLIGATION = "accord-dry-run: released without a permitting decision (dry-run mode)"

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_FAR_PAST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One (subject, providing agency, category) the gateway needs decided for a principal."""

    requester_agency: str
    requester_kind: str
    user: str  # a hash of the user id
    roles: tuple[str, ...] | frozenset[str]
    purpose: str
    subject: str  # pseudonym
    provider: str  # the agency that holds the data
    category: str
    justification: str | None = None
    court_order: str | None = None


@dataclass(slots=True)
class Decision:
    permit: bool
    code: str | None  # None | "CONSENT_REQUIRED" | "POLICY_DENIED"
    rule: str
    reason: str
    basis: dict[str, tuple[str, ...]]  # {"consents": (...), "policies": (...)}
    obligations: tuple[str, ...]
    silent: bool
    break_glass: bool
    contract: str | None  # the hash of the contract that decided
    ledger_index: int  # the number of ledger entries the state had folded

    def to_json(self) -> dict[str, Any]:
        return {
            "permit": self.permit,
            "code": self.code,
            "rule": self.rule,
            "reason": self.reason,
            "basis": {key: list(value) for key, value in self.basis.items()},
            "obligations": list(self.obligations),
            "silent": self.silent,
            "break_glass": self.break_glass,
            "contract": self.contract,
            "ledger_index": self.ledger_index,
        }


class State(Protocol):
    """What the engine reads: :class:`ledger.registry.LedgerState` or a snapshot of it."""

    index: int
    version: int

    @property
    def contract(self) -> Contract | None: ...

    def subject_consents(self, subject: str) -> list[ConsentRecord]: ...

    def agency_kind(self, agency: str) -> str: ...


NO_CONTRACT = Verdict(
    False,
    "POLICY_DENIED",
    "contract.none",
    "no statute contract is active; nothing is disclosed",
    (),
    (),
    False,
    False,
    False,
)


@dataclass(slots=True)
class _Cached:
    facts: Facts
    consent_ids: tuple[str, ...]
    valid_from: datetime  # the facts hold for valid_from <= at < valid_until
    valid_until: datetime


@dataclass
class DecisionEngine:
    """Decides whole requests at once against a live (or replayed) state."""

    state: State
    memo_enabled: bool = True
    # Bounds on the caches: past them a cache starts afresh (the memo holds one entry per
    # distinct shape, the facts cache one per subject and question).
    max_memo: int = 100_000
    max_facts: int = 200_000
    # Counters for benchmarks and metrics.
    cedar_calls: int = 0
    memo_hits: int = 0
    _memo: dict[tuple[str, Shape], Verdict] = field(default_factory=dict, repr=False)
    _facts: dict[tuple, _Cached] = field(default_factory=dict, repr=False)
    # The whole question (subject, category, purpose, requester, roles, provider, emergency,
    # court order) -> its facts and verdict: a repeated question costs one dictionary lookup
    # and a validity check instead of building and hashing a Shape.
    _answers: dict[tuple, tuple[_Cached, Verdict]] = field(default_factory=dict, repr=False)
    _version: int = -1

    def invalidate(self) -> None:
        self._memo.clear()
        self._facts.clear()
        self._answers.clear()
        self._version = self.state.version

    def decide(
        self, requests: Sequence[DecisionRequest], at: datetime | None = None
    ) -> list[Decision]:
        """A decision for each request, in order, all made against the same state."""
        return self.decide_within(requests, at)[0]

    def decide_within(
        self, requests: Sequence[DecisionRequest], at: datetime | None = None
    ) -> tuple[list[Decision], datetime, datetime]:
        """:meth:`decide`, and the instants ``[start, end)`` around ``at`` in which the same
        requests get the same decisions for as long as the state's version stays the same (no
        consent period of the subjects starts or ends in between): what a caller that keeps
        decisions itself needs to know to keep them honestly."""
        state = self.state
        if (
            state.version != self._version
            or len(self._memo) > self.max_memo
            or len(self._facts) > self.max_facts
        ):
            self.invalidate()
        at = at or datetime.now(UTC)
        contract = state.contract
        index = state.index
        if contract is None:
            return (
                [_decision(NO_CONTRACT, (), None, index) for _ in requests],
                _FAR_PAST,
                _FAR_FUTURE,
            )
        start, end = _FAR_PAST, _FAR_FUTURE
        chash = contract.hash
        memo = self._memo if self.memo_enabled else {}
        answers = self._answers if self.memo_enabled else {}
        if len(answers) > self.max_memo:
            answers.clear()
        facts_cache = self._facts
        kinds: dict[str, str] = {}
        roles_seen: dict[Any, tuple[str, ...]] = {}
        count = len(requests)
        verdicts: list[Verdict | None] = [None] * count
        consent_ids: list[tuple[str, ...]] = [()] * count
        missing: list[tuple[int, Shape, tuple, _Cached]] = []
        for n, request in enumerate(requests):
            given = request.roles
            if type(given) is not tuple and type(given) is not frozenset:
                given = tuple(given)  # a list from the caller: make it hashable
            roles = roles_seen.get(given)
            if roles is None:
                roles = roles_seen[given] = tuple(sorted(given))
            question = (
                request.subject,
                request.category,
                request.purpose,
                request.requester_agency,
                request.requester_kind,
                roles,
                request.provider,
                bool(request.justification),
                bool(request.court_order),
            )
            answer = answers.get(question)
            if answer is not None and answer[0].valid_from <= at < answer[0].valid_until:
                verdicts[n] = answer[1]
                consent_ids[n] = answer[0].consent_ids
                start = max(start, answer[0].valid_from)
                end = min(end, answer[0].valid_until)
                continue
            if request.category not in CATEGORIES:
                raise VocabularyError(f"unknown data category {request.category!r}")
            if request.purpose not in PURPOSES:
                raise VocabularyError(f"unknown purpose of use {request.purpose!r}")
            key = question[:6]
            cached = facts_cache.get(key)
            if cached is None or not cached.valid_from <= at < cached.valid_until:
                cached = facts_cache[key] = _consent_facts(
                    state.subject_consents(request.subject), request, roles, at
                )
            start = max(start, cached.valid_from)
            end = min(end, cached.valid_until)
            provider_kind = kinds.get(request.provider)
            if provider_kind is None:
                provider_kind = kinds[request.provider] = state.agency_kind(request.provider)
            shape = Shape(
                request.requester_agency,
                request.requester_kind,
                roles,
                request.provider,
                provider_kind,
                request.category,
                request.purpose,
                question[7],
                question[8],
                cached.facts,
            )
            consent_ids[n] = cached.consent_ids
            verdict = memo.get((chash, shape))
            if verdict is not None:
                verdicts[n] = verdict
                answers[question] = (cached, verdict)
            else:
                missing.append((n, shape, question, cached))
        self.memo_hits += count - len(missing)
        if missing and self.memo_enabled:
            # One Cedar evaluation per distinct shape; the memo answers the rest from now on.
            unique = list(dict.fromkeys(shape for _, shape, _, _ in missing))
            results = contract.evaluate(unique)
            self.cedar_calls += len(unique)
            found = dict(zip(unique, results, strict=True))
            for shape, verdict in found.items():
                memo[(chash, shape)] = verdict
            for n, shape, question, cached in missing:
                verdicts[n] = found[shape]
                answers[question] = (cached, found[shape])
        elif missing:
            # No memo (benchmarks, tests): every decision is its own Cedar evaluation.
            results = contract.evaluate([shape for _, shape, _, _ in missing])
            self.cedar_calls += len(missing)
            for (n, _, _, _), verdict in zip(missing, results, strict=True):
                verdicts[n] = verdict
        made = [
            _decision(verdict, ids, chash, index)  # type: ignore[arg-type]
            for verdict, ids in zip(verdicts, consent_ids, strict=True)
        ]
        return made, start, end


def _decision(verdict: Verdict, ids: tuple[str, ...], chash: str | None, index: int) -> Decision:
    return Decision(
        verdict.permit,
        verdict.code,
        verdict.rule,
        verdict.reason,
        {"consents": ids if verdict.uses_consent else (), "policies": verdict.policies},
        verdict.obligations,
        verdict.silent,
        verdict.break_glass,
        chash,
        index,
    )


def _consent_facts(
    records: list[ConsentRecord], request: DecisionRequest, roles: tuple[str, ...], at: datetime
) -> _Cached:
    """Fold the subject's consents into the facts a contract sees, and how long they hold."""
    permits = denies = specific = named = foster = False
    grantors: set[str] = set()
    ids: list[str] = []
    valid_from, valid_until = _FAR_PAST, _FAR_FUTURE
    role_set = frozenset(roles)
    agency, kind = request.requester_agency, request.requester_kind
    for record in records:
        for instant in record.boundaries:
            if instant > at:
                valid_until = min(valid_until, instant)
                break
            valid_from = max(valid_from, instant)
        consent = record.consent
        if (
            consent.grantor.kind == "custodian"
            and consent.grantor.reference == agency
            and consent.policy == FOSTER_CARE_POLICY
            and consent.period.contains(at)
        ):
            foster = True
        resolved = consent.resolve(request.category, request.purpose, agency, kind, role_set, at)
        if resolved is None:
            continue
        decision, is_specific, is_named = resolved
        if decision == "deny":
            denies = True
            continue
        permits = True
        ids.append(consent.id)
        specific = specific or is_specific
        named = named or is_named
        grantor = consent.grantor.kind
        grantors.add("eligible_student" if grantor == "self" and consent.subject_adult else grantor)
    facts = Facts(permits, denies, specific, named, tuple(sorted(grantors)), foster)
    return _Cached(facts, tuple(sorted(ids)), valid_from, valid_until)


def _entry_body(
    request: DecisionRequest,
    decision: Decision,
    categories: Sequence[str],
    request_id: str,
    fields: Sequence[str],
    query_hash: str,
    decided_at: int,
) -> dict[str, Any]:
    """What every decision entry records: who asked, about whom, from whom, for what, and what
    the decision depended on beyond purpose and category (so that replay can decide again)."""
    return {
        "request_id": request_id,
        "requester": {"agency": request.requester_agency, "user": request.user},
        "purpose": request.purpose,
        "subject": request.subject,
        "provider": request.provider,
        "fields": list(fields),
        "categories": list(categories),
        "contract": decision.contract or "",
        "decided_at": decided_at,
        "query_hash": query_hash,
        "roles": sorted(request.roles),
        "court_order": request.court_order or "",
        "ledger_index": decision.ledger_index,
    }


def disclosure_body(
    request: DecisionRequest,
    decisions: Sequence[Decision],
    categories: Sequence[str],
    *,
    request_id: str,
    fields: Sequence[str],
    query_hash: str,
    decided_at: int,
) -> dict[str, Any]:
    """The ``disclosure`` body for one (request, subject, provider), from its permits."""
    body = _entry_body(
        request, decisions[0], categories, request_id, fields, query_hash, decided_at
    )
    body["basis"] = {
        "consents": sorted({c for d in decisions for c in d.basis["consents"]}),
        "policies": sorted({p for d in decisions for p in d.basis["policies"]}),
    }
    body["obligations"] = sorted({o for d in decisions for o in d.obligations})
    return body


def denial_body(
    request: DecisionRequest,
    decision: Decision,
    categories: Sequence[str],
    *,
    request_id: str,
    fields: Sequence[str],
    query_hash: str,
    decided_at: int,
) -> dict[str, Any]:
    """The ``access.denied`` body for one refusal."""
    body = _entry_body(request, decision, categories, request_id, fields, query_hash, decided_at)
    body["code"] = decision.code or "POLICY_DENIED"
    body["rule"] = decision.rule
    body["reason"] = decision.reason
    body["silent"] = decision.silent
    return body


def break_glass_body(
    request: DecisionRequest,
    decisions: Sequence[Decision],
    categories: Sequence[str],
    *,
    request_id: str,
    fields: Sequence[str],
    query_hash: str,
    decided_at: int,
) -> dict[str, Any]:
    """The ``break_glass`` body recorded for review when a permit rests on a break-glass rule."""
    if not request.justification:
        raise ValueError("a break-glass disclosure needs the request's justification")
    if not any(d.break_glass for d in decisions):
        raise ValueError("none of these decisions broke the glass")
    body = _entry_body(
        request, decisions[0], categories, request_id, fields, query_hash, decided_at
    )
    body["justification"] = request.justification
    return body
