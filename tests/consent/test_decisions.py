"""The decision engine: whole requests, memoised on the decision's inputs, never stale."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.contracts.model import compile_contract, starter_contract
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.registry import LedgerState
from ledger.vocabulary import VocabularyError
from tests.consent.network import NOW, activation, consent, pseudonym, starter_network


def request(subject: str, category: str = "human_services.benefits", **extra) -> DecisionRequest:
    fields = dict(
        requester_agency="education",
        requester_kind="school",
        user="u",
        roles=("teacher",),
        purpose="COC",
        subject=subject,
        provider="human_services",
        category=category,
    )
    fields.update(extra)
    return DecisionRequest(**fields)


def test_repeated_shapes_cost_no_cedar_call():
    network, folded, _ = starter_network()
    engine = DecisionEngine(folded.state)
    subjects = [pseudonym(f"p{n}") for n in range(50)]
    first = engine.decide([request(s) for s in subjects], at=NOW)
    assert engine.cedar_calls == 1  # fifty subjects, one shape
    again = engine.decide([request(s) for s in subjects], at=NOW)
    assert engine.cedar_calls == 1 and engine.memo_hits >= 50
    assert [d.to_json() for d in first] == [d.to_json() for d in again]


def test_memo_answers_equal_cold_answers():
    network, folded, _ = starter_network()
    folded.add(network.grant(consent("c1", subject=pseudonym("p1"), grantees=("education",))))
    requests = [
        request(pseudonym(f"p{n}"), category=c, purpose=p)
        for n in range(3)
        for c in ("human_services.benefits", "health.substance_use", "education.grades")
        for p in ("COC", "TREAT", "ETREAT")
    ]
    warm = DecisionEngine(folded.state)
    warm.decide(requests, at=NOW)
    cold = DecisionEngine(folded.state, memo_enabled=False)
    assert [d.to_json() for d in warm.decide(requests, at=NOW)] == [
        d.to_json() for d in cold.decide(requests, at=NOW)
    ]
    assert cold.cedar_calls == len(requests)


def test_a_revocation_changes_the_very_next_decision():
    network, folded, _ = starter_network()
    engine = DecisionEngine(folded.state)
    granted = consent("c1", subject=pseudonym("p1"), grantees=("education",))
    folded.add(network.grant(granted))
    assert engine.decide([request(pseudonym("p1"))], at=NOW)[0].permit
    assert engine.decide([request(pseudonym("p1"))], at=NOW)[0].permit  # now memoised
    folded.add(network.revoke(granted))
    after = engine.decide([request(pseudonym("p1"))], at=NOW)[0]
    assert not after.permit and after.code == "CONSENT_REQUIRED"


def test_a_new_contract_changes_the_next_decision_and_names_its_hash():
    network, folded, starter = starter_network()
    engine = DecisionEngine(folded.state)
    before = engine.decide([request(pseudonym("p1"))], at=NOW)[0]
    assert not before.permit and before.contract == starter.hash
    permissive = compile_contract(
        "open",
        1,
        '@id("all") permit (principal, action, resource);',
        starter.schema,
    )
    folded.add(network.proposal(permissive))
    approvals = [folded.add(network.approval(permissive, m)) for m in ("courts", "education")]
    folded.add(activation(permissive, approvals))
    after = engine.decide([request(pseudonym("p1"))], at=NOW)[0]
    assert after.permit and after.contract == permissive.hash and after.rule == "all"


def test_no_active_contract_fails_closed():
    engine = DecisionEngine(LedgerState())
    decision = engine.decide([request(pseudonym("p1"))], at=NOW)[0]
    assert not decision.permit and decision.rule == "contract.none" and decision.contract is None


def test_unknown_category_or_purpose_is_refused():
    _, folded, _ = starter_network()
    engine = DecisionEngine(folded.state)
    with pytest.raises(VocabularyError, match="unknown data category"):
        engine.decide([request(pseudonym("p1"), category="health.dna")])
    with pytest.raises(VocabularyError, match="unknown purpose"):
        engine.decide([request(pseudonym("p1"), purpose="SNOOP")])


def test_decisions_keep_request_order_and_per_subject_basis():
    network, folded, _ = starter_network()
    folded.add(network.grant(consent("c-a", subject=pseudonym("a"), grantees=("education",))))
    folded.add(network.grant(consent("c-b", subject=pseudonym("b"), grantees=("education",))))
    engine = DecisionEngine(folded.state)
    out = engine.decide([request(pseudonym(n)) for n in ("a", "x", "b", "a")], at=NOW)
    assert [d.permit for d in out] == [True, False, True, True]
    assert [d.basis["consents"] for d in out] == [("c-a",), (), ("c-b",), ("c-a",)]
    assert engine.cedar_calls == 2  # one permitted shape, one refused shape


def test_starter_contract_hash_is_stable():
    assert starter_contract().hash == starter_contract().hash


def test_roles_given_as_a_list_are_accepted():
    _, folded, _ = starter_network()
    engine = DecisionEngine(folded.state)
    listed = request(pseudonym("p1"), roles=["teacher", "clerk"])
    assert engine.decide([listed, listed], at=NOW)[0].code == "CONSENT_REQUIRED"


def test_facts_follow_the_decision_time_both_ways():
    network, folded, _ = starter_network()
    later = consent(
        "c-later",
        subject=pseudonym("p1"),
        grantees=("education",),
        start=NOW + timedelta(days=1),
        end=NOW + timedelta(days=2),
    )
    folded.add(network.grant(later))
    engine = DecisionEngine(folded.state)
    ask = [request(pseudonym("p1"))]
    assert not engine.decide(ask, at=NOW)[0].permit
    assert engine.decide(ask, at=NOW + timedelta(days=1, hours=1))[0].permit
    assert not engine.decide(ask, at=NOW)[0].permit  # an earlier time after a later one
    assert not engine.decide(ask, at=NOW + timedelta(days=3))[0].permit


def test_caches_are_bounded():
    _, folded, _ = starter_network()
    engine = DecisionEngine(folded.state, max_memo=3, max_facts=5)
    for n in range(20):
        engine.decide([request(pseudonym(f"p{n}"), purpose=p) for p in ("COC", "TREAT")], at=NOW)
        assert len(engine._facts) <= 5 + 2 and len(engine._memo) <= 3 + 2
