"""The consent and contract state folded from ledger entries, in memory.

Everything a decision reads (the person's consents, the active contract, who the members are)
is a fold over the ledger, so the state as of any ledger index can be rebuilt exactly and a
past decision replayed. :class:`LedgerState` is that fold; :mod:`ledger.registry` keeps it in
step with the log and mirrors it into index tables.

The fold is deterministic and total: an entry that breaks a rule (a second approval by the same
member, a revocation of an unknown consent) changes nothing, so every peer that folds the same
log reaches the same state. Appending such an entry is refused earlier, by :meth:`check`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    LargeBinary,
    String,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from ledger import store
from ledger.consent import Consent, ConsentError, verify_consent
from ledger.contracts.model import Contract, ContractError, contract_from_body
from ledger.entries import EntryError, decode_entry
from ledger.keys import parse_public_b64, public_key
from ledger.vocabulary import AGENCY_KINDS

FOSTER_CARE_POLICY = "urn:accord:policy:foster-care-placement"


class StateError(EntryError):
    """An entry that would break a registry rule; nothing is recorded."""


@dataclass(slots=True)
class ConsentRecord:
    consent: Consent
    jws: str
    signer: str
    author: str
    granted_index: int
    revoked_index: int | None = None
    revoke_reason: str | None = None
    # Instants at which this consent (or one of its provisions) starts or stops applying.
    boundaries: tuple[datetime, ...] = ()


@dataclass(slots=True)
class ContractRecord:
    contract: Contract
    proposed_index: int
    author: str
    approvals: dict[str, int] = dataclass_field(default_factory=dict)  # member -> entry index
    activated_index: int | None = None


@dataclass(slots=True)
class Member:
    member: str
    name: str
    kind: str
    key: bytes
    admitted_index: int


class LedgerState:
    """Consents, contracts and members as of ``index`` (the number of entries folded)."""

    def __init__(self, approvals_required: int = 2) -> None:
        self.approvals_required = approvals_required
        self.index = 0
        # Bumped on every change a decision could depend on; caches compare it.
        self.version = 0
        self.members: dict[str, Member] = {}
        self.consents: dict[str, ConsentRecord] = {}
        self.by_subject: dict[str, list[ConsentRecord]] = {}
        self.contracts: dict[str, ContractRecord] = {}
        self.active: ContractRecord | None = None
        self.history: list[ContractRecord] = []  # activations in ledger order

    # -- reads ----------------------------------------------------------------------------

    @property
    def contract(self) -> Contract | None:
        return self.active.contract if self.active else None

    def subject_consents(self, subject: str) -> list[ConsentRecord]:
        """The subject's granted, unrevoked consents (expiry is checked at decision time)."""
        return self.by_subject.get(subject, [])

    def agency_kind(self, agency: str) -> str:
        member = self.members.get(agency)
        if member is not None:
            return member.kind
        return AGENCY_KINDS.get(agency, "")

    def member_key(self, member: str) -> Any:
        record = self.members.get(member)
        return public_key(record.key) if record else None

    # -- checks before append ----------------------------------------------------------------

    def check(self, type: str, body: dict[str, Any], author: str) -> Any:
        """Raise :class:`StateError` unless an entry of this type and body may be appended now."""
        checker = _CHECKS.get(type)
        return checker(self, body, author) if checker is not None else None

    # -- fold ----------------------------------------------------------------------------------

    def apply(
        self, index: int, type: str, body: dict[str, Any], author: str, strict: bool = False
    ) -> bool:
        """Fold the entry at ``index``; returns whether the state changed.

        An entry that breaks a rule changes nothing; with ``strict`` it raises instead (the
        append path uses this to refuse the entry inside the log's transaction).
        """
        if index < self.index:
            raise StateError(f"entry {index} folded out of order (state is at {self.index})")
        handler = _APPLY.get(type)
        if handler is None:
            self.index = index + 1
            return False
        try:
            checked = self._checked(type, body, author)
        except (StateError, ConsentError, ContractError) as exc:
            if strict:
                raise StateError(f"{type}: {exc}") from None
            self.index = index + 1
            return False
        handler(self, checked, index, author)
        self.index = index + 1
        self.version += 1
        return True

    def clone(self) -> LedgerState:
        """A copy to fold a batch into before it commits. The folds never change a record or a
        list in place (they replace it), so copying the containers is enough."""
        other = LedgerState.__new__(LedgerState)
        other.__dict__.update(self.__dict__)
        other.members = dict(self.members)
        other.consents = dict(self.consents)
        other.by_subject = dict(self.by_subject)
        other.contracts = dict(self.contracts)
        other.history = list(self.history)
        return other

    def replace_with(self, other: LedgerState) -> None:
        """Take over ``other``'s contents in place, so holders of this object see them."""
        version = self.version
        for name in (
            "approvals_required",
            "index",
            "members",
            "consents",
            "by_subject",
            "contracts",
            "active",
            "history",
        ):
            setattr(self, name, getattr(other, name))
        self.version = version + 1

    def _checked(self, type: str, body: dict[str, Any], author: str) -> Any:
        found = self.check(type, body, author)
        if type == "consent.granted":
            return body, *found
        if type == "contract.proposed":
            return body, found
        return body


# -- rules -------------------------------------------------------------------------------------


def _check_member(state: LedgerState, body: dict[str, Any], author: str) -> None:
    if body["member"] in state.members:
        raise StateError(f"member {body['member']!r} is already admitted")


def _check_granted(state: LedgerState, body: dict[str, Any], author: str) -> None:
    if author not in state.members:
        raise StateError(f"only a member agency can record a consent, not {author!r}")
    if body["consent_id"] in state.consents:
        raise StateError(f"consent {body['consent_id']!r} is already recorded")
    try:
        consent, signer = verify_consent(body["jws"], state.member_key)
    except ConsentError as exc:
        raise StateError(str(exc)) from None
    if consent.id != body["consent_id"]:
        raise StateError(
            f"consent_id {body['consent_id']!r} is not the artefact's id {consent.id!r}"
        )
    if consent.subject != body["subject"]:
        raise StateError("subject does not match the artefact's subject")
    if signer not in ("grantor", author):
        raise StateError(f"a consent signed by {signer!r} must be recorded by {signer!r}")
    return consent, signer


def _check_revoked(state: LedgerState, body: dict[str, Any], author: str) -> None:
    if author not in state.members:
        raise StateError(f"only a member agency can record a revocation, not {author!r}")
    record = state.consents.get(body["consent_id"])
    if record is None:
        raise StateError(f"consent {body['consent_id']!r} is not recorded")
    if record.consent.subject != body["subject"]:
        raise StateError("subject does not match the consent's subject")
    if record.revoked_index is not None:
        raise StateError(f"consent {body['consent_id']!r} is already revoked")
    if not body.get("reason"):
        raise StateError("a revocation needs a reason")


def _check_proposed(state: LedgerState, body: dict[str, Any], author: str) -> None:
    if author not in state.members:
        raise StateError(f"only a member agency can propose a contract, not {author!r}")
    if body["hash"] in state.contracts:
        raise StateError(f"contract {body['hash'][:16]} is already proposed")
    try:
        return compiled_contract(body)
    except ContractError as exc:
        raise StateError(str(exc)) from None


def _check_approved(state: LedgerState, body: dict[str, Any], author: str) -> None:
    member = body["member"]
    if member not in state.members or author != member:
        raise StateError(f"{member!r} is not a member agency; only members approve contracts")
    record = state.contracts.get(body["hash"])
    if record is None:
        raise StateError(f"no proposed contract has hash {body['hash'][:16]}")
    if member in record.approvals:
        raise StateError(f"{member!r} has already approved contract {body['hash'][:16]}")
    if record.activated_index is not None:
        raise StateError(f"contract {body['hash'][:16]} is already active")


def _check_activated(state: LedgerState, body: dict[str, Any], author: str) -> None:
    record = state.contracts.get(body["hash"])
    if record is None:
        raise StateError(f"no proposed contract has hash {body['hash'][:16]}")
    if record.activated_index is not None:
        raise StateError(f"contract {body['hash'][:16]} is already active")
    approvals = body["approvals"]
    if sorted(approvals) != sorted(record.approvals.values()) or len(set(approvals)) != len(
        approvals
    ):
        raise StateError("approvals must list exactly the entries approving this contract")
    if len(approvals) < state.approvals_required:
        raise StateError(
            f"contract {body['hash'][:16]} has {len(approvals)} approval(s); "
            f"{state.approvals_required} member agencies must approve it"
        )


def _apply_member(state: LedgerState, body: dict[str, Any], index: int, author: str) -> None:
    state.members[body["member"]] = Member(
        body["member"], body["name"], body["kind"], parse_public_b64(body["key"]), index
    )


def _apply_key_rotated(state: LedgerState, body: dict[str, Any], index: int, author: str) -> None:
    member = state.members.get(body["member"])
    if member is None:
        raise StateError("unknown member")
    state.members[body["member"]] = replace(member, key=parse_public_b64(body["key"]))


def _apply_granted(state: LedgerState, checked: Any, index: int, author: str) -> None:
    body, consent, signer = checked
    record = ConsentRecord(
        consent, body["jws"], signer, author, index, boundaries=_boundaries(consent)
    )
    state.consents[consent.id] = record
    state.by_subject[consent.subject] = [*state.by_subject.get(consent.subject, ()), record]


def _apply_revoked(state: LedgerState, body: dict[str, Any], index: int, author: str) -> None:
    old = state.consents[body["consent_id"]]
    state.consents[body["consent_id"]] = replace(
        old, revoked_index=index, revoke_reason=body["reason"]
    )
    subject = old.consent.subject
    state.by_subject[subject] = [r for r in state.by_subject.get(subject, ()) if r is not old]


def _apply_proposed(state: LedgerState, checked: Any, index: int, author: str) -> None:
    body, contract = checked
    state.contracts[body["hash"]] = ContractRecord(contract, index, author)


def _apply_approved(state: LedgerState, body: dict[str, Any], index: int, author: str) -> None:
    record = state.contracts[body["hash"]]
    approvals = {**record.approvals, body["member"]: index}
    state.contracts[body["hash"]] = replace(record, approvals=approvals)


def _apply_activated(state: LedgerState, body: dict[str, Any], index: int, author: str) -> None:
    record = replace(state.contracts[body["hash"]], activated_index=index)
    state.contracts[body["hash"]] = record
    state.active = record
    state.history = [*state.history, record]


_CHECKS = {
    "member.admitted": _check_member,
    "consent.granted": _check_granted,
    "consent.revoked": _check_revoked,
    "contract.proposed": _check_proposed,
    "contract.approved": _check_approved,
    "contract.activated": _check_activated,
}
_APPLY = {
    "member.admitted": _apply_member,
    "member.key_rotated": _apply_key_rotated,
    "consent.granted": _apply_granted,
    "consent.revoked": _apply_revoked,
    "contract.proposed": _apply_proposed,
    "contract.approved": _apply_approved,
    "contract.activated": _apply_activated,
}


def _boundaries(consent: Consent) -> tuple[datetime, ...]:
    instants = {consent.period.start, consent.period.end}
    stack = list(consent.provisions)
    while stack:
        provision = stack.pop()
        if provision.period is not None:
            instants.update((provision.period.start, provision.period.end))
        stack.extend(provision.provisions)
    return tuple(sorted(instants))


_COMPILED: dict[str, Contract] = {}


def compiled_contract(body: dict[str, Any]) -> Contract:
    """Compile a proposed contract once per process (by hash; the texts are checked)."""
    contract = _COMPILED.get(body["hash"])
    if (
        contract is None
        or contract.policies != body["policies"]
        or contract.schema != body["schema"]
    ):
        contract = contract_from_body(body)
        _COMPILED[contract.hash] = contract
    return contract


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# -- index tables ------------------------------------------------------------------------------


class ConsentIndexRow(SQLModel, table=True):
    """One recorded consent; ``revoked_index`` is set when a revocation is committed."""

    __tablename__ = "registry_consents"
    consent_id: str = Field(sa_column=Column(String(128), primary_key=True))
    subject: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    granted_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoke_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    author: str = Field(sa_column=Column(String(255), nullable=False))
    signer: str = Field(sa_column=Column(String(255), nullable=False))
    decision: str = Field(sa_column=Column(String(8), nullable=False))
    start_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    jws: str = Field(sa_column=Column(Text, nullable=False))


class ContractIndexRow(SQLModel, table=True):
    __tablename__ = "registry_contracts"
    hash: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(sa_column=Column(String(255), nullable=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    author: str = Field(sa_column=Column(String(255), nullable=False))
    proposed_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    activated_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    policies: str = Field(sa_column=Column(Text, nullable=False))
    schema_text: str = Field(sa_column=Column(Text, nullable=False))


class ApprovalIndexRow(SQLModel, table=True):
    __tablename__ = "registry_approvals"
    hash: str = Field(sa_column=Column(String(64), primary_key=True))
    member: str = Field(sa_column=Column(String(255), primary_key=True))
    idx: int = Field(sa_column=Column(BigInteger, nullable=False))


class MemberIndexRow(SQLModel, table=True):
    __tablename__ = "registry_members"
    member: str = Field(sa_column=Column(String(255), primary_key=True))
    name: str = Field(sa_column=Column(String(255), nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    admitted_index: int = Field(sa_column=Column(BigInteger, nullable=False))


class RegistryHead(SQLModel, table=True):
    """How many ledger entries the index tables reflect; a mismatch means rebuild."""

    __tablename__ = "registry_head"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


consents_table = ConsentIndexRow.__table__  # type: ignore[attr-defined]
contracts_table = ContractIndexRow.__table__  # type: ignore[attr-defined]
approvals_table = ApprovalIndexRow.__table__  # type: ignore[attr-defined]
members_table = MemberIndexRow.__table__  # type: ignore[attr-defined]
registry_head_table = RegistryHead.__table__  # type: ignore[attr-defined]
INDEX_TABLES = [consents_table, contracts_table, approvals_table, members_table]
FOLDED_TYPES = tuple(_APPLY)


def create_index_tables(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=[*INDEX_TABLES, registry_head_table])


def indexed_size(connection: Connection) -> int | None:
    """The ledger size the index tables reflect (None before they were ever written)."""
    return connection.execute(
        select(registry_head_table.c.size).where(registry_head_table.c.id == 1)
    ).scalar_one_or_none()


def _set_indexed_size(connection: Connection, size: int) -> None:
    # Runs in every append batch: plain text to the driver costs a fraction of a compiled
    # expression.
    mark = store.placeholder(connection.dialect.paramstyle)
    changed = store.run(
        connection, f"UPDATE {registry_head_table.name} SET size = {mark} WHERE id = 1", (size,)
    ).rowcount
    if not changed:
        connection.execute(insert(registry_head_table), {"id": 1, "size": size})


def _write_rows(
    connection: Connection, state: LedgerState, index: int, type: str, body: dict
) -> None:
    """Mirror one folded entry into the index tables."""
    if type == "member.admitted":
        member = state.members[body["member"]]
        connection.execute(
            insert(members_table),
            {
                "member": member.member,
                "name": member.name,
                "kind": member.kind,
                "key": member.key,
                "admitted_index": index,
            },
        )
    elif type == "member.key_rotated":
        connection.execute(
            update(members_table)
            .where(members_table.c.member == body["member"])
            .values(key=state.members[body["member"]].key)
        )
    elif type == "consent.granted":
        record = state.consents[body["consent_id"]]
        consent = record.consent
        connection.execute(
            insert(consents_table),
            {
                "consent_id": consent.id,
                "subject": consent.subject,
                "granted_index": index,
                "author": record.author,
                "signer": record.signer,
                "decision": consent.decision,
                "start_ms": _ms(consent.period.start),
                "end_ms": _ms(consent.period.end),
                "jws": record.jws,
            },
        )
    elif type == "consent.revoked":
        connection.execute(
            update(consents_table)
            .where(consents_table.c.consent_id == body["consent_id"])
            .values(revoked_index=index, revoke_reason=body["reason"])
        )
    elif type == "contract.proposed":
        record = state.contracts[body["hash"]]
        connection.execute(
            insert(contracts_table),
            {
                "hash": body["hash"],
                "name": body["contract"],
                "version": body["version"],
                "author": record.author,
                "proposed_index": index,
                "policies": body["policies"],
                "schema_text": body["schema"],
            },
        )
    elif type == "contract.approved":
        connection.execute(
            insert(approvals_table), {"hash": body["hash"], "member": body["member"], "idx": index}
        )
    elif type == "contract.activated":
        connection.execute(
            update(contracts_table)
            .where(contracts_table.c.hash == body["hash"])
            .values(activated_index=index)
        )


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def load_state(
    connection: Connection, as_of: int | None = None, approvals_required: int = 2
) -> LedgerState:
    """The state as of ledger index ``as_of`` (default: everything committed), read from the
    index tables. Artefacts were verified when recorded, so they are decoded, not re-verified."""
    size = store.head_size(connection)
    limit = size if as_of is None else min(as_of, size)
    state = LedgerState(approvals_required)
    state.index = limit
    for row in connection.execute(
        select(members_table).where(members_table.c.admitted_index < limit)
    ).mappings():
        state.members[row["member"]] = Member(
            row["member"], row["name"], row["kind"], bytes(row["key"]), row["admitted_index"]
        )
    query = (
        select(consents_table)
        .where(consents_table.c.granted_index < limit)
        .order_by(consents_table.c.granted_index)
    )
    for row in connection.execute(query).mappings():
        consent = Consent.from_payload(_jws_payload(row["jws"]))
        revoked = row["revoked_index"] if (row["revoked_index"] or limit) < limit else None
        record = ConsentRecord(
            consent,
            row["jws"],
            row["signer"],
            row["author"],
            row["granted_index"],
            revoked,
            row["revoke_reason"] if revoked is not None else None,
            _boundaries(consent),
        )
        state.consents[consent.id] = record
        if revoked is None:
            state.by_subject.setdefault(consent.subject, []).append(record)
    query = (
        select(contracts_table)
        .where(contracts_table.c.proposed_index < limit)
        .order_by(contracts_table.c.proposed_index)
    )
    for row in connection.execute(query).mappings():
        body = {
            "contract": row["name"],
            "version": row["version"],
            "hash": row["hash"],
            "policies": row["policies"],
            "schema": row["schema_text"],
        }
        activated = row["activated_index"]
        state.contracts[row["hash"]] = ContractRecord(
            compiled_contract(body),
            row["proposed_index"],
            row["author"],
            {},
            activated if activated is not None and activated < limit else None,
        )
    for row in connection.execute(
        select(approvals_table).where(approvals_table.c.idx < limit)
    ).mappings():
        record = state.contracts.get(row["hash"])
        if record is not None:
            record.approvals[row["member"]] = row["idx"]
    history = sorted(
        (r for r in state.contracts.values() if r.activated_index is not None),
        key=lambda r: r.activated_index or 0,
    )
    state.history = history
    state.active = history[-1] if history else None
    return state


def _jws_payload(token: str) -> Any:
    part = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def fold_entries(
    connection: Connection, end: int | None = None, approvals_required: int = 2
) -> LedgerState:
    """The state folded from the log itself (verifying every artefact), ignoring index tables."""
    state = LedgerState(approvals_required)
    query = select(store.entries_table.c.idx, store.entries_table.c.data).where(
        store.entries_table.c.type.in_(FOLDED_TYPES)
    )
    if end is not None:
        query = query.where(store.entries_table.c.idx < end)
    for idx, data in connection.execute(query.order_by(store.entries_table.c.idx)):
        entry = decode_entry(bytes(data))
        state.apply(idx, entry.type, entry.body, entry.author)
    state.index = store.head_size(connection) if end is None else end
    return state


def rebuild_index(connection: Connection, approvals_required: int = 2) -> LedgerState:
    """Drop and refill the index tables from the log; returns the folded state."""
    create_index_tables(connection)
    for table in INDEX_TABLES:
        connection.execute(delete(table))
    state = LedgerState(approvals_required)
    query = (
        select(store.entries_table.c.idx, store.entries_table.c.data)
        .where(store.entries_table.c.type.in_(FOLDED_TYPES))
        .order_by(store.entries_table.c.idx)
    )
    for idx, data in connection.execute(query).all():
        entry = decode_entry(bytes(data))
        if state.apply(idx, entry.type, entry.body, entry.author):
            _write_rows(connection, state, idx, entry.type, entry.body)
    state.index = store.head_size(connection)
    _set_indexed_size(connection, state.index)
    return state


def index_snapshot(connection: Connection) -> dict[str, list[tuple]]:
    """Every index row, sorted: what a rebuild must reproduce exactly."""
    return {
        table.name: sorted(tuple(row) for row in connection.execute(select(table)).all())
        for table in INDEX_TABLES
    }


class Registry:
    """The live state, kept in step with the log by its commit hook.

    The hook folds each committed batch inside the log's transaction and writes the index rows
    in that same transaction, so the tables never disagree with the log. An entry that breaks a
    registry rule makes the hook raise, and the log refuses that entry alone.

    Entries other processes appended (gateway replicas sharing one database) are folded in
    incrementally: by the hook before it folds its own batch, and by :meth:`sync`, which a
    reader calls to catch up without writing.
    """

    def __init__(self, approvals_required: int = 2) -> None:
        self.approvals_required = approvals_required
        self.state = LedgerState(approvals_required)
        self._loaded = False
        # The hook runs in the log's writer thread, sync() in a reader's: one folds at a time.
        self._lock = threading.RLock()

    def load(self, connection: Connection) -> None:
        """Read the state from the index tables, rebuilding them first if they lag the log
        (entries appended by a process that did not run this registry's hook)."""
        with self._lock:
            self._load(connection)

    def load_from(self, url: str) -> None:
        """:meth:`load` over a connection of its own to the store at ``url``."""
        engine = store.make_engine(url)
        try:
            with engine.connect() as connection, connection.begin():
                self.load(connection)
        finally:
            engine.dispose()

    def _load(self, connection: Connection) -> None:
        create_index_tables(connection)
        if indexed_size(connection) != store.head_size(connection):
            rebuild_index(connection, self.approvals_required)
        self.state.replace_with(load_state(connection, None, self.approvals_required))
        self._loaded = True

    def on_commit(self, connection: Connection, committed: list[Any]) -> Callable[[], None] | None:
        """The log's commit hook: fold the batch into a staged copy of the state and write its
        index rows, in the batch's transaction; returns the step that publishes the staged
        state once the transaction is durable. A batch that fails to commit therefore never
        changes what decisions see."""
        if not committed:
            return None
        with self._lock:
            staged = self._stage(connection, committed)
        end = committed[-1].index + 1

        def publish() -> None:
            with self._lock:
                if staged is None:
                    if self.state.index < end:
                        self.state.index = end  # nothing a decision depends on changed
                else:
                    self.state.replace_with(staged)
                self._loaded = True

        return publish

    def _stage(self, connection: Connection, committed: list[Any]) -> LedgerState | None:
        """The state after ``committed``, or None when it differs from the live state only in
        its index (a batch of disclosures, the usual case)."""
        first = committed[0].index
        end = committed[-1].index + 1
        base: LedgerState | None = None
        if not self._loaded or self.state.index != first:
            # Not the common case (this process folded every batch so far): catch up first.
            base = self._caught_up(connection, first)
        if base is None and not any(item.entry.type in FOLDED_TYPES for item in committed):
            _set_indexed_size(connection, end)
            return None
        staged = base if base is not None else self.state.clone()
        changed = base is not None
        for item in committed:
            entry = item.entry
            if staged.apply(item.index, entry.type, entry.body, entry.author, strict=True):
                _write_rows(connection, staged, item.index, entry.type, entry.body)
                changed = True
        staged.index = end
        _set_indexed_size(connection, end)
        return staged if changed else None

    def _caught_up(self, connection: Connection, first: int) -> LedgerState:
        """A state at ``first``, the start of a batch being committed, with the index tables
        brought to the same point; the live state is left alone."""
        create_index_tables(connection)
        tables = indexed_size(connection)
        if not self._loaded or self.state.index > first:
            # First batch: start from the truth.
            if tables != first:
                self._rebuild_before(connection, first)
            return load_state(connection, first, self.approvals_required)
        if self.state.index < first:
            # Another writer appended meanwhile: fold its entries (and index them if it did not).
            return self._fold_range(
                connection, self.state.clone(), self.state.index, first, write=tables != first
            )
        if tables != first:
            self._rebuild_before(connection, first)
        return self.state.clone()

    def sync(self, connection: Connection) -> int:
        """Fold what other processes committed since the last fold; returns the new index.

        Reads only (after the first load): the index tables are the writers' business. A batch
        of this process that is committing right now is published by its own hook once it is
        durable; if it fails, nothing of it was ever visible."""
        size = store.head_size(connection)
        with self._lock:
            if not self._loaded:
                self._load(connection)
            elif self.state.index < size:
                folded = self._fold_range(
                    connection, self.state.clone(), self.state.index, size, write=False
                )
                if folded.version != self.state.version:
                    self.state.replace_with(folded)
                else:  # only disclosures and the like: keep the decision caches
                    self.state.index = folded.index
            return self.state.index

    def skip(self, start: int, end: int) -> None:
        """Mark the entries ``[start, end)`` folded, the caller having checked that none of them
        is of a type the registry folds: the state keeps its version and its decision caches."""
        with self._lock:
            if self._loaded and self.state.index == start:
                self.state.index = end

    def _fold_range(
        self, connection: Connection, state: LedgerState, start: int, end: int, write: bool
    ) -> LedgerState:
        """``state`` (at ``start``) with the entries ``[start, end)`` folded in."""
        if write and indexed_size(connection) != start:
            self._rebuild_before(connection, end)
            return load_state(connection, end, self.approvals_required)
        query = (
            select(store.entries_table.c.idx, store.entries_table.c.data)
            .where(store.entries_table.c.type.in_(FOLDED_TYPES))
            .where(store.entries_table.c.idx >= start)
            .where(store.entries_table.c.idx < end)
            .order_by(store.entries_table.c.idx)
        )
        for idx, data in connection.execute(query).all():
            entry = decode_entry(bytes(data))
            applied = state.apply(idx, entry.type, entry.body, entry.author)
            if applied and write:
                _write_rows(connection, state, idx, entry.type, entry.body)
        state.index = end
        if write:
            _set_indexed_size(connection, end)
        return state

    def _rebuild_before(self, connection: Connection, first: int) -> None:
        """Refill the index tables from the log entries below ``first`` (this batch's start)."""
        for table in INDEX_TABLES:
            connection.execute(delete(table))
        state = LedgerState(self.approvals_required)
        query = (
            select(store.entries_table.c.idx, store.entries_table.c.data)
            .where(store.entries_table.c.type.in_(FOLDED_TYPES))
            .where(store.entries_table.c.idx < first)
            .order_by(store.entries_table.c.idx)
        )
        for idx, data in connection.execute(query).all():
            entry = decode_entry(bytes(data))
            if state.apply(idx, entry.type, entry.body, entry.author):
                _write_rows(connection, state, idx, entry.type, entry.body)
        _set_indexed_size(connection, first)
