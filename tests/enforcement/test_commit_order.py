"""Consent changes become visible to decisions only once their batch is durable.

The registry folds a batch into a staged copy inside the log's transaction and publishes it
after the commit; a batch that fails leaves the live state, and every decision, as it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.log import LedgerUnavailable, open_ledger
from tests.consent.network import NOW, ORIGIN, Live, consent, pseudonym

pytestmark = pytest.mark.anyio

ALICE = pseudonym("alice")


def benefits(subject: str) -> DecisionRequest:
    return DecisionRequest(
        "education", "school", "u", (), "COC", subject, "human_services", "human_services.benefits"
    )


class RefuseRevocations:
    """A commit hook after the registry's that fails any batch holding a revocation, and notes
    what a decision said while that batch was staged but not committed."""

    def __init__(self, engine_of: Any) -> None:
        self.engine_of = engine_of
        self.seen_while_staged: list[bool] = []
        self.active = True

    def __call__(self, connection: Any, committed: list[Any]) -> None:
        if self.active and any(c.entry.type == "consent.revoked" for c in committed):
            engine = self.engine_of()
            self.seen_while_staged.append(engine.decide([benefits(ALICE)], at=NOW)[0].permit)
            raise RuntimeError("the store refuses this batch")


async def test_a_failed_batch_leaves_the_decision_unchanged(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    live = Live(url)
    engine = DecisionEngine(live.registry.state)
    refuse = RefuseRevocations(lambda: engine)
    async with open_ledger(
        url, live.log_signer, ORIGIN, on_commit=[live.registry.on_commit, refuse]
    ) as ledger:
        live.ledger = ledger
        await live.start()
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        assert engine.decide([benefits(ALICE)], at=NOW)[0].permit
        size, version = ledger.size, live.registry.state.version

        with pytest.raises(LedgerUnavailable):
            await live.append(live.network.revoke(granted, recorder="education"))

        # The registry had staged the revocation when the batch failed; nobody saw it.
        assert refuse.seen_while_staged == [True]
        assert ledger.size == size
        assert live.registry.state.index == size
        assert live.registry.state.version == version
        assert live.registry.state.consents["c-1"].revoked_index is None
        assert engine.decide([benefits(ALICE)], at=NOW)[0].permit
        # The next batch folds from the live state, which never held the failed revocation.
        await live.append(live.network.grant(consent("c-2", subject=ALICE, grantees=("health",))))
        assert live.registry.state.consents["c-1"].revoked_index is None
        assert engine.decide([benefits(ALICE)], at=NOW)[0].permit

        # Once the store accepts it, the same revocation changes the decision as soon as the
        # append returns.
        refuse.active = False
        revoked = await live.append(live.network.revoke(granted, recorder="education"))
        assert live.registry.state.consents["c-1"].revoked_index == revoked
        assert not engine.decide([benefits(ALICE)], at=NOW)[0].permit


async def test_after_commit_hooks_run_before_the_receipt_is_released(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    live = Live(url)
    seen: list[list[int]] = []
    async with open_ledger(
        url,
        live.log_signer,
        ORIGIN,
        on_commit=[live.registry.on_commit],
        after_commit=[lambda committed: seen.append([c.index for c in committed])],
    ) as ledger:
        live.ledger = ledger
        await live.start()
        index = await live.append(live.network.grant(consent("c-1", subject=ALICE)))
        assert seen[-1] == [index]
        assert "c-1" in live.registry.state.consents
