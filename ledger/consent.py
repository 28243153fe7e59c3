"""Consent artefacts: what a person agreed to, signed so that anyone can check it.

A consent follows the shape of the HL7 FHIR R5 ``Consent`` resource, reduced to what a
disclosure decision needs: who it is about (a pseudonym, never a name), who gave it (the person,
a parent, a guardian, or the legal custodian), who may receive data (agencies, agency kinds or
programmes), a base decision (permit or deny), and provisions that carve exceptions out of it.
As in FHIR R5, each level of provisions reverses the level above it: a consent that denies by
default with a provision "education data to the school" permits exactly that.

The artefact travels as a compact JWS (EdDSA) signed either by the grantor's own key or by the
recording agency attesting to a signed paper form, and the ledger stores the JWS unchanged, so
any peer or auditor re-checks the signature without trusting the gateway.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.vocabulary import AGENCY_KINDS, CATEGORIES, PURPOSES, covers

DEFAULT_CONSENT_DAYS = 365
JWS_TYPE = "accord-consent+jws"
GRANTOR_KINDS = ("self", "parent", "guardian", "custodian")

_PSEUDONYM = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
_IDENT = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class ConsentError(ValueError):
    """A consent artefact that is malformed, contradictory or not signed by whom it claims."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Model):
    """A closed time interval, both ends in UTC."""

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone (use UTC, e.g. 2026-01-01T00:00:00Z)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end <= self.start:
            raise ValueError(
                f"period ends ({_iso(self.end)}) before it starts ({_iso(self.start)})"
            )
        return self

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end

    def within(self, other: Period) -> bool:
        return other.start <= self.start and self.end <= other.end

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end


class Grantor(_Model):
    """Who gave the consent: the person, a parent, a guardian, or the legal custodian."""

    kind: Literal["self", "parent", "guardian", "custodian"]
    # An opaque reference the recording agency can resolve (never a name on the ledger).
    reference: str | None = None
    # The grantor's Ed25519 public key (base64url), when the grantor signs for themself.
    key: str | None = None


class Provision(_Model):
    """A rule that reverses the decision of the level above it, within its scope.

    An empty list means "any" for that dimension; nested provisions must be strictly narrower
    than their parent.
    """

    categories: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    # Agencies (or ``kind:<agency kind>`` / ``programme:<name>``) this provision is about.
    recipients: tuple[str, ...] = ()
    # User roles of the recipient the provision is about (e.g. "physician", "case_worker").
    roles: tuple[str, ...] = ()
    period: Period | None = None
    provisions: tuple[Provision, ...] = ()

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CATEGORIES:
                raise ValueError(f"unknown data category {name!r}")
        return _unique(value, "category")

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if code not in PURPOSES:
                raise ValueError(f"unknown purpose of use {code!r}")
        return _unique(value, "purpose")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_party(item)
        return _unique(value, "recipient")

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for role in value:
            if not _IDENT.match(role):
                raise ValueError(f"role {role!r} is not a plain identifier")
        return _unique(value, "role")


class Consent(_Model):
    """A person's consent, after FHIR R5 ``Consent``, naming the subject by pseudonym only."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    status: Literal["active"] = "active"
    subject: str
    grantor: Grantor
    grantees: tuple[str, ...] = Field(min_length=1)
    decision: Literal["permit", "deny"]
    period: Period
    provisions: tuple[Provision, ...] = ()
    regulatory_basis: tuple[str, ...] = ()
    policy: str | None = None
    # Whether the subject was an adult when consenting (FERPA: an eligible student signs alone).
    subject_adult: bool = False
    # The day the consent was given (FHIR ``Consent.date`` is a date).
    date: dt.date

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if not _PSEUDONYM.match(value):
            raise ValueError(
                "subject must be a pseudonym (8-128 characters of A-Z a-z 0-9 _ . : -), "
                "never personal data"
            )
        return value

    @field_validator("grantees")
    @classmethod
    def _grantees(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_party(item)
        return _unique(value, "grantee")

    @model_validator(mode="after")
    def _consistent(self) -> Consent:
        _check_provisions(self.provisions, parent=None, where="provision")
        return self

    # -- payload ---------------------------------------------------------------------------

    def to_payload(self) -> dict[str, Any]:
        """The JSON object that is signed: times as ISO 8601 UTC strings, empty lists omitted."""
        return _strip(self.model_dump(mode="python")) | {
            "grantor": _strip(self.grantor.model_dump()),
            "period": _period_json(self.period),
            "date": self.date.isoformat(),
            "provisions": [_provision_json(p) for p in self.provisions],
        }

    @classmethod
    def from_payload(cls, payload: Any) -> Consent:
        if not isinstance(payload, dict):
            raise ConsentError("consent payload must be a JSON object")
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise ConsentError(f"malformed consent: {_first_error(exc)}") from None

    # -- evaluation ------------------------------------------------------------------------

    def names(self, agency: str, kind: str, roles: frozenset[str]) -> tuple[bool, bool]:
        """(is the requester a grantee, is it named by agency id rather than by kind/programme)."""
        return _party_match(self.grantees, agency, kind, roles)

    def resolve(
        self,
        category: str,
        purpose: str,
        agency: str,
        kind: str,
        roles: frozenset[str],
        at: datetime,
    ) -> tuple[str, bool, bool] | None:
        """The decision this consent gives for one request, or None when it does not apply.

        Returns ``(decision, specific, names_recipient)``: ``specific`` when the deciding
        provision lists the requested category itself (not an ancestor), ``names_recipient``
        when the requester is named by agency id.
        """
        if not self.period.contains(at):
            return None
        granted, named = self.names(agency, kind, roles)
        if not granted:
            return None
        decision, specific, named_here = _resolve(
            self.provisions, self.decision, category, purpose, agency, kind, roles, at
        )
        return decision, specific, named or named_here


def _resolve(
    provisions: tuple[Provision, ...],
    decision: str,
    category: str,
    purpose: str,
    agency: str,
    kind: str,
    roles: frozenset[str],
    at: datetime,
) -> tuple[str, bool, bool]:
    for provision in provisions:
        if provision.period is not None and not provision.period.contains(at):
            continue
        if provision.categories and not any(covers(c, category) for c in provision.categories):
            continue
        if provision.purposes and purpose not in provision.purposes:
            continue
        named = False
        if provision.recipients:
            matched, named = _party_match(provision.recipients, agency, kind, roles)
            if not matched:
                continue
        if provision.roles and not roles.intersection(provision.roles):
            continue
        reversed_ = "deny" if decision == "permit" else "permit"
        inner, inner_specific, inner_named = _resolve(
            provision.provisions, reversed_, category, purpose, agency, kind, roles, at
        )
        if inner != reversed_:  # a nested exception decided
            return inner, inner_specific, inner_named or named
        return reversed_, category in provision.categories, named
    return decision, False, False


def _party_match(
    parties: tuple[str, ...], agency: str, kind: str, roles: frozenset[str]
) -> tuple[bool, bool]:
    matched = False
    for party in parties:
        if party == agency:
            return True, True
        if party.startswith("kind:"):
            matched = matched or party[5:] == kind
        elif party.startswith("programme:"):
            matched = matched or party in roles
    return matched, False


def _check_party(item: str) -> None:
    if item.startswith("kind:"):
        if item[5:] not in set(AGENCY_KINDS.values()):
            raise ValueError(f"unknown agency kind in {item!r}")
    elif item.startswith("programme:"):
        if not _IDENT.match(item[10:]):
            raise ValueError(f"programme name in {item!r} is not a plain identifier")
    elif not _IDENT.match(item) or ":" in item:
        raise ValueError(
            f"party {item!r} must be an agency id, 'kind:<agency kind>' or 'programme:<name>'"
        )


def _unique(value: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError(f"duplicate {what} in {list(value)}")
    return value


def _check_provisions(
    provisions: tuple[Provision, ...], parent: Provision | None, where: str
) -> None:
    """Refuse overlapping siblings and exceptions that do not narrow their parent."""
    for number, provision in enumerate(provisions):
        here = f"{where}[{number}]"
        if parent is not None:
            _check_narrower(provision, parent, here)
        for other_number in range(number):
            other = provisions[other_number]
            if _overlap(provision, other):
                raise ConsentError(
                    f"{here} overlaps {where}[{other_number}]: sibling provisions must not cover "
                    "the same category, purpose, recipient, role and time"
                )
        _check_provisions(provision.provisions, provision, f"{here}.provision")


def _check_narrower(child: Provision, parent: Provision, where: str) -> None:
    def fail(why: str) -> None:
        raise ConsentError(f"{where} contradicts its parent: {why}")

    if parent.categories:
        if not child.categories:
            fail("it covers every category but its parent only some")
        for name in child.categories:
            if not any(covers(p, name) for p in parent.categories):
                fail(f"category {name!r} is outside the parent's categories")
    for dimension in ("purposes", "recipients", "roles"):
        mine, theirs = getattr(child, dimension), getattr(parent, dimension)
        if theirs and (not mine or not set(mine) <= set(theirs)):
            fail(f"its {dimension} are not within the parent's {dimension}")
    if parent.period is not None and (
        child.period is None or not child.period.within(parent.period)
    ):
        fail("its period is not within the parent's period")
    same = (
        set(child.categories) == set(parent.categories)
        and set(child.purposes) == set(parent.purposes)
        and set(child.recipients) == set(parent.recipients)
        and set(child.roles) == set(parent.roles)
        and child.period == parent.period
    )
    if same:
        fail("it has exactly the parent's scope, so it would cancel the parent entirely")


def _overlap(a: Provision, b: Provision) -> bool:
    def meets(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        return not x or not y or bool(set(x) & set(y))

    categories = (
        not a.categories
        or not b.categories
        or any(covers(p, q) or covers(q, p) for p in a.categories for q in b.categories)
    )
    periods = a.period is None or b.period is None or a.period.overlaps(b.period)
    return (
        categories
        and periods
        and meets(a.purposes, b.purposes)
        and meets(a.recipients, b.recipients)
        and meets(a.roles, b.roles)
    )


# -- construction ----------------------------------------------------------------------------


def new_consent(
    *,
    id: str,
    subject: str,
    grantor: Grantor | dict[str, Any],
    grantees: list[str] | tuple[str, ...],
    decision: str = "permit",
    provisions: list[Provision | dict[str, Any]] | tuple[Provision, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    default_days: int = DEFAULT_CONSENT_DAYS,
    **extra: Any,
) -> Consent:
    """Build and check a consent; without ``end`` it expires after ``default_days``."""
    now = datetime.now(UTC).replace(microsecond=0)
    date = extra.pop("date", None) or (start or now).date()
    start = start or now
    end = end or start + timedelta(days=default_days)
    payload = {
        "id": id,
        "subject": subject,
        "grantor": grantor,
        "grantees": tuple(grantees),
        "decision": decision,
        "provisions": tuple(provisions),
        "period": {"start": start, "end": end},
        "date": date,
        **extra,
    }
    try:
        return Consent.model_validate(payload)
    except ValidationError as exc:
        raise ConsentError(f"malformed consent: {_first_error(exc)}") from None


# -- JWS ---------------------------------------------------------------------------------------


def public_key_text(key: Ed25519PublicKey) -> str:
    """An Ed25519 public key as unpadded base64url of its 32 raw bytes."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise ConsentError(f"not an Ed25519 public key: {exc}") from None


def sign_consent(consent: Consent, key: Ed25519PrivateKey, signer: str) -> str:
    """The compact JWS of ``consent``, signed by ``signer`` (an agency id or ``grantor``)."""
    if signer == "grantor" and consent.grantor.key != public_key_text(key.public_key()):
        raise ConsentError("the signing key is not the grantor key named in the consent")
    payload = orjson.dumps(consent.to_payload(), option=orjson.OPT_SORT_KEYS)
    return jwt.api_jws.PyJWS().encode(
        payload, key, algorithm="EdDSA", headers={"typ": JWS_TYPE, "kid": signer}
    )


KeyResolver = Callable[[str], Ed25519PublicKey | None] | Mapping[str, Ed25519PublicKey]


def verify_consent(token: str, keys: KeyResolver) -> tuple[Consent, str]:
    """Check a consent JWS and return ``(consent, signer)``.

    ``keys`` maps agency ids to their public keys (a mapping or a function). A JWS whose ``kid``
    is ``grantor`` is checked against the grantor key the consent itself names; only a member
    agency can record such a consent, which is how the key is bound to the person.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        raise ConsentError("consent is not a compact JWS (three base64url parts)")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.api_jws.PyJWS().decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ConsentError(f"malformed consent JWS: {exc}") from None
    if header.get("alg") != "EdDSA":
        raise ConsentError(f"consent JWS must use alg EdDSA, not {header.get('alg')!r}")
    if header.get("typ") != JWS_TYPE:
        raise ConsentError(f"consent JWS must have typ {JWS_TYPE!r}")
    signer = header.get("kid")
    if not isinstance(signer, str) or not signer:
        raise ConsentError("consent JWS names no signer (kid)")
    try:
        payload = orjson.loads(unverified["payload"])
    except orjson.JSONDecodeError:
        raise ConsentError("consent JWS payload is not JSON") from None
    consent = Consent.from_payload(payload)
    if signer == "grantor":
        if consent.grantor.key is None:
            raise ConsentError("consent is signed by its grantor but names no grantor key")
        key = public_key_from_text(consent.grantor.key)
    else:
        key = keys(signer) if callable(keys) else keys.get(signer)
        if key is None:
            raise ConsentError(f"consent is signed by {signer!r}, which is not a known member key")
    try:
        jwt.api_jws.PyJWS().decode_complete(token, key=key, algorithms=["EdDSA"])
    except jwt.InvalidSignatureError:
        raise ConsentError(
            f"consent signature does not verify with the key of {signer!r}"
        ) from None
    except jwt.PyJWTError as exc:
        raise ConsentError(f"malformed consent JWS: {exc}") from None
    return consent, signer


def consent_digest(token: str) -> str:
    """SHA-256 of the JWS, hex: a stable handle for exactly this artefact."""
    return hashlib.sha256(token.encode()).hexdigest()


# -- FHIR R5 -----------------------------------------------------------------------------------

ACTREASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
CATEGORY_SYSTEM = "https://accord.example/fhir/CodeSystem/data-category"
ROLE_SYSTEM = "https://accord.example/fhir/CodeSystem/user-role"
GRANTOR_KIND_URL = "https://accord.example/fhir/StructureDefinition/grantor-kind"
SUBJECT_ADULT_URL = "https://accord.example/fhir/StructureDefinition/subject-adult"
GRANTOR_KEY_URL = "https://accord.example/fhir/StructureDefinition/grantor-key"
AGENCY_KIND_URL = "https://accord.example/fhir/StructureDefinition/agency-kind"
PROGRAMME_URL = "https://accord.example/fhir/StructureDefinition/programme"

# HL7 v3 sensitivity codes that name one of Accord's categories.
SENSITIVITY: dict[str, str] = {
    "ETH": "health.substance_use",
    "PSYTHPN": "health.psychotherapy_notes",
    "PSY": "health.behavioral",
    "MH": "health.behavioral",
}
_SENSITIVITY_OF = {
    "health.substance_use": "ETH",
    "health.psychotherapy_notes": "PSYTHPN",
    "health.behavioral": "PSY",
}
_RECIPIENT_ROLES = {"IRCP", "PRCP"}


def consent_to_fhir(consent: Consent) -> dict[str, Any]:
    """Export as a FHIR R5 Consent resource (JSON)."""
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": consent.id,
        "status": consent.status,
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
        "subject": {"reference": f"Patient/{consent.subject}"},
        "date": consent.date.isoformat(),
        "period": _period_json(consent.period),
        "grantor": [_grantor_fhir(consent)],
        "grantee": [_party_fhir(p) for p in consent.grantees],
        "decision": consent.decision,
    }
    if consent.subject_adult:
        resource["extension"] = [{"url": SUBJECT_ADULT_URL, "valueBoolean": True}]
    if consent.regulatory_basis:
        resource["regulatoryBasis"] = [
            {"coding": [{"system": ACTCODE, "code": code}]} for code in consent.regulatory_basis
        ]
    if consent.policy:
        resource["policyBasis"] = {"uri": consent.policy}
    if consent.provisions:
        resource["provision"] = [_provision_fhir(p) for p in consent.provisions]
    return resource


def consent_from_fhir(
    resource: Any,
    *,
    subject: str | None = None,
    default_days: int = DEFAULT_CONSENT_DAYS,
    now: datetime | None = None,
) -> Consent:
    """Import a FHIR R5 Consent resource; ``subject`` overrides the Patient reference id.

    Anything Accord cannot enforce faithfully (an unknown code, a practitioner as actor, a
    status other than active) is refused rather than silently dropped.
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Consent":
        raise ConsentError("not a FHIR Consent resource (resourceType must be 'Consent')")
    where = f"Consent/{resource.get('id', '?')}"
    if resource.get("status") != "active":
        raise ConsentError(
            f"{where}: only an active consent can be recorded, not status "
            f"{resource.get('status')!r}"
        )
    decision = resource.get("decision")
    if decision not in ("permit", "deny"):
        raise ConsentError(f"{where}: decision must be 'permit' or 'deny', not {decision!r}")
    if subject is None:
        subject = _reference_id(resource.get("subject"), ("Patient",), f"{where}.subject")
    grantors = resource.get("grantor") or []
    if not isinstance(grantors, list) or len(grantors) != 1:
        raise ConsentError(f"{where}: exactly one grantor is required")
    grantor = _grantor_from_fhir(grantors[0], f"{where}.grantor[0]")
    grantees = [
        _party_from_fhir(g, f"{where}.grantee[{n}]")
        for n, g in enumerate(_list(resource, "grantee", where))
    ]
    if not grantees:
        raise ConsentError(f"{where}: at least one grantee (Organization) is required")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    date = _parse_time(resource["date"], f"{where}.date").date() if resource.get("date") else None
    period = resource.get("period") or {}
    if period.get("start"):
        start = _parse_time(period["start"], f"{where}.period.start")
    elif date is not None:
        start = datetime(date.year, date.month, date.day, tzinfo=UTC)
    else:
        start = now
    end = _parse_time(period["end"], f"{where}.period.end") if period.get("end") else None
    regulatory = []
    for n, concept in enumerate(_list(resource, "regulatoryBasis", where)):
        for coding in _codings(concept, f"{where}.regulatoryBasis[{n}]"):
            regulatory.append(coding["code"])
    policy = (resource.get("policyBasis") or {}).get("uri")
    adult = any(
        e.get("url") == SUBJECT_ADULT_URL and e.get("valueBoolean") is True
        for e in resource.get("extension") or []
    )
    provisions = [
        _provision_from_fhir(p, f"{where}.provision[{n}]")
        for n, p in enumerate(_list(resource, "provision", where))
    ]
    try:
        return new_consent(
            id=str(resource.get("id") or ""),
            subject=subject,
            grantor=grantor,
            grantees=grantees,
            decision=decision,
            provisions=provisions,
            start=start,
            end=end,
            default_days=default_days,
            date=date,
            regulatory_basis=tuple(regulatory),
            policy=policy,
            subject_adult=adult,
        )
    except ConsentError as exc:
        raise ConsentError(f"{where}: {exc}") from None


def _grantor_fhir(consent: Consent) -> dict[str, Any]:
    grantor = consent.grantor
    if grantor.kind == "self":
        reference: dict[str, Any] = {"reference": f"Patient/{consent.subject}"}
    elif grantor.kind == "custodian":
        reference = {"reference": f"Organization/{grantor.reference or 'custodian'}"}
    else:
        reference = {"reference": f"RelatedPerson/{grantor.reference or grantor.kind}"}
    extensions = [{"url": GRANTOR_KIND_URL, "valueCode": grantor.kind}]
    if grantor.key:
        extensions.append({"url": GRANTOR_KEY_URL, "valueString": grantor.key})
    return {**reference, "extension": extensions}


def _grantor_from_fhir(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        raise ConsentError(f"{where}: grantor must be a Reference")
    kind_type, _, ident = value["reference"].partition("/")
    extensions = {e.get("url"): e for e in value.get("extension") or [] if isinstance(e, dict)}
    kind = (extensions.get(GRANTOR_KIND_URL) or {}).get("valueCode")
    key = (extensions.get(GRANTOR_KEY_URL) or {}).get("valueString")
    if kind is None:
        if kind_type == "Patient":
            kind = "self"
        elif kind_type == "Organization":
            kind = "custodian"
        else:
            raise ConsentError(
                f"{where}: a {kind_type} grantor needs the grantor-kind extension "
                "(parent or guardian)"
            )
    if kind not in GRANTOR_KINDS:
        raise ConsentError(f"{where}: unknown grantor kind {kind!r}")
    return {"kind": kind, "reference": None if kind == "self" else ident or None, "key": key}


def _party_fhir(party: str) -> dict[str, Any]:
    if party.startswith("kind:"):
        return {"extension": [{"url": AGENCY_KIND_URL, "valueCode": party[5:]}]}
    if party.startswith("programme:"):
        return {"extension": [{"url": PROGRAMME_URL, "valueCode": party[10:]}]}
    return {"reference": f"Organization/{party}"}


def _party_from_fhir(value: Any, where: str) -> str:
    if not isinstance(value, dict):
        raise ConsentError(f"{where}: must be a Reference")
    for extension in value.get("extension") or []:
        if extension.get("url") == AGENCY_KIND_URL:
            return f"kind:{extension.get('valueCode')}"
        if extension.get("url") == PROGRAMME_URL:
            return f"programme:{extension.get('valueCode')}"
    return _reference_id(value, ("Organization",), where)


def _provision_fhir(provision: Provision) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if provision.period:
        out["period"] = _period_json(provision.period)
    actors = [
        {"role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]}, "reference": ref}
        for ref in (_party_fhir(p) for p in provision.recipients)
    ]
    actors += [{"role": {"coding": [{"system": ROLE_SYSTEM, "code": r}]}} for r in provision.roles]
    if actors:
        out["actor"] = actors
    if provision.purposes:
        out["purpose"] = [{"system": ACTREASON, "code": code} for code in provision.purposes]
    labels = []
    for name in provision.categories:
        if name in _SENSITIVITY_OF:
            labels.append({"system": ACTCODE, "code": _SENSITIVITY_OF[name]})
        else:
            labels.append({"system": CATEGORY_SYSTEM, "code": name})
    if labels:
        out["securityLabel"] = labels
    if provision.provisions:
        out["provision"] = [_provision_fhir(p) for p in provision.provisions]
    return out


def _provision_from_fhir(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConsentError(f"{where}: must be an object")
    unsupported = set(value) - {
        "period",
        "actor",
        "purpose",
        "securityLabel",
        "provision",
        "action",
    }
    if unsupported:
        raise ConsentError(f"{where}: cannot enforce {', '.join(sorted(unsupported))}")
    for n, action in enumerate(value.get("action") or []):
        for coding in _codings(action, f"{where}.action[{n}]"):
            if coding["code"] not in ("access", "disclose", "use", "collect", "correct"):
                raise ConsentError(
                    f"{where}.action[{n}]: unknown consent action {coding['code']!r}"
                )
    out: dict[str, Any] = {"categories": [], "purposes": [], "recipients": [], "roles": []}
    if value.get("period"):
        out["period"] = {
            "start": _parse_time(value["period"].get("start"), f"{where}.period.start"),
            "end": _parse_time(value["period"].get("end"), f"{where}.period.end"),
        }
    for n, actor in enumerate(value.get("actor") or []):
        here = f"{where}.actor[{n}]"
        codes = _codings(actor.get("role"), f"{here}.role") if actor.get("role") else []
        roles = [c["code"] for c in codes if c.get("system") == ROLE_SYSTEM]
        if roles:
            out["roles"].extend(roles)
            continue
        if not any(c["code"] in _RECIPIENT_ROLES for c in codes):
            raise ConsentError(f"{here}: actor role must be IRCP or PRCP (information recipient)")
        out["recipients"].append(_party_from_fhir(actor.get("reference"), f"{here}.reference"))
    for n, coding in enumerate(value.get("purpose") or []):
        here = f"{where}.purpose[{n}]"
        if not isinstance(coding, dict) or coding.get("system") != ACTREASON:
            raise ConsentError(f"{here}: purpose must be a v3-ActReason coding")
        if coding.get("code") not in PURPOSES:
            raise ConsentError(f"{here}: unknown purpose of use {coding.get('code')!r}")
        out["purposes"].append(coding["code"])
    for n, coding in enumerate(value.get("securityLabel") or []):
        here = f"{where}.securityLabel[{n}]"
        system, code = (coding or {}).get("system"), (coding or {}).get("code")
        if system == ACTCODE and code in SENSITIVITY:
            out["categories"].append(SENSITIVITY[code])
        elif system == CATEGORY_SYSTEM and code in CATEGORIES:
            out["categories"].append(code)
        else:
            raise ConsentError(f"{here}: unknown data category {system}|{code}")
    out["provisions"] = [
        _provision_from_fhir(p, f"{where}.provision[{n}]")
        for n, p in enumerate(value.get("provision") or [])
    ]
    return out


def _codings(concept: Any, where: str) -> list[dict[str, Any]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list) or not codings:
        raise ConsentError(f"{where}: expected a CodeableConcept with codings")
    for coding in codings:
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            raise ConsentError(f"{where}: every coding needs a code")
    return codings


def _list(resource: dict[str, Any], key: str, where: str) -> list[Any]:
    value = resource.get(key) or []
    if not isinstance(value, list):
        raise ConsentError(f"{where}.{key} must be a list")
    return value


def _reference_id(value: Any, types: tuple[str, ...], where: str) -> str:
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or "/" not in reference:
        raise ConsentError(f"{where}: expected a Reference to {' or '.join(types)}")
    kind, _, ident = reference.partition("/")
    if kind not in types or not ident:
        raise ConsentError(
            f"{where}: expected a Reference to {' or '.join(types)}, got {reference!r}"
        )
    return ident


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ConsentError(f"{where}: expected a date or dateTime")
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConsentError(f"{where}: {value!r} is not a date or dateTime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _period_json(period: Period) -> dict[str, str]:
    return {"start": _iso(period.start), "end": _iso(period.end)}


def _provision_json(provision: Provision) -> dict[str, Any]:
    out = _strip(
        {
            "categories": list(provision.categories),
            "purposes": list(provision.purposes),
            "recipients": list(provision.recipients),
            "roles": list(provision.roles),
        }
    )
    if provision.period:
        out["period"] = _period_json(provision.period)
    if provision.provisions:
        out["provisions"] = [_provision_json(p) for p in provision.provisions]
    return out


def _strip(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in values.items()
        if v not in ((), [], None, False)
    }


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "consent"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"
