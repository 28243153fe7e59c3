"""What the API's resolvers call: the ledger, its index tables, and the consent recorder.

Reads run on a worker thread with their own connection (one transaction per read, so a page of
history and the entries it names agree); writes go through the log's group-commit writer, whose
hooks (consent registry, history index) refuse an entry that breaks their rules before it is
recorded. The history index runs where the log is written: in the log's own process when the
gateway runs one (``ledger.process``), else in this one. It is written while the log's writer
is idle, just after each batch, so history reads first wait for it (:meth:`read_history`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from ledger import keys, registry, store
from ledger.consent import Consent
from ledger.entries import Entry
from ledger.log import Ledger, LedgerError, LedgerUnavailable, Receipt
from ledger.process import LedgerProcess, history_index, install
from ledger.registry import LedgerState


@dataclass
class Backend:
    """The ledger as the API sees it.

    ``recorder`` is the member agency (and its signing key) that records the consents people
    give or withdraw through the citizen view; without one those mutations are refused.
    ``witnesses`` holds the configured witnesses' verifier keys (C2SP signed-note form) and
    ``quorum`` how many cosignatures make a checkpoint final.
    """

    ledger: Ledger | LedgerProcess
    approvals_required: int = 2
    recorder: tuple[str, keys.Signer] | None = None
    witnesses: Sequence[str] = ()
    quorum: int = 0
    default_consent_days: int = 365

    def __post_init__(self) -> None:
        self._engine: Engine | None = None

    async def start(self) -> None:
        """Hook the history index into the log, where it is written, and bring it up to date."""
        await install(self.ledger, history_index())
        self._engine = store.make_engine(self.ledger.url)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def read_history(self, function: Callable[[Connection], Any]) -> Any:
        """:meth:`read` once the history index holds every entry appended so far: the index
        is written while the log's writer is idle, shortly after each batch commits."""
        try:
            await self.ledger.settle()
        except LedgerError as exc:
            raise LedgerUnavailable(f"the disclosure history cannot be read: {exc}") from None
        return await self.read(function)

    async def read(self, function: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            if self._engine is None:
                raise LedgerUnavailable("the ledger is not open")
            try:
                with self._engine.connect() as connection, connection.begin():
                    return function(connection)
            except SQLAlchemyError as exc:
                raise LedgerUnavailable(f"ledger read failed: {str(exc)[:200]}") from None

        return await asyncio.to_thread(run)

    async def append(self, entries: list[Entry]) -> list[Receipt]:
        return await self.ledger.append_all(entries)

    async def pseudonym(self, subject_id: str) -> str:
        return await self.ledger.pseudonym(subject_id)

    async def state(self) -> LedgerState:
        """The consent and contract state now (from the registry's index tables when they are
        current, else folded from the log)."""
        return await self.read(lambda c: current_state(c, self.approvals_required))

    async def agency_names(self) -> dict[str, str]:
        return await self.read(agency_names)

    async def subject_consents(self, subject: str) -> list[registry.ConsentRecord]:
        """One person's consents, granted and revoked, without folding everyone else's."""
        return await self.read(lambda c: subject_consents(c, subject, self.approvals_required))


def current_state(connection: Connection, approvals_required: int) -> LedgerState:
    if _index_current(connection):
        return registry.load_state(connection, None, approvals_required)
    return registry.fold_entries(connection, None, approvals_required)


def _index_current(connection: Connection) -> bool:
    return inspect(connection).has_table(
        registry.registry_head_table.name
    ) and registry.indexed_size(connection) == store.head_size(connection)


def subject_consents(
    connection: Connection, subject: str, approvals_required: int
) -> list[registry.ConsentRecord]:
    if not _index_current(connection):
        state = registry.fold_entries(connection, None, approvals_required)
        return [r for r in state.consents.values() if r.consent.subject == subject]
    table = registry.consents_table
    records = []
    for row in connection.execute(select(table).where(table.c.subject == subject)).mappings():
        payload = row["jws"].split(".")[1]
        consent = Consent.from_payload(
            orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        )
        records.append(
            registry.ConsentRecord(
                consent,
                row["jws"],
                row["signer"],
                row["author"],
                row["granted_index"],
                row["revoked_index"],
                row["revoke_reason"],
            )
        )
    return records


def agency_names(connection: Connection) -> dict[str, str]:
    """Member agency ids to their names, as admitted on the ledger."""
    if not inspect(connection).has_table(registry.members_table.name):
        return {}
    table = registry.members_table
    return dict(connection.execute(select(table.c.member, table.c.name)).all())
