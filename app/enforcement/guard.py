"""The guard: before an ``_entities`` fetch of a subject, decide what each person's fields may
be asked for, so that withheld data never leaves the agency that holds it.

Every (subject, providing agency, category) the request's plan will need is decided in one
call of the decision engine the first time a subject shows up (later fetches of the same
request hit the request's memo). Representations are then grouped by the set of fields they
may select; the executor sends one request per group.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from app.enforcement import context
from app.enforcement.context import Disclosed, Refused, RequestContext
from app.enforcement.governed import GovernedFields
from app.enforcement.metrics import Metrics
from app.federation.executor import EntityDecision, EntityRequest, Fetch
from app.federation.response import materialize
from ledger.decisions import Decision, DecisionEngine, DecisionRequest
from ledger.registry import ms_to_datetime

log = logging.getLogger("accord.enforcement")

# Pseudonyms are kept in memory briefly (the secret store keeps secrets for 60 s): long enough
# that a busy person costs no lookup, short enough that an erasure soon stops being used.
PSEUDONYM_TTL = 30.0
PSEUDONYM_MEMO = 100_000
# Outcomes kept per (asker, subject, the plan's pairs); past this many the memo starts afresh.
# With three agencies and three categories an outcome takes about 5 kB (measured with
# tracemalloc), so this bounds the memo near 50 MB: the people a busy gateway saw lately.
OUTCOME_MEMO = 10_000


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Every decision a plan needs about one subject for one asker, and while it holds: the
    registry version it was made against, and the milliseconds ``[start, end)`` outside which
    a consent period of the subject starts or ends."""

    version: int
    start: float
    end: float
    decisions: dict[tuple[str, str, str], Decision]
    requests: dict[tuple[str, str, str], DecisionRequest]


@dataclass(frozen=True, slots=True)
class _FetchShape:
    """A fetch's governed fields and what follows from them, the same for every call."""

    governed: dict[str, str]  # governed top-level field -> category
    pairs: frozenset[tuple[str, str]]  # (providing agency, category) to decide
    keys: frozenset[str]  # the subject's key fields
    ungoverned: frozenset[str]  # fields any call may select (empty if only keys)
    everything: frozenset[str]  # every field the fetch selects
    all_permitted: frozenset[str] | None  # what to select when everything is permitted
    coordinates: dict[str, str]  # governed field -> "Type.field"
    fields: dict[str, str]  # "Type.field" -> category, for the disclosure record
    response_keys: dict[str, list[str]]  # governed field -> response keys it was asked under
    released_keys: tuple[str, ...]  # every governed field's response keys


def subject_id(rep: dict[str, Any], keys: frozenset[str]) -> str:
    """The person's identifier from a representation: the key's value, or for a compound key
    its fields as canonical JSON."""
    if len(keys) == 1:
        (key,) = keys
        return str(rep.get(key))
    return orjson.dumps({k: rep.get(k) for k in keys}, option=orjson.OPT_SORT_KEYS).decode()


class Guard:
    """The executor's entity hook; see the module docstring."""

    def __init__(
        self,
        governed: GovernedFields,
        engine: DecisionEngine,
        pseudonym: Callable[[str], str],
        *,
        dry_run: bool = False,
        metrics: Metrics | None = None,
        before_decide: Callable[[], None] | None = None,
        state_lock: threading.Lock | None = None,
    ) -> None:
        self.governed = governed
        self.engine = engine
        self.pseudonym = pseudonym
        self.dry_run = dry_run
        self.metrics = metrics or Metrics()
        self.before_decide = before_decide
        self.state_lock = state_lock or threading.Lock()
        self._memo: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lookup_lock = threading.Lock()
        self._outcomes: dict[tuple, _Outcome] = {}
        self.memo_hits = 0  # decisions answered from the outcomes kept, without the engine

    def shape(self, fetch: Fetch) -> _FetchShape:
        """What the guard needs to know about ``fetch`` on every call, computed once (plans
        are cached, so their fetches are the same objects request after request)."""
        found = fetch.memo.get("guard")
        if found is None:
            category = self.governed.category
            governed: dict[str, str] = {}
            for node in fetch.sel.fields.values():
                cat = category(fetch.rep_type, node.name)
                if cat is not None:
                    governed[node.name] = cat
            keys = self.governed.key_fields.get(fetch.rep_type, frozenset())
            names = [node.name for node in fetch.sel.fields.values()]
            ungoverned = frozenset(n for n in names if n not in governed and n != "__typename")
            if not ungoverned - keys:
                ungoverned = frozenset()  # nothing worth a call without a governed field
            response_keys = {name: _keys_of(fetch, name) for name in governed}
            everything = frozenset(names) - {"__typename"}
            every_permitted = ungoverned | frozenset(governed)
            found = _FetchShape(
                governed=governed,
                pairs=frozenset((fetch.service, c) for c in governed.values()),
                keys=keys,
                ungoverned=ungoverned,
                everything=everything,
                all_permitted=None if every_permitted >= everything else every_permitted,
                coordinates={name: f"{fetch.rep_type}.{name}" for name in governed},
                fields={f"{fetch.rep_type}.{name}": c for name, c in governed.items()},
                response_keys=response_keys,
                released_keys=tuple(k for name in governed for k in response_keys[name]),
            )
            fetch.memo["guard"] = found
        return found

    async def __call__(self, request: EntityRequest) -> EntityDecision | None:
        fetch = request.fetch
        if not self.governed.is_subject(fetch.rep_type):
            return None
        shape = self.shape(fetch)
        governed = shape.governed
        if not governed:
            return None
        count = len(request.representations)
        ungoverned = shape.ungoverned
        ctx = context.current.get()
        if ctx is None:  # no enforced request around this fetch: nothing governed leaves
            log.error("entity fetch of %s outside an enforced request", fetch.rep_type)
            return EntityDecision([ungoverned] * count)
        try:
            subjects = self._known_pseudonyms(ctx, request.representations, shape.keys)
            if subjects is None:  # someone not seen lately: look them up off the event loop
                subjects = await self._pseudonyms(ctx, request.representations, fetch.rep_type)
            self._decide(ctx, fetch, subjects)
        except Exception as exc:  # consent state unreadable: fail closed
            log.error("consent decision failed, withholding governed fields: %s", exc)
            self.metrics.decision_failures += 1
            errors = []
            for owners in request.owners:
                for _, chain in owners:
                    path = materialize(chain)
                    for name in governed:
                        for key in shape.response_keys[name]:
                            errors.append(_unavailable(path + [key]))
            return EntityDecision([ungoverned] * count, errors)
        return self._apply(ctx, request, subjects, shape)

    async def preview(self, request: EntityRequest) -> EntityDecision | None:
        """The executor's entity preview: what :meth:`__call__` will allow for
        representations predicted from a root field's key arguments, before the root fetch
        has found the object. It answers only when every governed field is permitted outright
        for people whose pseudonyms are already in memory, and records nothing: the disclosure
        is noted by :meth:`__call__` once the object is known to be that person. Anything else
        (a refusal, an obligation, a person not seen lately, a decision that fails) is ``None``,
        and the fetch waits for the key as planned."""
        fetch = request.fetch
        count = len(request.representations)
        if not self.governed.is_subject(fetch.rep_type):
            return EntityDecision([None] * count)
        shape = self.shape(fetch)
        if not shape.governed:
            return EntityDecision([None] * count)
        ctx = context.current.get()
        if ctx is None:
            return None
        subjects = self._known_pseudonyms(ctx, request.representations, shape.keys)
        if subjects is None:
            return None
        try:
            self._decide(ctx, fetch, subjects)
        except Exception:  # decided again, and failed closed, when the object is known
            return None
        decisions = ctx.decisions
        for subject in subjects:
            for category in shape.governed.values():
                made = decisions[(subject, fetch.service, category)]
                if not made.permit or made.break_glass or made.obligations:
                    return None
        return EntityDecision([shape.all_permitted] * count)

    def _known_pseudonyms(
        self, ctx: RequestContext, reps: list[dict[str, Any]], keys: frozenset[str]
    ) -> list[str] | None:
        """Pseudonyms from memory only (a lookup may create a secret: not for a guess)."""
        now = time.monotonic()
        found: list[str] = []
        for rep in reps:
            known = self._remembered(ctx, subject_id(rep, keys), now)
            if known is None:
                return None
            found.append(known)
        return found

    def _remembered(self, ctx: RequestContext, sid: str, now: float) -> str | None:
        """The person's pseudonym if this request or the memo already has it."""
        known = ctx.pseudonyms.get(sid)
        if known is None:
            hit = self._memo.get(sid)
            if hit is not None and hit[1] > now:
                known = ctx.pseudonyms[sid] = hit[0]
        return known

    # -- deciding ------------------------------------------------------------------------

    async def _pseudonyms(
        self, ctx: RequestContext, reps: list[dict[str, Any]], rep_type: str
    ) -> list[str]:
        """The pseudonym of each representation's person. Known ones come from memory; the
        others are looked up (a new person's secret is created, a database write) together,
        off the event loop."""
        keys = self.governed.key_fields.get(rep_type, frozenset())
        ids = [subject_id(rep, keys) for rep in reps]
        known = ctx.pseudonyms
        memo = self._memo
        now = time.monotonic()
        missing = [sid for sid in ids if self._remembered(ctx, sid, now) is None]
        if missing:
            found = await asyncio.to_thread(self._lookup, list(dict.fromkeys(missing)))
            expires = time.monotonic() + PSEUDONYM_TTL
            for sid, value in found.items():
                known[sid] = value
                memo[sid] = (value, expires)
                memo.move_to_end(sid)
            while len(memo) > PSEUDONYM_MEMO:
                memo.popitem(last=False)
        return [known[sid] for sid in ids]

    def _lookup(self, ids: list[str]) -> dict[str, str]:
        with self._lookup_lock:  # the secret store's cache is not shared between threads
            return {sid: self.pseudonym(sid) for sid in ids}

    def _decide(self, ctx: RequestContext, fetch: Fetch, subjects: list[str]) -> None:
        """Decide every (provider, category) of the plan for each subject not yet decided in
        this request; a subject's later fetches (and previews) then cost one set lookup.

        A subject's decisions for the same asker and plan are kept across requests while the
        registry's version stands and no consent period of the subject starts or ends: the
        same question against the same state has the same answer, so the engine is asked only
        when one of those changed (the registry is brought up to date first, as always)."""
        pairs = self._plan_pairs(ctx, fetch)
        covered = ctx.covered
        unique = [s for s in dict.fromkeys(subjects) if (s, pairs) not in covered]
        if not unique:
            return
        if ctx.decision_calls == 0 and self.before_decide is not None:
            self.before_decide()
        ctx.decision_calls += 1
        principal = ctx.principal
        asker = (
            principal.agency,
            ctx.requester_kind,
            ctx.user,
            principal.roles,
            principal.purpose or "",
            ctx.justification,
            ctx.court_order,
        )
        decisions = ctx.decisions
        at = ctx.decided_at
        outcomes = self._outcomes
        with self.state_lock:  # the ledger's writer thread folds batches into the same state
            version = self.engine.state.version
            needed: dict[tuple[str, str, str], None] = {}
            fresh: list[str] = []  # subjects with every pair still to decide: kept afterwards
            for subject in unique:
                kept = outcomes.get((asker, subject, pairs))
                if kept is not None and kept.version == version and kept.start <= at < kept.end:
                    for key, decision in kept.decisions.items():
                        if key not in decisions:
                            decisions[key] = decision
                            ctx.requests[key] = kept.requests[key]
                    self.metrics.decisions += len(kept.decisions)
                    self.memo_hits += len(kept.decisions)
                    continue
                whole = True
                for provider, category in pairs:
                    key = (subject, provider, category)
                    if key in decisions:
                        whole = False
                    else:
                        needed[key] = None
                if whole:
                    fresh.append(subject)
            if needed:
                requests = [_question(asker, triple) for triple in needed]
                made, start, end = self.engine.decide_within(requests, at=ms_to_datetime(at))
                self.metrics.decisions += len(made)
                for key, request, decision in zip(needed, requests, made, strict=True):
                    decisions[key] = decision
                    ctx.requests[key] = request
                if len(outcomes) >= OUTCOME_MEMO:
                    outcomes.clear()
                window = _milliseconds(start), _milliseconds(end, upper=True)
                for subject in fresh:
                    keys = [(subject, provider, category) for provider, category in pairs]
                    outcomes[(asker, subject, pairs)] = _Outcome(
                        version,
                        *window,
                        {key: decisions[key] for key in keys},
                        {key: ctx.requests[key] for key in keys},
                    )
        covered.update((s, pairs) for s in unique)

    def _plan_pairs(self, ctx: RequestContext, fetch: Fetch) -> frozenset[tuple[str, str]]:
        """Every (providing agency, category) the request's plan asks about ``fetch``'s
        subjects: decided together when a subject first shows up. The same for every request
        of the plan, so kept on the fetch once it is known to belong to ``ctx``'s plan."""
        found = fetch.memo.get("plan pairs")
        if found is None:
            pairs = set(self.shape(fetch).pairs)
            for other in ctx.fetches:
                if other.kind == "entity" and other.rep_type == fetch.rep_type:
                    pairs |= self.shape(other).pairs
            found = frozenset(pairs)
            if any(other is fetch for other in ctx.fetches):
                fetch.memo["plan pairs"] = found
        return found

    # -- applying ------------------------------------------------------------------------

    def _apply(
        self,
        ctx: RequestContext,
        request: EntityRequest,
        subjects: list[str],
        shape: _FetchShape,
    ) -> EntityDecision:
        fetch = request.fetch
        provider = fetch.service
        decisions = ctx.decisions
        categories = list(shape.governed.values())
        allowed: list[frozenset[str] | None] = []
        errors: list[dict[str, Any]] = []
        owners_of = request.owners
        for position, subject in enumerate(subjects):
            chains = (
                [chain for _, chain in owners_of[position]] if position < len(owners_of) else []
            )
            made = [decisions[(subject, provider, c)] for c in categories]
            if all(d.permit and not d.break_glass and not d.obligations for d in made):
                # The usual case: everything asked for is permitted, with nothing attached.
                record = _record(ctx, ctx.requests[(subject, provider, categories[0])])
                record.fields.update(shape.fields)
                for decision in made:
                    if all(d is not decision for d in record.decisions):
                        record.decisions.append(decision)
                record.sites.append((chains, shape.released_keys))
                allowed.append(shape.all_permitted)
                continue
            allowed.append(self._apply_one(ctx, shape, subject, provider, made, chains, errors))
        return EntityDecision(allowed, errors)

    def _apply_one(
        self,
        ctx: RequestContext,
        shape: _FetchShape,
        subject: str,
        provider: str,
        made: list[Decision],
        chains: list[Any],
        errors: list[dict[str, Any]],
    ) -> frozenset[str] | None:
        """The fields one subject's call may select when something was refused or carries a
        condition (break-glass, an obligation), recording each field's outcome."""
        paths = [materialize(chain) for chain in chains]
        permitted = set(shape.ungoverned)
        for (name, category), decision in zip(shape.governed.items(), made, strict=True):
            decision_request = ctx.requests[(subject, provider, category)]
            coordinate = shape.coordinates[name]
            where = [path + [k] for path in paths for k in shape.response_keys[name]]
            if decision.permit or self.dry_run:
                permitted.add(name)
                record = _record(ctx, decision_request)
                record.sites.append((chains, tuple(shape.response_keys[name])))
                self._disclosed(ctx, record, decision, coordinate, category, where)
            if not decision.permit:
                self._refused(ctx, decision_request, decision, coordinate, category)
                if not self.dry_run and not decision.silent:
                    errors.extend(_withheld(decision, coordinate, category, p) for p in where)
        if permitted >= shape.everything:
            return None
        if permitted - shape.keys:
            return frozenset(permitted)
        return frozenset()  # only the key is left: no call at all

    def _disclosed(
        self,
        ctx: RequestContext,
        record: Disclosed,
        decision: Decision,
        coordinate: str,
        category: str,
        where: list[list[Any]],
    ) -> None:
        record.fields[coordinate] = category
        if decision.permit:
            if all(d is not decision for d in record.decisions):
                record.decisions.append(decision)
            if decision.break_glass:
                record.break_glass[coordinate] = category
            for obligation in decision.obligations:
                ctx.obligations.setdefault(obligation, []).extend(where)
        else:
            record.unpermitted.add(coordinate)

    def _refused(
        self,
        ctx: RequestContext,
        request: DecisionRequest,
        decision: Decision,
        coordinate: str,
        category: str,
    ) -> None:
        key = (request.subject, request.provider, decision.rule, decision.code or "")
        record = ctx.refused.get(key)
        if record is None:
            record = ctx.refused[key] = Refused(request, decision)
        record.fields[coordinate] = category


@functools.lru_cache(maxsize=100_000)
def _question(asker: tuple, triple: tuple[str, str, str]) -> DecisionRequest:
    """The decision request of ``asker`` (requester agency, kind, user, roles, purpose,
    justification, court order) about ``triple`` (subject, provider, category). Immutable,
    so a repeated question is one lookup instead of a new object."""
    agency, kind, user, roles, purpose, justification, order = asker
    return DecisionRequest(
        agency, kind, user, roles, purpose, *triple, justification=justification, court_order=order
    )


def _milliseconds(instant: datetime, upper: bool = False) -> float:
    """``instant`` in Unix milliseconds, rounded inwards (up for a start, down for an end) so
    that a window in milliseconds never reaches past the one it stands for."""
    value = instant.timestamp() * 1000
    return math.floor(value) if upper else math.ceil(value)


def _record(ctx: RequestContext, request: DecisionRequest) -> Disclosed:
    """The request's disclosure record for ``request``'s (subject, providing agency)."""
    key = (request.subject, request.provider)
    record = ctx.disclosed.get(key)
    if record is None:
        record = ctx.disclosed[key] = Disclosed(request)
    return record


def _keys_of(fetch: Fetch, name: str) -> list[str]:
    """The response keys under which the client asked for field ``name``."""
    return [node.restore or node.key for node in fetch.sel.fields.values() if node.name == name]


def _withheld(decision: Decision, coordinate: str, category: str, path: list) -> dict[str, Any]:
    code = decision.code or "POLICY_DENIED"
    return {
        "message": f"{coordinate} withheld: {decision.reason}",
        "path": path,
        "extensions": {
            "code": code,
            "category": category,
            "rule": decision.rule,
            "reason": decision.reason,
        },
    }


def _unavailable(path: list) -> dict[str, Any]:
    return {
        "message": "governed data withheld: the consent ledger is unavailable",
        "path": path,
        "extensions": {"code": "LEDGER_UNAVAILABLE"},
    }
