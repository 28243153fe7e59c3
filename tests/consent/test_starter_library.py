"""Each rule of the starter contract library, decided end to end from signed consents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.registry import FOSTER_CARE_POLICY
from tests.consent.network import NOW, consent, pseudonym, starter_network

SUBJECT = pseudonym("alice")


def ask(category: str, agency: str = "health", purpose: str = "TREAT", **extra):
    kinds = {
        "health": "health_provider",
        "education": "school",
        "human_services": "human_services",
        "courts": "court",
    }
    fields = {
        "requester_agency": agency,
        "requester_kind": kinds[agency],
        "user": "u-hash",
        "roles": (),
        "purpose": purpose,
        "subject": SUBJECT,
        "provider": "health",
        "category": category,
    }
    fields.update(extra)
    return DecisionRequest(**fields)


@pytest.fixture
def world():
    network, folded, contract = starter_network()
    return network, folded, DecisionEngine(folded.state)


def decide(engine, request, at=NOW):
    return engine.decide([request], at=at)[0]


def test_consent_required_by_default(world):
    _, _, engine = world
    decision = decide(
        engine, ask("human_services.benefits", agency="education", provider="human_services")
    )
    assert not decision.permit
    assert decision.code == "CONSENT_REQUIRED"
    assert decision.rule == "consent.required"


def test_consent_permits_and_is_the_basis(world):
    network, folded, engine = world
    folded.add(network.grant(consent("c-hs", grantees=("education",))))
    decision = decide(
        engine, ask("human_services.benefits", agency="education", provider="human_services")
    )
    assert decision.permit and decision.rule == "consent.permit"
    assert decision.to_json()["basis"] == {"consents": ["c-hs"], "policies": ["consent.permit"]}
    assert decision.contract == folded.state.contract.hash
    assert decision.ledger_index == folded.state.index


def test_hipaa_treatment_between_providers_without_consent(world):
    _, _, engine = world
    for purpose in ("TREAT", "HPAYMT", "HOPERAT"):
        decision = decide(engine, ask("health.diagnosis", purpose=purpose))
        assert decision.permit and decision.rule == "hipaa.tpo"
        assert decision.basis["consents"] == ()
    # Not for other purposes, and not for a requester that is not a health provider.
    assert not decide(engine, ask("health.diagnosis", purpose="HRESCH")).permit
    assert not decide(engine, ask("health.diagnosis", agency="education")).permit


def test_part2_needs_consent_naming_the_recipient_and_denies_silently(world):
    network, folded, engine = world
    refused = decide(engine, ask("health.substance_use"))
    assert not refused.permit and refused.silent
    assert refused.code == "POLICY_DENIED" and refused.rule == "part2.consent"
    # A consent to any health provider (by kind) does not name the recipient.
    folded.add(network.grant(consent("c-kind", grantees=("kind:health_provider",))))
    assert not decide(engine, ask("health.substance_use")).permit
    folded.add(network.grant(consent("c-named", grantees=("health",))))
    permitted = decide(engine, ask("health.substance_use"))
    assert permitted.permit and not permitted.silent
    assert "part2.redisclosure" in permitted.basis["policies"]
    assert permitted.basis["consents"] == ("c-kind", "c-named")
    assert any(o.startswith("part2-redisclosure-notice") for o in permitted.obligations)


def test_psychotherapy_notes_need_specific_consent(world):
    network, folded, engine = world
    assert not decide(engine, ask("health.psychotherapy_notes")).permit  # not even for TREAT
    general = consent("c-general", provisions=[{"categories": ["health"]}], decision="deny")
    folded.add(network.grant(general))
    assert decide(engine, ask("health.diagnosis", purpose="HRESCH")).permit  # consent covers health
    refused = decide(engine, ask("health.psychotherapy_notes"))
    assert not refused.permit and refused.rule == "hipaa.psychotherapy_notes"
    specific = consent(
        "c-specific", provisions=[{"categories": ["health.psychotherapy_notes"]}], decision="deny"
    )
    folded.add(network.grant(specific))
    assert decide(engine, ask("health.psychotherapy_notes")).permit


def test_ferpa_parent_or_eligible_student(world):
    network, folded, engine = world
    request = ask("education.grades", agency="health", provider="education")
    assert decide(engine, request).rule == "ferpa.consent"
    # A minor's own consent does not count.
    folded.add(network.grant(consent("c-minor", grantees=("health",)), recorder="education"))
    assert not decide(engine, request).permit
    folded.add(
        network.grant(
            consent(
                "c-parent", grantees=("health",), grantor={"kind": "parent", "reference": "p1"}
            ),
            recorder="education",
        )
    )
    assert decide(engine, request).permit


def test_ferpa_eligible_student_consents_alone(world):
    network, folded, engine = world
    adult = consent("c-adult", grantees=("health",), subject_adult=True)
    folded.add(network.grant(adult, recorder="education"))
    assert decide(engine, ask("education.grades", provider="education")).permit


def test_ferpa_health_or_safety_emergency(world):
    _, _, engine = world
    decision = decide(
        engine,
        ask(
            "education.attendance",
            purpose="ETREAT",
            provider="education",
            justification="overdose; need school nurse records",
        ),
    )
    assert decision.permit and "ferpa.emergency" in decision.basis["policies"]
    assert not decide(
        engine, ask("education.attendance", purpose="ETREAT", provider="education")
    ).permit


def test_child_welfare_caseworker_sees_education_records_of_child_in_foster_care(world):
    network, folded, engine = world
    request = ask(
        "education.grades",
        agency="human_services",
        provider="education",
        roles=("case_worker",),
        purpose="COC",
    )
    assert not decide(engine, request).permit
    placement = consent(
        "c-placement",
        grantees=("human_services",),
        grantor={"kind": "custodian", "reference": "human_services"},
        policy=FOSTER_CARE_POLICY,
        provisions=[{"categories": ["education"]}],
        decision="deny",
    )
    folded.add(network.grant(placement, recorder="human_services"))
    decision = decide(engine, request)
    assert decision.permit and decision.rule == "ferpa.foster_care"
    # Only the caseworker role.
    clerk = ask(
        "education.grades",
        agency="human_services",
        provider="education",
        roles=("clerk",),
        purpose="COC",
    )
    assert not decide(engine, clerk).permit


def test_sealed_juvenile_records_need_a_court_order(world):
    network, folded, engine = world
    folded.add(network.grant(consent("c-court", grantees=("health",)), recorder="courts"))
    refused = decide(engine, ask("court.juvenile", provider="courts"))
    assert not refused.permit and refused.rule == "juvenile.sealed"  # even with consent
    ordered = decide(engine, ask("court.juvenile", provider="courts", court_order="2026-JV-118"))
    assert ordered.permit and ordered.rule == "juvenile.court_order"


def test_break_glass_needs_a_justification_and_is_flagged(world):
    _, _, engine = world
    bare = decide(engine, ask("health.diagnosis", purpose="ETREAT"))
    assert not bare.permit and bare.rule == "break_glass.justification"
    glass = decide(
        engine, ask("health.diagnosis", purpose="ETREAT", justification="unconscious in ED")
    )
    assert glass.permit and glass.break_glass and glass.rule == "break_glass.emergency"
    assert any(o.startswith("break-glass-review") for o in glass.obligations)
    # Part 2 allows a bona fide medical emergency; psychotherapy notes stay closed.
    assert decide(engine, ask("health.substance_use", purpose="ETREAT", justification="x")).permit
    assert not decide(
        engine, ask("health.psychotherapy_notes", purpose="ETREAT", justification="x")
    ).permit


def test_expired_consent_never_counts(world):
    network, folded, engine = world
    short = consent("c-short", grantees=("education",), end=NOW + timedelta(hours=1))
    folded.add(network.grant(short))
    request = ask("human_services.benefits", agency="education", provider="human_services")
    assert decide(engine, request, at=NOW).permit
    later = decide(engine, request, at=NOW + timedelta(hours=2))
    assert not later.permit and later.code == "CONSENT_REQUIRED"


def test_consent_without_end_expires_after_default_days(world):
    network, folded, engine = world
    folded.add(network.grant(consent("c-default", grantees=("education",), default_days=30)))
    request = ask("human_services.benefits", agency="education", provider="human_services")
    assert decide(engine, request, at=NOW + timedelta(days=27)).permit
    assert not decide(engine, request, at=NOW + timedelta(days=30)).permit


def test_revoked_consent_never_counts(world):
    network, folded, engine = world
    granted = consent("c-rev", grantees=("education",))
    folded.add(network.grant(granted))
    request = ask("human_services.benefits", agency="education", provider="human_services")
    assert decide(engine, request).permit
    folded.add(network.revoke(granted))
    assert not decide(engine, request).permit


def test_explicit_deny_consent_overrides_a_permit(world):
    network, folded, engine = world
    folded.add(network.grant(consent("c-yes", grantees=("education",))))
    folded.add(network.grant(consent("c-no", grantees=("education",), decision="deny")))
    request = ask("human_services.benefits", agency="education", provider="human_services")
    assert not decide(engine, request).permit
