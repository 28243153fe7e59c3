"""Ledger entries: what may be written, by whom, in which shape.

An entry is ``{v, type, ts, author, body}`` in canonical JSON, plus ``sig`` when a party other
than the log operator wrote it. The signature covers the canonical bytes *without* ``sig``, so
anyone holding the author's key can check it from the entry alone. Every body has a typed model
with extra fields forbidden: an entry the model refuses is never appended, and a verifier
re-checks the same models, so a row edited into a shape the writer would have refused is caught.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ledger import canonical, keys
from ledger.vocabulary import AGENCY_KINDS

VERSION = 1
OPERATOR = "operator"


class EntryError(ValueError):
    """An entry that may not be appended; the message names the field and the rule."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry. ``ts`` is Unix time in milliseconds; ``sig`` is base64 or None."""

    v: int
    type: str
    ts: int
    author: str
    body: dict[str, Any]
    sig: str | None = None
    # Canonical bytes from the last successful check; lets append skip re-validating an entry
    # that has not changed since (a changed entry encodes differently and is checked again).
    _checked: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def checked_bytes(self) -> bytes:
        """The canonical bytes of a valid entry (raises :class:`EntryError` otherwise)."""
        value = self.to_json()
        if self._checked is not None:
            try:
                if canonical.encode_checked(value) == self._checked:
                    return self._checked
            except (TypeError, ValueError):
                pass
        check_shape(self)
        data = canonical.encode_checked(value)
        object.__setattr__(self, "_checked", data)
        return data

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "type": self.type,
            "ts": self.ts,
            "author": self.author,
            "body": self.body,
        }

    def signing_bytes(self) -> bytes:
        """The bytes the author signs: the canonical entry without ``sig``."""
        return canonical.encode(self.unsigned())

    def encode(self) -> bytes:
        """The canonical bytes stored in the log and hashed into the leaf."""
        value = self.unsigned()
        if self.sig is not None:
            value["sig"] = self.sig
        return canonical.encode(value)

    def encode_checked(self) -> bytes:
        """:meth:`encode` for an entry that :func:`check_shape` has accepted."""
        value = self.unsigned()
        if self.sig is not None:
            value["sig"] = self.sig
        return canonical.encode_checked(value)

    def to_json(self) -> dict[str, Any]:
        value = self.unsigned()
        if self.sig is not None:
            value["sig"] = self.sig
        return value


# ---------------------------------------------------------------------------------------------
# Body models. Strict: no type coercion, no extra fields, every field required.


# Every integer in a body fits the canonical signed 64-bit range, and no field admits floats or
# free-form values, so a body the model accepts always has a canonical encoding.
Int64 = Annotated[int, Field(ge=canonical.INT_MIN, le=canonical.INT_MAX)]
Index = Annotated[int, Field(ge=0, le=canonical.INT_MAX)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def _nonempty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


class MemberAdmitted(_Body):
    member: str
    name: str
    kind: str
    key: str  # base64 raw Ed25519 public key of the member

    _member = field_validator("member", "name")(_nonempty)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        kinds = sorted(set(AGENCY_KINDS.values()))
        if value not in kinds:
            raise ValueError(f"unknown agency kind {value!r}; known: {', '.join(kinds)}")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        keys.parse_public_b64(value)
        return value


class MemberKeyRotated(_Body):
    member: str
    key: str

    _key = field_validator("key")(MemberAdmitted._key.__func__)  # type: ignore[attr-defined]


class Requester(_Body):
    agency: str
    user: str  # a hash of the user id, never the id itself


class Basis(_Body):
    consents: list[str]
    policies: list[str]


class Disclosure(_Body):
    request_id: str
    requester: Requester
    purpose: str
    subject: str
    provider: str
    fields: list[str]
    categories: list[str]
    basis: Basis
    contract: str
    decided_at: Int64
    query_hash: str
    obligations: list[str]
    # What the decision depended on beyond the request's purpose and categories, so that replay
    # can decide again: the requester's roles, a court order's reference, and the number of
    # ledger entries the consent and contract state had folded when it decided.
    roles: list[str] = []
    court_order: str = ""
    ledger_index: Int64 | None = None


class AccessDenied(_Body):
    request_id: str
    requester: Requester
    purpose: str
    subject: str
    provider: str
    fields: list[str]
    categories: list[str]
    code: str
    rule: str
    reason: str
    silent: bool
    contract: str
    decided_at: Int64
    query_hash: str
    # What the decision depended on beyond the request's purpose and categories, so that replay
    # can decide again: the requester's roles, a court order's reference, and the number of
    # ledger entries the consent and contract state had folded when it decided.
    roles: list[str] = []
    court_order: str = ""
    ledger_index: Int64 | None = None


class BreakGlass(_Body):
    request_id: str
    requester: Requester
    purpose: str
    subject: str
    provider: str
    fields: list[str]
    categories: list[str]
    justification: str
    contract: str
    decided_at: Int64
    query_hash: str
    # What the decision depended on beyond the request's purpose and categories, so that replay
    # can decide again: the requester's roles, a court order's reference, and the number of
    # ledger entries the consent and contract state had folded when it decided.
    roles: list[str] = []
    court_order: str = ""
    ledger_index: Int64 | None = None

    _justification = field_validator("justification")(_nonempty)


class BreakGlassReviewed(_Body):
    entry: Index
    reviewer: str
    outcome: Literal["justified", "unjustified"]
    note: str


# ---- Consent and contract bodies ------------------------------------------------------------
# Shaped together with the consent registry and the contract engine, which build on them.


def _contract_hash(value: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("must be a contract hash: 64 lowercase hex digits (SHA-256)")
    return value


class ContractProposed(_Body):
    contract: str
    version: Annotated[int, Field(ge=1, le=canonical.INT_MAX)]
    hash: str
    policies: str
    schema_: str = Field(alias="schema")

    _hash = field_validator("hash")(_contract_hash)
    _contract = field_validator("contract", "policies")(_nonempty)


class ContractApproved(_Body):
    hash: str
    member: str

    _hash = field_validator("hash")(_contract_hash)


class ContractActivated(_Body):
    hash: str
    approvals: list[Index]

    _hash = field_validator("hash")(_contract_hash)

    @field_validator("approvals")
    @classmethod
    def _approvals(cls, value: list[int]) -> list[int]:
        if not value or len(set(value)) != len(value):
            raise ValueError("must list the approving entries, each once")
        return value


class ConsentGranted(_Body):
    consent_id: str
    subject: str  # pseudonym
    jws: str

    _ids = field_validator("consent_id", "subject", "jws")(_nonempty)


class ConsentRevoked(_Body):
    consent_id: str
    subject: str
    reason: str

    _ids = field_validator("consent_id", "subject", "reason")(_nonempty)


# ---- End of consent and contract bodies ------------------------------------------------------

BODIES: dict[str, type[_Body]] = {
    "member.admitted": MemberAdmitted,
    "member.key_rotated": MemberKeyRotated,
    "contract.proposed": ContractProposed,
    "contract.approved": ContractApproved,
    "contract.activated": ContractActivated,
    "consent.granted": ConsentGranted,
    "consent.revoked": ConsentRevoked,
    "disclosure": Disclosure,
    "access.denied": AccessDenied,
    "break_glass": BreakGlass,
    "break_glass.reviewed": BreakGlassReviewed,
}

# Written by member agencies and signed by them; everything else is written by the operator and
# authenticated by the signed checkpoint that covers it.
SIGNED_TYPES = frozenset(
    {
        "member.admitted",
        "member.key_rotated",
        "contract.proposed",
        "contract.approved",
        "consent.granted",
        "consent.revoked",
    }
)

_ENTRY_KEYS = frozenset({"v", "type", "ts", "author", "body"})


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_entry(
    type: str, body: dict[str, Any], author: str = OPERATOR, ts: int | None = None
) -> Entry:
    """A checked, unsigned entry; sign it with :func:`sign_entry` if its type needs it."""
    entry = Entry(VERSION, type, now_ms() if ts is None else ts, author, body)
    check_shape(entry, require_sig=False)
    if type not in SIGNED_TYPES:
        object.__setattr__(entry, "_checked", entry.encode_checked())
    return entry


def operator_entry(type: str, body: dict[str, Any], ts: int | None = None) -> Entry:
    """An entry the log operator writes, not checked here: appending checks it, once, in
    whichever process writes the log (the gateway's request path leaves that work to it)."""
    if type in SIGNED_TYPES:
        raise EntryError(f"{type} entries are signed by their author, not the operator")
    return Entry(VERSION, type, now_ms() if ts is None else ts, OPERATOR, body)


def sign_entry(entry: Entry, key: keys.Signer | Ed25519PrivateKey) -> Entry:
    """``entry`` with ``sig`` set to the author's Ed25519 signature of its canonical bytes."""
    if entry.type not in SIGNED_TYPES:
        raise EntryError(f"{entry.type} entries are written by the operator and are not signed")
    signature = key.sign(entry.signing_bytes())
    signed = replace(entry, sig=base64.b64encode(signature).decode())
    signed.checked_bytes()
    return signed


def check_shape(entry: Entry, require_sig: bool = True) -> None:
    """Refuse an entry whose envelope or body is malformed (signatures are checked elsewhere)."""
    if type(entry.v) is not int or entry.v != VERSION:
        raise EntryError(f"entry version {entry.v!r} is not supported (expected {VERSION})")
    model = BODIES.get(entry.type) if type(entry.type) is str else None
    if model is None:
        raise EntryError(f"unknown entry type {entry.type!r}; known: {', '.join(BODIES)}")
    if type(entry.ts) is not int or not 0 <= entry.ts <= canonical.INT_MAX:
        raise EntryError(f"{entry.type}: ts must be a non-negative integer of milliseconds")
    if entry.sig is not None and type(entry.sig) is not str:
        raise EntryError(f"{entry.type}: sig must be a base64 string")
    if type(entry.author) is not str or not entry.author:
        raise EntryError(f"{entry.type}: author must be a non-empty string")
    if type(entry.body) is not dict:
        raise EntryError(f"{entry.type}: body must be an object")
    try:
        model.model_validate(entry.body)
    except ValidationError as exc:
        raise EntryError(f"{entry.type}: {_first_error(exc)}") from None
    if entry.type in SIGNED_TYPES:
        if entry.author == OPERATOR:
            raise EntryError(
                f"{entry.type} must be authored and signed by a member, not the operator"
            )
        if entry.sig is None:
            if require_sig:
                raise EntryError(f"{entry.type} by {entry.author} is not signed")
        else:
            signature_bytes(entry)
        if entry.type.startswith("member.") and entry.body["member"] != entry.author:
            raise EntryError(f"{entry.type}: author {entry.author!r} is not body.member")
        if entry.type == "contract.approved" and entry.body["member"] != entry.author:
            raise EntryError(f"contract.approved: author {entry.author!r} is not body.member")
    else:
        if entry.author != OPERATOR:
            raise EntryError(
                f"{entry.type} entries are written by the operator, not {entry.author!r}"
            )
        if entry.sig is not None:
            raise EntryError(
                f"{entry.type} entries carry no sig; the checkpoint authenticates them"
            )


def signature_bytes(entry: Entry) -> bytes:
    try:
        raw = base64.b64decode(entry.sig or "", validate=True)
    except (binascii.Error, ValueError):
        raise EntryError(f"{entry.type} by {entry.author}: sig is not valid base64") from None
    if len(raw) != 64:
        raise EntryError(f"{entry.type} by {entry.author}: sig is not a 64-byte Ed25519 signature")
    return raw


def decode_entry(data: bytes) -> Entry:
    """Parse and check the stored bytes of an entry (strict canonical JSON, known shape)."""
    try:
        value = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise EntryError(f"entry is not canonical JSON: {exc}") from None
    if type(value) is not dict:
        raise EntryError("entry must be a JSON object")
    names = set(value)
    missing = _ENTRY_KEYS - names
    extra = names - _ENTRY_KEYS - {"sig"}
    if missing:
        raise EntryError(f"entry lacks {', '.join(sorted(missing))}")
    if extra:
        raise EntryError(f"entry has unknown fields {', '.join(sorted(extra))}")
    sig = value.get("sig")
    if "sig" in value and type(sig) is not str:
        raise EntryError("entry sig must be a base64 string")
    entry = Entry(value["v"], value["type"], value["ts"], value["author"], value["body"], sig)
    check_shape(entry)
    return entry


def from_json(value: Any) -> Entry:
    """An entry from its JSON object form (as exported or sent over HTTP), checked."""
    return decode_entry(canonical.encode(value))


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"body.{where}: {error['msg']}" if where else error["msg"]
