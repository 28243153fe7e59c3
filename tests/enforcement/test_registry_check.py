"""The registry check before decisions: one per turn of the event loop, and every commit that
finished before a turn is seen by the decisions made in it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.demo_idp import DemoIdentityProvider
from app.enforcement.service import ledger_process, open_enforcement
from app.server import build_gateway
from app.settings import Settings
from tests.enforcement.world import NOTABLE, ORIGIN

pytestmark = pytest.mark.anyio

PERSON = NOTABLE["no_substance_use"]


def _blocking(function, *args):
    """Run ``function`` (another writer: it runs a loop of its own) in another thread and wait
    for it without yielding the event loop, so that its commit happens inside the current
    turn."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # re-raised in the test's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


async def test_one_check_serves_a_turn_and_the_next_turn_sees_what_committed(
    data_dir, agencies, ledgered
):
    granted = _blocking(ledgered.grant, PERSON, ("human_services",))
    path = data_dir / "supergraph.graphql"
    path.write_text(agencies.supergraph, encoding="utf-8")
    settings = Settings(
        data_dir=data_dir,
        supergraph=path,
        issuers=DemoIdentityProvider(data_dir).issuers(),
        log_origin=ORIGIN,
    )
    ledger = ledger_process(settings)
    try:
        async with open_enforcement(settings, build_gateway(settings), ledger) as enforcement:
            state = enforcement.registry.state
            assert state.consents[granted.id].revoked_index is None

            enforcement.sync_registry()
            _blocking(ledgered.revoke, granted, "human_services")
            enforcement.sync_registry()  # same turn: the check already made serves it
            assert enforcement.registry.state.consents[granted.id].revoked_index is None

            await asyncio.sleep(0)  # a new turn: whatever committed before it is folded
            enforcement.sync_registry()
            assert enforcement.registry.state.consents[granted.id].revoked_index is not None

            # Another thread has no turn to share, even while the loop's check stands: it
            # checks every time.
            folded = enforcement.registry.state.index
            _blocking(ledgered.grant, PERSON, ("health",))
            assert enforcement._checked_on == threading.get_ident()
            _blocking(enforcement.sync_registry)  # in the same turn, from another thread
            assert enforcement.registry.state.index > folded
    finally:
        await ledger.close()
