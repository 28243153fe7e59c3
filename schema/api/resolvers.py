"""The ``accord`` root fields: history, accounting, consents, contracts, ledger, replay.

Each resolver first narrows what it reads to what the caller may see (an auditor everything,
pseudonymous; an agency administrator what their agency requested or provided; a citizen what
concerns them), then validates its arguments, and only then touches the ledger. A bad argument
is a ``BAD_USER_INPUT`` error naming the argument, and nothing is read or written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
import strawberry
from sqlalchemy import select

from ledger import checkpoint as notes
from ledger import history, merkle, registry, replay
from ledger.consent import ConsentError, new_consent, sign_consent
from ledger.entries import EntryError, new_entry, sign_entry
from ledger.history import HistoryError, HistoryFilter
from ledger.log import LedgerError, LedgerUnavailable
from ledger.registry import StateError
from ledger.vocabulary import CATEGORIES, PURPOSES
from schema.api import accounting, types
from schema.api.context import (
    AGENCY_ADMIN,
    AUDITOR,
    CITIZEN,
    ApiContext,
    Caller,
    api_error,
    bad_input,
)

ANY_VIEW = (AUDITOR, AGENCY_ADMIN, CITIZEN)
CURSOR_PREFIX = "h1:"
ACTIVITY_DAYS = 90


def _ctx(info: strawberry.Info) -> ApiContext:
    return info.context


async def _names(ctx: ApiContext) -> dict[str, str]:
    if "names" not in ctx.cache:
        ctx.cache["names"] = await ctx.backend.agency_names()
    return ctx.cache["names"]


async def own_pseudonym(ctx: ApiContext, caller: Caller) -> str:
    if "pseudonym" not in ctx.cache:
        assert caller.subject is not None
        ctx.cache["pseudonym"] = await ctx.backend.pseudonym(caller.subject)
    return ctx.cache["pseudonym"]


def parse_time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_input(
            f"{name} must be an ISO 8601 date or time, not {value[:40]!r}", argument=name
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        if not text.startswith(CURSOR_PREFIX):
            raise ValueError
        value = int(text[len(CURSOR_PREFIX) :])
        if value < 0:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_input(
            "after is not a cursor this API handed out; pass nextCursor from a previous page",
            argument="after",
        ) from None
    return value


def encode_cursor(before: int | None) -> str | None:
    if before is None:
        return None
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{before}".encode()).decode().rstrip("=")


async def scoped_filter(
    ctx: ApiContext, spec: types.HistoryFilterInput | None, kinds: tuple[str, ...]
) -> HistoryFilter:
    """The caller's filter, narrowed to what their role lets them see."""
    caller = ctx.require(*ANY_VIEW)
    spec = spec or types.HistoryFilterInput()
    if spec.category is not None and spec.category not in CATEGORIES:
        raise bad_input(f"unknown data category {spec.category!r}", argument="category")
    if spec.purpose is not None and spec.purpose not in PURPOSES:
        raise bad_input(f"unknown purpose of use {spec.purpose!r}", argument="purpose")
    subject, agency = spec.subject, None
    if caller.view == CITIZEN:
        own = await own_pseudonym(ctx, caller)
        if subject is not None and subject != own:
            raise api_error("a citizen sees only entries about themselves", "FORBIDDEN")
        subject = own
    elif caller.view == AGENCY_ADMIN:
        agency = caller.agency
    result = HistoryFilter(
        types=kinds,
        subject=subject,
        requester=spec.requesting_agency,
        provider=spec.providing_agency,
        agency=agency,
        category=spec.category,
        purpose=spec.purpose,
        basis=spec.basis,
        since=parse_time(spec.since, "since"),
        until=parse_time(spec.until, "until"),
    )
    try:
        result.check()
    except HistoryError as exc:
        raise bad_input(str(exc)) from None
    return result


async def history_page(
    ctx: ApiContext, spec: HistoryFilter, first: int, after: str | None
) -> tuple[list[history.HistoryItem], str | None, Callable[[], Awaitable[int]]]:
    before = decode_cursor(after)
    if not 1 <= first <= history.MAX_PAGE:
        raise bad_input(f"first must be between 1 and {history.MAX_PAGE}", argument="first")

    page = await ctx.backend.read_history(lambda c: history.page(c, spec, before, first))

    async def counter() -> int:
        return await ctx.backend.read_history(lambda c: history.count(c, spec))

    return page.items, encode_cursor(page.next_before), counter


async def _reviews(ctx: ApiContext, items: list[history.HistoryItem]) -> dict[int, Any]:
    wanted = [i.review_index for i in items if i.review_index is not None]
    if not wanted:
        return {}
    return await ctx.backend.read(lambda c: history.read_entries(c, wanted))


def _user_hash(caller: Caller) -> str:
    return hashlib.sha256(f"{caller.agency}\x00{caller.user}".encode()).hexdigest()[:16]


@strawberry.type(name="AccordLedger", description="The tamper-evident log and its proofs.")
class LedgerQuery:
    @strawberry.field(description="The latest signed checkpoint with its cosignatures.")
    async def checkpoint(self, info: strawberry.Info) -> types.Checkpoint | None:
        ctx = _ctx(info)
        ctx.signed_in()
        return await read_checkpoint(ctx)

    @strawberry.field(description="The audit path of entry `index` in the tree of `treeSize`.")
    async def inclusion_proof(
        self, info: strawberry.Info, index: int, tree_size: int | None = None
    ) -> types.InclusionProof | None:
        ctx = _ctx(info)
        ctx.signed_in()
        ledger = ctx.backend.ledger
        size = tree_size if tree_size is not None else ledger.size
        if index < 0:
            raise bad_input("index must not be negative", argument="index")
        if tree_size is not None and tree_size < 1:
            raise bad_input("treeSize must be at least 1", argument="treeSize")
        try:
            hashes = await ledger.inclusion_proof(index, size)
            root = await ledger.root(size)
            (data,) = await ledger.entry_bytes(index, index + 1)
        except LedgerUnavailable:
            raise
        except (LedgerError, merkle.ProofError) as exc:
            raise bad_input(str(exc), argument="index") from None
        return types.InclusionProof(
            index=index,
            tree_size=size,
            leaf_hash=types.b64(merkle.leaf_hash(data)),
            hashes=[types.b64(h) for h in hashes],
            root_hash=types.b64(root),
        )

    @strawberry.field(description="Proof that the tree of `from` entries is a prefix of `to`.")
    async def consistency_proof(
        self,
        info: strawberry.Info,
        from_size: Annotated[int, strawberry.argument(name="from")],
        to_size: Annotated[int | None, strawberry.argument(name="to")] = None,
    ) -> types.ConsistencyProof | None:
        ctx = _ctx(info)
        ctx.signed_in()
        ledger = ctx.backend.ledger
        new = to_size if to_size is not None else ledger.size
        if from_size < 0 or from_size > new:
            raise bad_input(
                f"from must be between 0 and to ({new}), not {from_size}", argument="from"
            )
        try:
            hashes = await ledger.consistency_proof(from_size, new)
            old_root, new_root = await ledger.root(from_size), await ledger.root(new)
        except LedgerUnavailable:
            raise
        except (LedgerError, merkle.ProofError) as exc:
            raise bad_input(str(exc), argument="to") from None
        return types.ConsistencyProof(
            from_size=from_size,
            to_size=new,
            hashes=[types.b64(h) for h in hashes],
            old_root_hash=types.b64(old_root),
            new_root_hash=types.b64(new_root),
        )


async def read_checkpoint(ctx: ApiContext) -> types.Checkpoint:
    from ledger import store

    note = await ctx.backend.ledger.checkpoint()
    body, _ = notes.split_note(note)
    parsed = notes.parse_body(body)
    table = store.cosignatures_table
    rows = await ctx.backend.read(
        lambda c: c.execute(
            select(table.c.witness, table.c.timestamp)
            .where(table.c.size == parsed.size)
            .order_by(table.c.witness)
        ).all()
    )
    cosignatures = [types.Cosignature(witness=w, time=types.iso(t * 1000)) for w, t in rows]
    quorum = ctx.backend.quorum
    return types.Checkpoint(
        note=note,
        origin=parsed.origin,
        size=parsed.size,
        root_hash=types.b64(parsed.root),
        cosignatures=cosignatures,
        quorum=quorum,
        final=len(cosignatures) >= quorum,
        witness_keys=list(ctx.backend.witnesses),
    )


@strawberry.type(name="AccordQuery", description="Accord's own API: audit, consent, ledger.")
class AccordQuery:
    @strawberry.field(description="Who the token says you are, and which view it gives.")
    async def me(self, info: strawberry.Info) -> types.CallerInfo | None:
        ctx = _ctx(info)
        if ctx.caller is None:
            raise api_error("sign in: the Accord API needs a bearer token", "UNAUTHENTICATED")
        caller = ctx.caller
        own = await own_pseudonym(ctx, caller) if caller.view == CITIZEN else None
        return types.CallerInfo(
            agency=caller.agency,
            user=caller.user,
            roles=sorted(caller.roles),
            view=caller.view,
            subject=own,
        )

    @strawberry.field(description="Disclosures, newest first.")
    async def disclosures(
        self,
        info: strawberry.Info,
        filter: types.HistoryFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> types.DisclosurePage | None:
        ctx = _ctx(info)
        spec = await scoped_filter(ctx, filter, (history.DISCLOSURE,))
        items, cursor, total = await history_page(ctx, spec, first, after)
        names = await _names(ctx)
        return types.DisclosurePage(
            items=[types.disclosure(i.index, i.entry, names) for i in items],
            next_cursor=cursor,
            counter=total,
        )

    @strawberry.field(description="Refused requests, newest first.")
    async def denials(
        self,
        info: strawberry.Info,
        filter: types.HistoryFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> types.DenialPage | None:
        ctx = _ctx(info)
        spec = await scoped_filter(ctx, filter, (history.DENIAL,))
        items, cursor, total = await history_page(ctx, spec, first, after)
        names = await _names(ctx)
        return types.DenialPage(
            items=[types.denial(i.index, i.entry, names) for i in items],
            next_cursor=cursor,
            counter=total,
        )

    @strawberry.field(description="Emergency (break-glass) accesses; pending ones by default.")
    async def break_glass_review(
        self,
        info: strawberry.Info,
        pending: bool | None = True,
        filter: types.HistoryFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> types.BreakGlassPage | None:
        ctx = _ctx(info)
        ctx.require(AUDITOR, AGENCY_ADMIN)
        spec = await scoped_filter(ctx, filter, (history.BREAK_GLASS,))
        if pending is not None:
            spec = HistoryFilter(**{**spec.__dict__, "reviewed": not pending})
        items, cursor, total = await history_page(ctx, spec, first, after)
        names = await _names(ctx)
        reviews = await _reviews(ctx, items)
        return types.BreakGlassPage(
            items=[
                types.break_glass(
                    i.index,
                    i.entry,
                    names,
                    (i.review_index, reviews[i.review_index])
                    if i.review_index is not None
                    else None,
                )
                for i in items
            ],
            next_cursor=cursor,
            counter=total,
        )

    @strawberry.field(
        description="Disclosures, refusals and emergency accesses per day (by default the "
        "last 90 days)."
    )
    async def activity(
        self, info: strawberry.Info, filter: types.HistoryFilterInput | None = None
    ) -> list[types.DayCount] | None:
        ctx = _ctx(info)
        spec = await scoped_filter(ctx, filter, history.INDEXED_TYPES)
        if spec.since is None:  # a chart, not a census: the last 90 days unless asked
            since = int((datetime.now(UTC) - timedelta(days=ACTIVITY_DAYS)).timestamp() * 1000)
            if spec.until is None or since < spec.until:
                spec = HistoryFilter(**{**spec.__dict__, "since": since})
        rows = await ctx.backend.read_history(lambda c: history.per_day(c, spec))
        days: dict[int, dict[str, int]] = {}
        for day, kind, number in rows:
            days.setdefault(day, {})[kind] = number
        return [
            types.DayCount(
                day=types.iso(day)[:10],
                disclosures=counts.get(history.DISCLOSURE, 0),
                denials=counts.get(history.DENIAL, 0),
                break_glass=counts.get(history.BREAK_GLASS, 0),
            )
            for day, counts in sorted(days.items())
        ]

    @strawberry.field(description="Every disclosure about one person, in the regulatory shape.")
    async def accounting_of_disclosures(
        self, info: strawberry.Info, subject: str | None = None
    ) -> types.Accounting | None:
        ctx = _ctx(info)
        pseudonym, rows = await accounting_rows(ctx, subject)
        return types.Accounting(
            subject=pseudonym,
            generated_at=types.iso(int(datetime.now(UTC).timestamp() * 1000)),
            rows=[types.AccountingRow(**r.__dict__) for r in rows],
        )

    @strawberry.field(description="A person's consents, with when each was granted or revoked.")
    async def consents(
        self, info: strawberry.Info, subject: str | None = None
    ) -> list[types.Consent] | None:
        ctx = _ctx(info)
        caller = ctx.require(AUDITOR, CITIZEN)
        pseudonym = await _subject_for(ctx, caller, subject)
        return await consents_of(ctx, pseudonym)

    @strawberry.field(description="The member agencies, by id and admitted name.")
    async def agencies(self, info: strawberry.Info) -> list[types.Agency] | None:
        ctx = _ctx(info)
        if ctx.caller is None:
            raise api_error("sign in: the Accord API needs a bearer token", "UNAUTHENTICATED")
        names = await _names(ctx)
        return [types.Agency(id=key, name=value) for key, value in sorted(names.items())]

    @strawberry.field(description="Statute contracts: versions, approvals and text.")
    async def contracts(self, info: strawberry.Info) -> list[types.Contract] | None:
        ctx = _ctx(info)
        if ctx.caller is None:
            raise api_error("sign in: the Accord API needs a bearer token", "UNAUTHENTICATED")
        return await ctx.backend.read(_contracts)

    @strawberry.field(description="The ledger: checkpoint and proofs.")
    def ledger(self) -> LedgerQuery:
        return LedgerQuery()

    @strawberry.field(description="Decide a recorded disclosure or refusal again from the ledger.")
    async def replay_decision(self, info: strawberry.Info, index: int) -> types.Replay | None:
        ctx = _ctx(info)
        caller = ctx.require(AUDITOR, AGENCY_ADMIN)
        backend = ctx.backend

        def run(connection: Any) -> replay.ReplayReport:
            report = replay.replay(connection, index, backend.approvals_required)
            body = report.recorded
            if caller.view == AGENCY_ADMIN and caller.agency not in (
                body["requester"]["agency"],
                body["provider"],
            ):
                raise api_error(
                    "an agency administrator replays only their agency's entries", "FORBIDDEN"
                )
            return report

        try:
            report = await backend.read(run)
        except replay.ReplayError as exc:
            raise bad_input(str(exc), argument="index") from None
        return types.Replay(
            index=report.index,
            type=report.type,
            evaluated_at=report.evaluated_at,
            match=report.match,
            differences=report.differences,
            recorded_json=orjson.dumps(report.recorded).decode(),
            replayed_json=orjson.dumps(report.replayed).decode(),
        )


async def _subject_for(ctx: ApiContext, caller: Caller, subject: str | None) -> str:
    if caller.view == CITIZEN:
        own = await own_pseudonym(ctx, caller)
        if subject is not None and subject != own:
            raise api_error("a citizen sees only their own records", "FORBIDDEN")
        return own
    if not subject:
        raise bad_input(
            "name the person by pseudonym with the subject argument", argument="subject"
        )
    return subject


async def accounting_rows(ctx: ApiContext, subject: str | None) -> tuple[str, list[accounting.Row]]:
    caller = ctx.require(AUDITOR, CITIZEN, AGENCY_ADMIN)
    pseudonym = await _subject_for(ctx, caller, subject)
    spec = HistoryFilter(
        types=(history.DISCLOSURE,),
        subject=pseudonym,
        agency=caller.agency if caller.view == AGENCY_ADMIN else None,
    )

    def run(connection: Any) -> list[history.HistoryItem]:
        items, before = [], None
        while True:
            page = history.page(connection, spec, before, history.MAX_PAGE)
            items += page.items
            if page.next_before is None:
                return items
            before = page.next_before

    items = await ctx.backend.read_history(run)
    names = await _names(ctx)
    return pseudonym, [accounting.row(i.index, i.entry, names) for i in items]


async def consents_of(ctx: ApiContext, pseudonym: str) -> list[types.Consent]:
    names = await _names(ctx)
    now = datetime.now(UTC)
    out = []
    records = await ctx.backend.subject_consents(pseudonym)
    for record in sorted(records, key=lambda r: r.granted_index, reverse=True):
        consent = record.consent
        status = "active"
        if record.revoked_index is not None:
            status = "revoked"
        elif not consent.period.contains(now):
            status = "expired" if now >= consent.period.end else "pending"
        events = [types.ConsentEvent(index=record.granted_index, action="granted")]
        if record.revoked_index is not None:
            events.append(types.ConsentEvent(index=record.revoked_index, action="revoked"))
        categories = sorted({c for p in consent.provisions for c in p.categories})
        purposes = sorted({c for p in consent.provisions for c in p.purposes})
        out.append(
            types.Consent(
                id=consent.id,
                subject=consent.subject,
                status=status,
                decision=consent.decision,
                grantor=consent.grantor.kind,
                grantees=[types.agency(g, names) for g in consent.grantees],
                categories=categories,
                purposes=purposes,
                start=consent.period.start.isoformat(),
                end=consent.period.end.isoformat(),
                recorded_by=names.get(record.author, record.author),
                revoke_reason=record.revoke_reason,
                history=events,
            )
        )
    return out


def _contracts(connection: Any) -> list[types.Contract]:
    from sqlalchemy import inspect

    if not inspect(connection).has_table(registry.contracts_table.name):
        return []
    approvals: dict[str, list[types.Approval]] = {}
    for row in connection.execute(
        select(registry.approvals_table).order_by(registry.approvals_table.c.idx)
    ).mappings():
        approvals.setdefault(row["hash"], []).append(
            types.Approval(member=row["member"], index=row["idx"])
        )
    rows = (
        connection.execute(
            select(registry.contracts_table).order_by(registry.contracts_table.c.proposed_index)
        )
        .mappings()
        .all()
    )
    activated = [r for r in rows if r["activated_index"] is not None]
    active = max(activated, key=lambda r: r["activated_index"])["hash"] if activated else None
    return [
        types.Contract(
            name=r["name"],
            version=r["version"],
            hash=r["hash"],
            proposed_by=r["author"],
            proposed_index=r["proposed_index"],
            approvals=approvals.get(r["hash"], []),
            activated_index=r["activated_index"],
            active=r["hash"] == active,
            policies=r["policies"],
            schema_text=r["schema_text"],
        )
        for r in rows
    ]


@strawberry.type(name="AccordMutation", description="Recording reviews and consents.")
class AccordMutation:
    @strawberry.mutation(description="Record the outcome of reviewing an emergency access.")
    async def review_break_glass(
        self, info: strawberry.Info, entry: int, outcome: types.ReviewOutcome, note: str
    ) -> types.BreakGlass | None:
        ctx = _ctx(info)
        caller = ctx.require(AUDITOR)
        if entry < 0:
            raise bad_input("entry must be a ledger index", argument="entry")
        if len(note) > 2000:
            raise bad_input("note is longer than 2000 characters", argument="note")
        body = {
            "entry": entry,
            "reviewer": f"{caller.agency}:{_user_hash(caller)}",
            "outcome": outcome.value,
            "note": note,
        }
        try:
            (receipt,) = await ctx.backend.append([new_entry("break_glass.reviewed", body)])
        except EntryError as exc:
            raise bad_input(str(exc), argument="entry") from None
        items = await ctx.backend.read(lambda c: history.read_entries(c, [entry, receipt.index]))
        names = await _names(ctx)
        return types.break_glass(entry, items[entry], names, (receipt.index, items[receipt.index]))

    @strawberry.mutation(description="Give consent (citizens, for themselves).")
    async def grant_consent(
        self, info: strawberry.Info, input: types.ConsentInput
    ) -> types.Consent | None:
        ctx = _ctx(info)
        caller = ctx.require(CITIZEN)
        agency, signer = _recorder(ctx)
        pseudonym = await own_pseudonym(ctx, caller)
        days = input.days if input.days is not None else ctx.backend.default_consent_days
        if not 1 <= days <= 3660:
            raise bad_input("days must be between 1 and 3660", argument="days")
        if not input.grantees:
            raise bad_input("name at least one grantee agency", argument="grantees")
        provisions = []
        if input.categories or input.purposes:
            provisions = [{"categories": input.categories or [], "purposes": input.purposes or []}]
        try:
            artefact = new_consent(
                id=str(uuid.uuid4()),
                subject=pseudonym,
                grantor={"kind": "self"},
                grantees=input.grantees,
                decision="deny" if provisions else "permit",
                provisions=provisions,
                start=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1),
                default_days=days,
                subject_adult=True,
            )
            jws = sign_consent(artefact, signer.private, agency)
        except ConsentError as exc:
            raise bad_input(str(exc), argument="input") from None
        body = {"consent_id": artefact.id, "subject": pseudonym, "jws": jws}
        await _record(ctx, sign_entry(new_entry("consent.granted", body, author=agency), signer))
        return next(c for c in await consents_of(ctx, pseudonym) if c.id == artefact.id)

    @strawberry.mutation(description="Withdraw a consent (citizens, their own).")
    async def revoke_consent(
        self, info: strawberry.Info, consent_id: str, reason: str | None = None
    ) -> types.Consent | None:
        ctx = _ctx(info)
        caller = ctx.require(CITIZEN)
        agency, signer = _recorder(ctx)
        pseudonym = await own_pseudonym(ctx, caller)
        mine = {r.consent.id: r for r in await ctx.backend.subject_consents(pseudonym)}
        record = mine.get(consent_id)
        if record is None:
            raise bad_input(f"you have no consent {consent_id[:64]!r}", argument="consentId")
        body = {
            "consent_id": consent_id,
            "subject": pseudonym,
            "reason": (reason or "withdrawn by the person")[:500],
        }
        await _record(ctx, sign_entry(new_entry("consent.revoked", body, author=agency), signer))
        return next(c for c in await consents_of(ctx, pseudonym) if c.id == consent_id)


def _recorder(ctx: ApiContext) -> tuple[str, Any]:
    if ctx.backend.recorder is None:
        raise api_error(
            "consents cannot be recorded here: no member agency records citizens' consents",
            "NOT_CONFIGURED",
        )
    return ctx.backend.recorder


async def _record(ctx: ApiContext, entry: Any) -> None:
    state = await ctx.backend.state()
    try:
        state.check(entry.type, entry.body, entry.author)
        await ctx.backend.append([entry])
    except (StateError, EntryError) as exc:
        raise bad_input(f"refused, nothing recorded: {exc}") from None
