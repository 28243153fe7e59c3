"""The object types of the gateway's own API, and how ledger entries become them.

Every type name starts with ``Accord`` so it can never clash with a partner agency's types in
the composed supergraph. Times are ISO 8601 UTC strings (ledger times are milliseconds, which
do not fit GraphQL's 32-bit ``Int``).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry

from ledger.entries import Entry
from ledger.vocabulary import CATEGORIES, PURPOSES


def iso(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@strawberry.type(name="AccordAgency", description="A member agency, by id and admitted name.")
class Agency:
    id: str
    name: str


@strawberry.type(name="AccordPurpose", description="An HL7 v3 PurposeOfUse code.")
class Purpose:
    code: str
    display: str


@strawberry.type(name="AccordCategory", description="A data category, never a value.")
class Category:
    name: str
    description: str


@strawberry.type(name="AccordRequester")
class Requester:
    agency: Agency
    user: str = strawberry.field(description="A hash of the user id, never the id itself.")


@strawberry.type(name="AccordBasis", description="Why a disclosure was allowed.")
class Basis:
    consents: list[str]
    policies: list[str]


@strawberry.interface(name="AccordHistoryEntry", description="A recorded decision about data.")
class HistoryEntry:
    index: int = strawberry.field(description="The entry's index in the ledger (its receipt).")
    time: str
    request_id: str
    requester: Requester
    provider: Agency
    purpose: Purpose
    subject: str = strawberry.field(description="The person's pseudonym.")
    fields: list[str]
    categories: list[Category]
    contract: str


@strawberry.type(name="AccordDisclosure")
class Disclosure(HistoryEntry):
    basis: Basis
    obligations: list[str]


@strawberry.type(name="AccordDenial")
class Denial(HistoryEntry):
    code: str
    rule: str
    reason: str
    silent: bool


@strawberry.type(name="AccordReview")
class Review:
    index: int
    outcome: str
    reviewer: str
    note: str
    time: str


@strawberry.type(name="AccordBreakGlass", description="An emergency access, reviewed or not.")
class BreakGlass(HistoryEntry):
    justification: str
    review: Review | None


@strawberry.type
class _Counted:
    # Counting every match costs a pass over the matching index range, so it runs only
    # when the client selects totalCount.
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many entries match the filter (counted when asked).")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="AccordDisclosurePage")
class DisclosurePage(_Counted):
    items: list[Disclosure]
    next_cursor: str | None


@strawberry.type(name="AccordDenialPage")
class DenialPage(_Counted):
    items: list[Denial]
    next_cursor: str | None


@strawberry.type(name="AccordBreakGlassPage")
class BreakGlassPage(_Counted):
    items: list[BreakGlass]
    next_cursor: str | None


@strawberry.type(name="AccordDayCount")
class DayCount:
    day: str
    disclosures: int
    denials: int
    break_glass: int


@strawberry.type(name="AccordAccountingRow", description="One disclosure, as the law lists it.")
class AccountingRow:
    index: int
    date: str
    recipient: str
    recipient_agency: str
    source: str
    description: str
    purpose: str
    legal_basis: str


@strawberry.type(name="AccordAccounting")
class Accounting:
    subject: str
    generated_at: str
    rows: list[AccountingRow]


@strawberry.type(name="AccordConsentEvent")
class ConsentEvent:
    index: int
    action: str


@strawberry.type(name="AccordConsent")
class Consent:
    id: str
    subject: str
    status: str = strawberry.field(description="active, revoked or expired")
    decision: str
    grantor: str
    grantees: list[Agency]
    categories: list[str]
    purposes: list[str]
    start: str
    end: str
    recorded_by: str
    revoke_reason: str | None
    history: list[ConsentEvent]


@strawberry.type(name="AccordApproval")
class Approval:
    member: str
    index: int


@strawberry.type(name="AccordContract")
class Contract:
    name: str
    version: int
    hash: str
    proposed_by: str
    proposed_index: int
    approvals: list[Approval]
    activated_index: int | None
    active: bool
    policies: str
    schema_text: str


@strawberry.type(name="AccordCosignature")
class Cosignature:
    witness: str
    time: str


@strawberry.type(name="AccordCheckpoint")
class Checkpoint:
    note: str = strawberry.field(description="The signed note, with cosignature lines.")
    origin: str
    size: int
    root_hash: str
    cosignatures: list[Cosignature]
    quorum: int
    final: bool
    witness_keys: list[str] = strawberry.field(
        description="The configured witnesses' verifier keys, to check cosignatures with."
    )


@strawberry.type(name="AccordInclusionProof")
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]
    root_hash: str


@strawberry.type(name="AccordConsistencyProof")
class ConsistencyProof:
    from_size: int = strawberry.field(name="from")
    to_size: int = strawberry.field(name="to")
    hashes: list[str]
    old_root_hash: str
    new_root_hash: str


@strawberry.type(name="AccordReplay")
class Replay:
    index: int
    type: str
    evaluated_at: int
    match: bool
    differences: list[str]
    recorded_json: str
    replayed_json: str


@strawberry.type(name="AccordCaller")
class CallerInfo:
    agency: str
    user: str
    roles: list[str]
    view: str
    subject: str | None = strawberry.field(description="A citizen's own pseudonym.")


@strawberry.enum(name="AccordReviewOutcome")
class ReviewOutcome(Enum):
    JUSTIFIED = "justified"
    UNJUSTIFIED = "unjustified"


@strawberry.input(name="AccordHistoryFilter")
class HistoryFilterInput:
    subject: str | None = None
    requesting_agency: str | None = None
    providing_agency: str | None = None
    category: str | None = None
    purpose: str | None = None
    basis: str | None = None
    since: str | None = strawberry.field(default=None, description="ISO 8601, inclusive")
    until: str | None = strawberry.field(default=None, description="ISO 8601, exclusive")


@strawberry.input(name="AccordConsentInput")
class ConsentInput:
    grantees: list[str]
    categories: list[str] | None = None
    purposes: list[str] | None = None
    days: int | None = None


# -- conversion -------------------------------------------------------------------------------


def agency(agency_id: str, names: dict[str, str]) -> Agency:
    return Agency(id=agency_id, name=names.get(agency_id, agency_id))


def purpose(code: str) -> Purpose:
    return Purpose(code=code, display=PURPOSES.get(code, code))


def category(name: str) -> Category:
    return Category(name=name, description=CATEGORIES.get(name, name))


def _common(index: int, entry: Entry, names: dict[str, str]) -> dict[str, Any]:
    body = entry.body
    return {
        "index": index,
        "time": iso(entry.ts),
        "request_id": body["request_id"],
        "requester": Requester(
            agency=agency(body["requester"]["agency"], names), user=body["requester"]["user"]
        ),
        "provider": agency(body["provider"], names),
        "purpose": purpose(body["purpose"]),
        "subject": body["subject"],
        "fields": list(body["fields"]),
        "categories": [category(c) for c in body["categories"]],
        "contract": body["contract"],
    }


def disclosure(index: int, entry: Entry, names: dict[str, str]) -> Disclosure:
    body = entry.body
    return Disclosure(
        **_common(index, entry, names),
        basis=Basis(consents=list(body["basis"]["consents"]), policies=body["basis"]["policies"]),
        obligations=list(body["obligations"]),
    )


def denial(index: int, entry: Entry, names: dict[str, str]) -> Denial:
    body = entry.body
    return Denial(
        **_common(index, entry, names),
        code=body["code"],
        rule=body["rule"],
        reason=body["reason"],
        silent=body["silent"],
    )


def break_glass(
    index: int, entry: Entry, names: dict[str, str], review: tuple[int, Entry] | None
) -> BreakGlass:
    reviewed = None
    if review is not None:
        at, note = review
        reviewed = Review(
            index=at,
            outcome=note.body["outcome"],
            reviewer=note.body["reviewer"],
            note=note.body["note"],
            time=iso(note.ts),
        )
    return BreakGlass(
        **_common(index, entry, names),
        justification=entry.body["justification"],
        review=reviewed,
    )
