"""A small member network for consent tests: keys, entries, a folded state, a real log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger import keys
from ledger.consent import Consent, new_consent, sign_consent
from ledger.contracts.model import Contract, starter_contract
from ledger.entries import Entry, new_entry, sign_entry
from ledger.registry import LedgerState
from ledger.vocabulary import AGENCY_KINDS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def pseudonym(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass
class Network:
    """Four member agencies with keys, and the entries they write."""

    signers: dict[str, keys.Signer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for agency in AGENCY_KINDS:
            self.signers[agency] = keys.generate(f"{agency}.accord.example")

    def signed(self, type: str, body: dict[str, Any], author: str) -> Entry:
        return sign_entry(new_entry(type, body, author=author), self.signers[author])

    def admissions(self) -> list[Entry]:
        return [
            self.signed(
                "member.admitted",
                {
                    "member": a,
                    "name": a.title(),
                    "kind": k,
                    "key": keys.public_b64(self.signers[a]),
                },
                a,
            )
            for a, k in AGENCY_KINDS.items()
        ]

    def proposal(self, contract: Contract, author: str = "health") -> Entry:
        return self.signed("contract.proposed", contract.body(), author)

    def approval(self, contract: Contract, member: str) -> Entry:
        return self.signed("contract.approved", {"hash": contract.hash, "member": member}, member)

    def grant(self, consent: Consent, recorder: str = "health", signer: str | None = None) -> Entry:
        jws = sign_consent(consent, self.signers[signer or recorder].private, signer or recorder)
        body = {"consent_id": consent.id, "subject": consent.subject, "jws": jws}
        return self.signed("consent.granted", body, recorder)

    def revoke(
        self, consent: Consent, recorder: str = "health", reason: str = "withdrawn"
    ) -> Entry:
        body = {"consent_id": consent.id, "subject": consent.subject, "reason": reason}
        return self.signed("consent.revoked", body, recorder)


def activation(contract: Contract, approvals: list[int]) -> Entry:
    return new_entry("contract.activated", {"hash": contract.hash, "approvals": approvals})


def consent(
    id: str = "c-1",
    subject: str | None = None,
    grantees: tuple[str, ...] = ("health",),
    **extra: Any,
) -> Consent:
    extra.setdefault("grantor", {"kind": "self"})
    extra.setdefault("start", NOW - timedelta(days=1))
    return new_consent(id=id, subject=subject or pseudonym("alice"), grantees=grantees, **extra)


class Folded:
    """A :class:`LedgerState` fed entry by entry, as the registry would, without a database."""

    def __init__(self, approvals_required: int = 2) -> None:
        self.state = LedgerState(approvals_required)
        self.entries: list[Entry] = []

    def add(self, entry: Entry, strict: bool = True) -> int:
        index = len(self.entries)
        self.state.apply(index, entry.type, entry.body, entry.author, strict=strict)
        self.entries.append(entry)
        return index


def starter_network(approvals_required: int = 2) -> tuple[Network, Folded, Contract]:
    """Members admitted and the starter contract active (approved by health and education)."""
    network, folded, contract = Network(), Folded(approvals_required), starter_contract()
    for entry in network.admissions():
        folded.add(entry)
    folded.add(network.proposal(contract))
    members = list(AGENCY_KINDS)[:approvals_required]
    approvals = [folded.add(network.approval(contract, m)) for m in members]
    folded.add(activation(contract, approvals))
    return network, folded, contract


ORIGIN = "accord.example/ledger"


class Live:
    """A real log with the registry hooked in, and the member network writing to it."""

    def __init__(self, url: str, approvals_required: int = 2) -> None:
        from ledger.registry import Registry

        self.url = url
        self.network = Network()
        self.registry = Registry(approvals_required)
        self.log_signer = keys.generate(ORIGIN)
        self.ledger: Any = None

    async def __aenter__(self) -> Live:
        from ledger.log import open_ledger

        self._context = open_ledger(
            self.url, self.log_signer, ORIGIN, on_commit=[self.registry.on_commit]
        )
        self.ledger = await self._context.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._context.__aexit__(*exc)

    async def append(self, entry: Entry) -> int:
        return (await self.ledger.append(entry)).index

    async def start(self, contract: Contract | None = None) -> Contract:
        """Admit the members and activate ``contract`` (the starter library by default)."""
        contract = contract or starter_contract()
        await self.ledger.append_all(self.network.admissions())
        await self.append(self.network.proposal(contract))
        approvals = [
            await self.append(self.network.approval(contract, m)) for m in ("health", "education")
        ]
        await self.append(activation(contract, approvals))
        return contract

    def read(self, function: Any) -> Any:
        from ledger import store

        engine = store.make_engine(self.url)
        try:
            with engine.connect() as connection, connection.begin():
                return function(connection)
        finally:
            engine.dispose()
