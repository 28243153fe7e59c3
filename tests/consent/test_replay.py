"""Replay: honest decisions replay to the same outcome; doctored entries do not."""

from __future__ import annotations

import pytest

from ledger.decisions import DecisionEngine, DecisionRequest, denial_body, disclosure_body
from ledger.entries import new_entry
from ledger.replay import ReplayError, replay
from tests.consent.network import NOW, Live, consent, pseudonym

pytestmark = pytest.mark.anyio

ALICE, BOB = pseudonym("alice"), pseudonym("bob")
DECIDED_AT = int(NOW.timestamp() * 1000)


def ask(subject: str, category: str, purpose: str = "COC") -> DecisionRequest:
    return DecisionRequest(
        "education", "school", "u-hash", (), purpose, subject, "human_services", category
    )


async def record(live: Live, request: DecisionRequest, categories: list[str]) -> tuple[int, bool]:
    """Decide like the gateway, then append the entry it would write; returns (index, permit)."""
    engine = DecisionEngine(live.registry.state)
    decisions = engine.decide(
        [ask(request.subject, c, request.purpose) for c in categories], at=NOW
    )
    common = dict(request_id="r1", fields=["f"], query_hash="q" * 64, decided_at=DECIDED_AT)
    if all(d.permit for d in decisions):
        body = disclosure_body(request, decisions, categories, **common)
        return await live.append(new_entry("disclosure", body)), True
    refusal = next(d for d in decisions if not d.permit)
    body = denial_body(request, refusal, categories, **common)
    return await live.append(new_entry("access.denied", body)), False


async def test_honest_entries_replay_to_the_same_outcome(tmp_path):
    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        cats = ["human_services.benefits", "human_services.housing"]
        disclosed, permitted = await record(live, ask(ALICE, cats[0]), cats)
        denied, refused = await record(live, ask(BOB, cats[0]), cats)
        assert permitted and not refused
        # The consent is revoked later: the earlier disclosure still replays as honest.
        await live.append(live.network.revoke(granted))
        after, permitted_after = await record(live, ask(ALICE, cats[0]), cats)
        assert not permitted_after
        for index in (disclosed, denied, after):
            for from_log in (False, True):
                report = live.read(lambda c, i=index, f=from_log: replay(c, i, from_log=f))
                assert report.match, report.differences
        report = live.read(lambda c: replay(c, disclosed))
        assert report.replayed[0]["basis"]["consents"] == ["c-1"]
        assert report.evaluated_at == disclosed


async def test_doctored_entries_do_not_replay(tmp_path):
    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        contract = await live.start()
        await live.append(
            live.network.grant(consent("c-1", subject=ALICE, grantees=("education",)))
        )
        request = ask(BOB, "human_services.benefits")
        common = dict(request_id="r", fields=["f"], query_hash="q", decided_at=DECIDED_AT)
        honest = DecisionEngine(live.registry.state).decide([request], at=NOW)
        # A disclosure for Bob claiming Alice's consent as its basis.
        forged = honest[0]
        forged.permit, forged.basis = True, {"consents": ["c-1"], "policies": ["consent.permit"]}
        body = disclosure_body(request, [forged], ["human_services.benefits"], **common)
        index = await live.append(new_entry("disclosure", body))
        report = live.read(lambda c: replay(c, index))
        assert not report.match
        assert any("replay denies" in d for d in report.differences)
        assert any("basis consents" in d for d in report.differences)
        # An honest refusal whose recorded rule and contract were changed.
        decision = DecisionEngine(live.registry.state).decide([request], at=NOW)[0]
        body = denial_body(request, decision, ["human_services.benefits"], **common)
        body.update(rule="part2.consent", contract="0" * 64)
        index = await live.append(new_entry("access.denied", body))
        report = live.read(lambda c: replay(c, index))
        assert not report.match
        assert any(contract.hash in d for d in report.differences)
        assert any("recorded rule part2.consent" in d for d in report.differences)
        # An honest disclosure of Alice's data replays; changing who received it does not.
        ok = DecisionEngine(live.registry.state).decide(
            [ask(ALICE, "human_services.benefits")], at=NOW
        )
        body = disclosure_body(
            ask(ALICE, "human_services.benefits"), ok, ["human_services.benefits"], **common
        )
        index = await live.append(new_entry("disclosure", body))
        assert live.read(lambda c: replay(c, index)).match
        body["purpose"] = "HRESCH"
        index = await live.append(new_entry("disclosure", body))
        assert live.read(lambda c: replay(c, index)).match  # consent has no purpose limit
        body["requester"] = {"agency": "courts", "user": "u"}
        index = await live.append(new_entry("disclosure", body))
        assert not live.read(lambda c: replay(c, index)).match  # courts are not a grantee


async def test_only_decision_entries_can_be_replayed(tmp_path):
    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        with pytest.raises(ReplayError, match="member.admitted entry"):
            live.read(lambda c: replay(c, 0))
        with pytest.raises(ReplayError, match="does not exist"):
            live.read(lambda c: replay(c, 999))


async def test_break_glass_is_recorded_for_review_and_replays(tmp_path):
    from ledger.decisions import break_glass_body

    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        request = DecisionRequest(
            "health",
            "health_provider",
            "u",
            ("physician",),
            "ETREAT",
            BOB,
            "health",
            "health.diagnosis",
            justification="unresponsive in ED",
        )
        decisions = DecisionEngine(live.registry.state).decide([request], at=NOW)
        assert decisions[0].permit and decisions[0].break_glass
        common = dict(request_id="r", fields=["diagnoses"], query_hash="q", decided_at=DECIDED_AT)
        body = break_glass_body(request, decisions, ["health.diagnosis"], **common)
        index = await live.append(new_entry("break_glass", body))
        assert live.read(lambda c: replay(c, index)).match
        # Without a justification there is nothing to record, and the contract refuses anyway.
        bare = DecisionRequest(
            "health", "health_provider", "u", (), "ETREAT", BOB, "health", "health.diagnosis"
        )
        refused = DecisionEngine(live.registry.state).decide([bare], at=NOW)
        assert not refused[0].permit
        with pytest.raises(ValueError, match="justification"):
            break_glass_body(bare, refused, ["health.diagnosis"], **common)
        # A treatment disclosure recorded as break-glass does not replay.
        treat = DecisionRequest(
            "health", "health_provider", "u", (), "TREAT", BOB, "health", "health.diagnosis"
        )
        body = dict(body, purpose="TREAT")
        index = await live.append(new_entry("break_glass", body))
        report = live.read(lambda c: replay(c, index))
        assert not report.match and "break-glass" in report.differences[0]
        assert DecisionEngine(live.registry.state).decide([treat], at=NOW)[0].permit


async def test_dry_run_disclosures_replay_as_recorded(tmp_path):
    from ledger.decisions import DRY_RUN_OBLIGATION

    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        await live.append(
            live.network.grant(consent("c-1", subject=ALICE, grantees=("education",)))
        )
        cats = ["human_services.benefits", "court.juvenile"]  # the second is refused
        request = ask(ALICE, cats[0])
        decisions = DecisionEngine(live.registry.state).decide(
            [ask(ALICE, c) for c in cats], at=NOW
        )
        assert [d.permit for d in decisions] == [True, False]
        common = dict(request_id="r", fields=["f"], query_hash="q", decided_at=DECIDED_AT)
        body = disclosure_body(request, [decisions[0]], cats, **common)
        marked = dict(body, obligations=sorted({*body["obligations"], DRY_RUN_OBLIGATION}))
        index = await live.append(new_entry("disclosure", marked))
        assert live.read(lambda c: replay(c, index)).match
        # The same disclosure without the dry-run mark claims a permit the contract refuses.
        index = await live.append(new_entry("disclosure", body))
        report = live.read(lambda c: replay(c, index))
        assert not report.match and "court.juvenile: disclosed" in report.differences[0]


async def test_an_emergency_disclosure_replays_with_its_break_glass_justification(tmp_path):
    from ledger.decisions import break_glass_body

    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        request = DecisionRequest(
            "health",
            "health_provider",
            "u",
            (),
            "ETREAT",
            BOB,
            "health",
            "health.diagnosis",
            justification="unresponsive in ED",
        )
        decisions = DecisionEngine(live.registry.state).decide([request], at=NOW)
        common = dict(request_id="r9", fields=["diagnoses"], query_hash="q", decided_at=DECIDED_AT)
        disclosed = disclosure_body(request, decisions, ["health.diagnosis"], **common)
        glass = break_glass_body(request, decisions, ["health.diagnosis"], **common)
        first, _ = [
            r.index
            for r in await live.ledger.append_all(
                [new_entry("disclosure", disclosed), new_entry("break_glass", glass)]
            )
        ]
        assert live.read(lambda c: replay(c, first)).match
        # The same disclosure with no break_glass entry beside it had no justification.
        alone = await live.append(new_entry("disclosure", dict(disclosed, request_id="r10")))
        report = live.read(lambda c: replay(c, alone))
        assert not report.match and "break_glass.justification" in report.differences[0]


async def test_decisions_that_rest_on_roles_and_court_orders_replay(tmp_path):
    """The recorded entry carries what the decision depended on besides purpose and
    category (the requester's roles, a court order, the ledger index it was decided at), so
    an honest permit that rests on them replays as a match, and one without them does not."""
    async with Live(f"sqlite:///{tmp_path / 'l.db'}") as live:
        await live.start()
        ordered = DecisionRequest(
            "human_services",
            "human_services",
            "u",
            ("case_worker",),
            "HLEGAL",
            ALICE,
            "courts",
            "court.juvenile",
            court_order="order-2026-117",
        )
        decisions = DecisionEngine(live.registry.state).decide([ordered], at=NOW)
        assert decisions[0].permit
        common = dict(request_id="r", fields=["juvenile"], query_hash="q", decided_at=DECIDED_AT)
        body = disclosure_body(ordered, decisions, ["court.juvenile"], **common)
        assert body["court_order"] == "order-2026-117" and body["roles"] == ["case_worker"]
        assert body["ledger_index"] == decisions[0].ledger_index
        index = await live.append(new_entry("disclosure", body))
        assert live.read(lambda c: replay(c, index)).match
        # The same disclosure claimed without the order is not supported by the contract.
        index = await live.append(new_entry("disclosure", dict(body, court_order="")))
        assert not live.read(lambda c: replay(c, index)).match
