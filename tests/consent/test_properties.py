"""Properties: memoised answers equal cold answers; FHIR export and import are inverse."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.consent import ConsentError, consent_from_fhir, consent_to_fhir, new_consent
from ledger.contracts.model import Facts, Shape, starter_contract
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.vocabulary import AGENCY_KINDS, CATEGORIES, PURPOSES
from tests.consent.network import NOW, consent, pseudonym, starter_network

AGENCIES = list(AGENCY_KINDS)
SUBJECTS = [pseudonym(f"p{n}") for n in range(4)]
CONTRACT = starter_contract()

requests = st.builds(
    lambda agency, roles, purpose, subject, provider, category, why, order: DecisionRequest(
        agency, AGENCY_KINDS[agency], "u", roles, purpose, subject, provider, category, why, order
    ),
    st.sampled_from(AGENCIES),
    st.sampled_from([(), ("case_worker",), ("physician", "teacher")]),
    st.sampled_from(sorted(PURPOSES)),
    st.sampled_from(SUBJECTS),
    st.sampled_from(AGENCIES),
    st.sampled_from(sorted(CATEGORIES)),
    st.sampled_from([None, "emergency"]),
    st.sampled_from([None, "2026-JV-1"]),
)

provision = st.fixed_dictionaries(
    {},
    optional={
        "categories": st.lists(st.sampled_from(sorted(CATEGORIES)), max_size=2, unique=True),
        "purposes": st.lists(st.sampled_from(sorted(PURPOSES)), max_size=2, unique=True),
        "recipients": st.lists(st.sampled_from(AGENCIES), max_size=2, unique=True),
    },
)

consents = st.lists(
    st.tuples(
        st.sampled_from(SUBJECTS),
        st.lists(st.sampled_from(AGENCIES + ["kind:school"]), min_size=1, max_size=2, unique=True),
        st.sampled_from(["permit", "deny"]),
        st.lists(provision, max_size=2),
        st.sampled_from(["self", "parent"]),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(consents, st.lists(requests, min_size=1, max_size=30))
def test_memoised_decisions_equal_cold_decisions(granted, asked):
    network, folded, _ = starter_network()
    for number, (subject, grantees, decision, provisions, grantor) in enumerate(granted):
        try:
            artefact = consent(
                f"c{number}",
                subject=subject,
                grantees=tuple(grantees),
                decision=decision,
                provisions=provisions,
                grantor={"kind": grantor},
            )
        except ConsentError:
            continue  # overlapping provisions are refused by design
        folded.add(network.grant(artefact))
    warm = DecisionEngine(folded.state)
    warm.decide(asked, at=NOW)  # fill the memo
    cold = DecisionEngine(folded.state, memo_enabled=False)
    assert [d.to_json() for d in warm.decide(asked, at=NOW)] == [
        d.to_json() for d in cold.decide(asked, at=NOW)
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["permit", "deny"]),
    st.lists(provision, max_size=3),
    st.lists(
        st.sampled_from(AGENCIES + ["kind:court", "programme:wrap"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    st.sampled_from(["self", "parent", "guardian", "custodian"]),
    st.booleans(),
    st.integers(min_value=1, max_value=800),
)
def test_fhir_export_then_import_is_identity(decision, provisions, grantees, grantor, adult, days):
    try:
        artefact = new_consent(
            id="c",
            subject=SUBJECTS[0],
            grantor={"kind": grantor, "reference": None if grantor == "self" else "r1"},
            grantees=grantees,
            decision=decision,
            provisions=provisions,
            start=NOW,
            end=NOW + timedelta(days=days),
            subject_adult=adult,
        )
    except ConsentError:
        return
    assert consent_from_fhir(consent_to_fhir(artefact)) == artefact


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(sorted(CATEGORIES)),
    st.sampled_from(sorted(PURPOSES)),
)
def test_a_denying_consent_never_turns_a_refusal_into_a_permit(
    permits, specific, named, justified, order, category, purpose
):
    base = Facts(permits, False, specific, named, ("parent",), False)
    shape = Shape(
        "education",
        "school",
        (),
        "health",
        "health_provider",
        category,
        purpose,
        justified,
        order,
        base,
    )
    denied = shape._replace(facts=base._replace(denies=True))
    before, after = CONTRACT.evaluate([shape, denied])
    assert not (after.permit and not before.permit)
