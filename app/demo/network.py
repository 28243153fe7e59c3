"""The demo network's founding entries: members, the starter contracts and a few hundred consents.

Everything here is written through the real ledger, signed the way the architecture asks: each
member agency signs its own admission, proposal, approvals and the consents it records (a
consent is a JWS by the recording agency, attesting to the person's signed form), and the log
operator writes the activation once the configured number of members approved. Each step
first looks at what the ledger already holds, so a second run writes nothing and a run that
was interrupted half-way finishes the job instead of duplicating it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.demo import shown_url
from app.settings import Settings
from examples.agencies.registry import TITLES
from examples.people import Population, person_id
from ledger import keys, pseudonym, store
from ledger.consent import ConsentError, new_consent, sign_consent
from ledger.contracts.activation import activation_entry
from ledger.contracts.model import Contract, ContractError, starter_contract
from ledger.entries import Entry, EntryError, new_entry, sign_entry
from ledger.log import LedgerError, open_ledger
from ledger.registry import LedgerState, Registry, StateError
from ledger.vocabulary import AGENCY_KINDS

# How many synthetic people (P000000 onwards) the demo records a consent for.
CONSENT_PEOPLE = 300


class DemoError(Exception):
    """A demo set-up failure, worded as one line that says what to do."""


@dataclass(frozen=True, slots=True)
class PlannedConsent:
    """One consent the demo records: who it is about, who records it, what it permits."""

    id: str
    person: str
    recorder: str
    grantees: tuple[str, ...]
    grantor: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    adult: bool


@dataclass(frozen=True, slots=True)
class NetworkState:
    """What the ledger holds after :func:`bootstrap`, and what this run added."""

    written: int
    entries: int
    members: tuple[str, ...]
    contract: str
    approvals: tuple[str, ...]
    consents: int


def planned_consents(people: Population, count: int = CONSENT_PEOPLE) -> list[PlannedConsent]:
    """The demo's consents: a deterministic mix, so sample queries show both outcomes.

    Every person gets one consent that permits a few categories and leaves the rest withheld:
    health care (identity and health data to the health department), care coordination
    (health data and benefits to health and human services), human services casework, and for
    the fourth kind either a parent's FERPA consent for a child's school records or an adult's
    consent to the courts.
    """
    planned = []
    for index in range(min(count, len(people))):
        pid = person_id(index)
        adult = not people.person(pid).is_minor
        grantor = "self" if adult else "parent"
        kind = index % 4
        if kind == 0:
            grantees, categories = ("health",), ("identity", "health")
            purposes = ("TREAT", "COC")
        elif kind == 1:
            grantees = ("health", "human_services")
            categories = ("identity", "health", "human_services.benefits")
            purposes = ("TREAT", "COC", "CAREMGT")
        elif kind == 2:
            grantees, categories = ("human_services",), ("identity", "human_services")
            purposes = ("COC", "CAREMGT")
        elif not adult:
            grantees, categories = ("human_services", "health"), ("identity", "education")
            purposes = ("COC", "TREAT")
        else:
            grantees, categories, purposes = ("courts",), ("identity", "court"), ("HLEGAL",)
        planned.append(
            PlannedConsent(
                id=f"demo-{pid}",
                person=pid,
                recorder=grantees[0],
                grantees=grantees,
                grantor=grantor,
                categories=categories,
                purposes=purposes,
                adult=adult,
            )
        )
    return planned


def member_key_dir(data_dir: Path) -> Path:
    """Where member agencies' keys live; the same place ``accord contracts admit`` uses."""
    return data_dir / "keys" / "members"


def bootstrap(
    settings: Settings,
    people: Population,
    consent_people: int = CONSENT_PEOPLE,
    contract: Contract | None = None,
) -> NetworkState:
    """Bring the ledger to the demo's founding state; returns what it holds afterwards.

    ``contract`` is the one to have active (the starter library by default); when the ledger
    has another one active, this one is proposed, approved and activated in its place."""
    members = tuple(AGENCY_KINDS)
    required = settings.contract_approvals_required
    if required > len(members):
        raise DemoError(
            f"contract_approvals_required is {required} but the demo network has "
            f"{len(members)} members; set it to {len(members)} or less"
        )
    try:
        log_key = keys.load_or_create(settings.data_dir / "keys", "log", settings.log_origin)
        signers = {
            member: keys.load_or_create(member_key_dir(settings.data_dir), member, member)
            for member in members
        }
    except (keys.KeyFormatError, OSError) as exc:
        raise DemoError(f"{exc} (or start fresh with --reset)") from None
    planned = planned_consents(people, consent_people)
    try:
        contract = contract or starter_contract()
        subjects = _pseudonyms(settings.ledger_dsn, [p.person for p in planned])
        return asyncio.run(_write(settings, log_key, signers, contract, planned, subjects))
    except (StateError, EntryError, ConsentError, ContractError) as exc:
        raise DemoError(
            f"the ledger refused a demo entry ({exc}); start fresh with --reset"
        ) from None
    except (LedgerError, store.StoreError, SQLAlchemyError) as exc:
        raise DemoError(
            f"cannot use the ledger at {shown_url(settings.ledger_dsn)} ({_first_line(exc)}); "
            "check ledger_url or start fresh with --reset"
        ) from None


def _pseudonyms(url: str, people: list[str]) -> dict[str, str]:
    engine = store.make_engine(url)
    try:
        with engine.begin() as connection:
            store.create_schema(connection)
            return {
                pid: pseudonym.pseudonym(pid, pseudonym.secret_for(connection, pid))
                for pid in people
            }
    finally:
        engine.dispose()


async def _write(
    settings: Settings,
    log_key: keys.Signer,
    signers: dict[str, keys.Signer],
    contract: Contract,
    planned: list[PlannedConsent],
    subjects: dict[str, str],
) -> NetworkState:
    registry = Registry(settings.contract_approvals_required)
    written = 0
    async with open_ledger(
        settings.ledger_dsn, log_key, settings.log_origin, on_commit=[registry.on_commit]
    ) as ledger:
        await asyncio.to_thread(registry.load_from, settings.ledger_dsn)
        state = registry.state

        async def append(entries: list[Entry]) -> None:
            nonlocal written
            if entries:
                await ledger.append_all(entries)
                written += len(entries)

        await append(_founding(state, signers, contract))
        if state.active is None or state.active.contract.hash != contract.hash:
            await append([activation_entry(state, contract.hash)])
        await append(_consents(state, signers, planned, subjects, settings.default_consent_days))
        record = state.contracts[contract.hash]
        recorded = sum(1 for p in planned if p.id in state.consents)
        return NetworkState(
            written=written,
            entries=ledger.size,
            members=tuple(state.members),
            contract=contract.hash,
            approvals=tuple(sorted(record.approvals, key=list(signers).index)),
            consents=recorded,
        )


def _founding(
    state: LedgerState, signers: dict[str, keys.Signer], contract: Contract
) -> list[Entry]:
    """Admissions of members not yet admitted, the proposal and the approvals still missing."""
    entries = []
    for member, signer in signers.items():
        if member in state.members:
            if state.members[member].key != signer.public:
                raise DemoError(
                    f"member {member!r} is admitted on the ledger with another key than "
                    f"keys/members/{member}.key in the data directory; start fresh with --reset"
                )
            continue
        body = {
            "member": member,
            "name": TITLES.get(member, member),
            "kind": AGENCY_KINDS[member],
            "key": keys.public_b64(signer),
        }
        entries.append(sign_entry(new_entry("member.admitted", body, author=member), signer))
    active = state.active is not None and state.active.contract.hash == contract.hash
    if active:
        return entries
    proposer = next(iter(signers))
    if contract.hash not in state.contracts:
        entries.append(
            sign_entry(
                new_entry("contract.proposed", contract.body(), author=proposer),
                signers[proposer],
            )
        )
    approved = state.contracts[contract.hash].approvals if contract.hash in state.contracts else {}
    for member in list(signers)[: state.approvals_required]:
        if member not in approved:
            body = {"hash": contract.hash, "member": member}
            entry = new_entry("contract.approved", body, author=member)
            entries.append(sign_entry(entry, signers[member]))
    return entries


def _consents(
    state: LedgerState,
    signers: dict[str, keys.Signer],
    planned: list[PlannedConsent],
    subjects: dict[str, str],
    days: int,
) -> list[Entry]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    entries = []
    for plan in planned:
        if plan.id in state.consents:
            continue
        artefact = new_consent(
            id=plan.id,
            subject=subjects[plan.person],
            grantor={"kind": plan.grantor},
            grantees=list(plan.grantees),
            # Deny by default; one provision permits exactly the named categories and purposes.
            decision="deny",
            provisions=[{"categories": list(plan.categories), "purposes": list(plan.purposes)}],
            start=start,
            default_days=days,
            subject_adult=plan.adult,
        )
        signer = signers[plan.recorder]
        body: dict[str, Any] = {
            "consent_id": artefact.id,
            "subject": artefact.subject,
            "jws": sign_consent(artefact, signer.private, plan.recorder),
        }
        entries.append(sign_entry(new_entry("consent.granted", body, author=plan.recorder), signer))
    return entries


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
