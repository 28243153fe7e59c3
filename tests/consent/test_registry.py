"""The registry on a real log: index tables kept with it, rebuildable, readable as of any index."""

from __future__ import annotations

import pytest

from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.entries import EntryError
from ledger.registry import index_snapshot, load_state, rebuild_index
from tests.consent.network import NOW, Live, consent, pseudonym

pytestmark = pytest.mark.anyio

ALICE, BOB = pseudonym("alice"), pseudonym("bob")


def benefits(subject: str) -> DecisionRequest:
    return DecisionRequest(
        "education", "school", "u", (), "COC", subject, "human_services", "human_services.benefits"
    )


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.db'}"


async def test_consents_fold_into_the_index_and_rebuild_identically(sqlite_url):
    async with Live(sqlite_url) as live:
        await live.start()
        first = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(first))
        await live.append(live.network.grant(consent("c-2", subject=BOB, grantees=("health",))))
        await live.append(live.network.revoke(first, recorder="education"))
        before = live.read(index_snapshot)
        assert {row[0] for row in before["registry_consents"]} == {"c-1", "c-2"}
        assert len(before["registry_approvals"]) == 2
        rebuilt = live.read(lambda c: (rebuild_index(c), index_snapshot(c))[1])
        assert rebuilt == before
        # The rebuilt tables load into the same state the hook kept in memory.
        loaded = live.read(load_state)
        assert loaded.index == live.registry.state.index == live.ledger.size
        assert set(loaded.consents) == set(live.registry.state.consents)
        assert (
            loaded.consents["c-1"].revoked_index
            == live.registry.state.consents["c-1"].revoked_index
        )
        assert loaded.contract.hash == live.registry.state.contract.hash


async def test_state_as_of_any_index(sqlite_url):
    async with Live(sqlite_url) as live:
        contract = await live.start()
        activated_at = live.ledger.size - 1
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        granted_at = await live.append(live.network.grant(granted))
        revoked_at = await live.append(live.network.revoke(granted))
        states = {
            n: live.read(lambda c, n=n: load_state(c, n)) for n in range(live.ledger.size + 1)
        }
    assert states[activated_at].contract is None
    assert states[activated_at + 1].contract.hash == contract.hash
    assert "c-1" not in states[granted_at].consents
    assert [r.consent.id for r in states[granted_at + 1].subject_consents(ALICE)] == ["c-1"]
    assert states[revoked_at].consents["c-1"].revoked_index is None
    assert states[revoked_at + 1].subject_consents(ALICE) == []
    assert states[revoked_at + 1].consents["c-1"].revoked_index == revoked_at
    # A decision against each state answers as of that index.
    permit = {n: DecisionEngine(states[n]).decide([benefits(ALICE)], at=NOW)[0] for n in states}
    assert not permit[granted_at].permit
    assert permit[granted_at + 1].permit and permit[granted_at + 1].ledger_index == granted_at + 1
    assert not permit[revoked_at + 1].permit


async def test_revocation_committed_before_a_decision_changes_it(sqlite_url):
    async with Live(sqlite_url) as live:
        await live.start()
        engine = DecisionEngine(live.registry.state)
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        assert engine.decide([benefits(ALICE)] * 3, at=NOW)[0].permit
        await live.append(live.network.revoke(granted, recorder="courts"))
        decision = engine.decide([benefits(ALICE)], at=NOW)[0]
        assert not decision.permit and decision.ledger_index == live.ledger.size


async def refused(live: Live, entry, message: str) -> None:
    size, snapshot = live.ledger.size, live.read(index_snapshot)
    consents = dict(live.registry.state.consents)
    with pytest.raises(EntryError, match=message):
        await live.append(entry)
    assert live.ledger.size == size
    assert live.read(index_snapshot) == snapshot
    assert live.registry.state.index == size
    assert live.registry.state.consents.keys() == consents.keys()  # nothing folded


async def test_bad_consent_entries_are_refused_and_change_nothing(sqlite_url):
    async with Live(sqlite_url) as live:
        await live.start()
        network = live.network
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(network.grant(granted))
        await refused(live, network.grant(granted), "already recorded")
        # Signed by one member, recorded by another.
        await refused(
            live,
            network.grant(consent("c-2"), recorder="education", signer="health"),
            "must be recorded by 'health'",
        )
        # Body and artefact disagree.
        entry = network.grant(consent("c-3"))
        body = dict(entry.body, subject=BOB)
        await refused(
            live, network.signed("consent.granted", body, "health"), "subject does not match"
        )
        body = dict(entry.body, jws=entry.body["jws"][:-6] + "AAAAAA")
        await refused(live, network.signed("consent.granted", body, "health"), "does not verify")
        await refused(live, network.revoke(consent("c-unknown")), "is not recorded")
        await live.append(network.revoke(granted))
        await refused(live, network.revoke(granted), "already revoked")
        # And the registry still works afterwards.
        await live.append(network.grant(consent("c-4", subject=BOB, grantees=("education",))))
        engine = DecisionEngine(live.registry.state)
        assert engine.decide([benefits(BOB)], at=NOW)[0].permit
        assert not engine.decide([benefits(ALICE)], at=NOW)[0].permit


async def test_postgres_registry_rebuilds_identically(postgres_url):
    async with Live(postgres_url) as live:
        await live.start()
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        await live.append(live.network.revoke(granted))
        before = live.read(index_snapshot)
        assert live.read(lambda c: (rebuild_index(c), index_snapshot(c))[1]) == before
        with pytest.raises(EntryError, match="already revoked"):
            await live.append(live.network.revoke(granted))
        assert live.read(index_snapshot) == before


async def test_entries_appended_without_the_registry_are_folded_on_load(sqlite_url):
    from ledger.log import open_ledger
    from ledger.registry import Registry

    async with Live(sqlite_url) as live:
        await live.start()
        signer = live.log_signer
    # Another process, without the registry hook, records a consent.
    async with open_ledger(sqlite_url, signer, "accord.example/ledger") as bare:
        await bare.append(
            live.network.grant(consent("c-late", subject=ALICE, grantees=("education",)))
        )
        size = bare.size
    registry = Registry()
    live.read(registry.load)
    assert registry.state.index == size
    assert [r.consent.id for r in registry.state.subject_consents(ALICE)] == ["c-late"]
    assert DecisionEngine(registry.state).decide([benefits(ALICE)], at=NOW)[0].permit


async def two_writers(url: str) -> None:
    from ledger.log import open_ledger
    from ledger.registry import Registry
    from tests.consent.network import ORIGIN

    async with Live(url) as a:
        await a.start()
        other = Registry()
        async with open_ledger(url, a.log_signer, ORIGIN, on_commit=[other.on_commit]) as b:
            granted = consent("c-1", subject=ALICE, grantees=("education",))
            await a.append(a.network.grant(granted))
            # A reader on B's side catches up without writing.
            assert a.read(other.sync) == a.ledger.size
            assert DecisionEngine(other.state).decide([benefits(ALICE)], at=NOW)[0].permit
            # Revoked through B; A folds it before its own next batch.
            await b.append(a.network.revoke(granted))
            engine = DecisionEngine(a.registry.state)
            await a.append(a.network.grant(consent("c-2", subject=BOB, grantees=("education",))))
            assert a.registry.state.index == other.state.index + 1 == a.ledger.size
            assert not engine.decide([benefits(ALICE)], at=NOW)[0].permit
            assert engine.decide([benefits(BOB)], at=NOW)[0].permit
            before = a.read(index_snapshot)
            assert a.read(lambda c: (rebuild_index(c), index_snapshot(c))[1]) == before


async def test_two_writers_share_one_sqlite_store(sqlite_url):
    await two_writers(sqlite_url)


async def test_two_writers_share_one_postgres_store(postgres_url):
    await two_writers(postgres_url)
