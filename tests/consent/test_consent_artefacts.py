"""Consent artefacts: the FHIR R5-shaped model, JWS signatures, FHIR import and export."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.consent import (
    ConsentError,
    consent_from_fhir,
    consent_to_fhir,
    new_consent,
    public_key_text,
    sign_consent,
    verify_consent,
)
from tests.consent.network import NOW, consent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
NONE: frozenset[str] = frozenset()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def resolve(c, category, purpose="TREAT", agency="health", kind="health_provider", at=None):
    return c.resolve(
        category, purpose, agency, kind, NONE, at or c.period.start + timedelta(days=1)
    )


# -- JWS -----------------------------------------------------------------------------------------


def test_signed_by_recording_agency_round_trips():
    key = Ed25519PrivateKey.generate()
    artefact = consent()
    token = sign_consent(artefact, key, "health")
    decoded, signer = verify_consent(token, {"health": key.public_key()})
    assert decoded == artefact and signer == "health"
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "EdDSA"


def test_signed_by_grantor_key_named_in_the_consent():
    key = Ed25519PrivateKey.generate()
    artefact = consent(grantor={"kind": "self", "key": public_key_text(key.public_key())})
    decoded, signer = verify_consent(sign_consent(artefact, key, "grantor"), {})
    assert decoded == artefact and signer == "grantor"
    with pytest.raises(ConsentError, match="not the grantor key"):
        sign_consent(artefact, Ed25519PrivateKey.generate(), "grantor")


def test_wrong_signer_is_refused():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    token = sign_consent(consent(), key, "health")
    with pytest.raises(ConsentError, match="does not verify with the key of 'health'"):
        verify_consent(token, {"health": other.public_key()})
    with pytest.raises(ConsentError, match="not a known member key"):
        verify_consent(token, {"education": key.public_key()})


def test_tampered_payload_is_refused():
    key = Ed25519PrivateKey.generate()
    header, payload, signature = sign_consent(consent(), key, "health").split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["grantees"] = ["health", "courts"]
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(ConsentError, match="does not verify"):
        verify_consent(f"{header}.{forged}.{signature}", {"health": key.public_key()})


@pytest.mark.parametrize(
    "token, message",
    [
        ("not-a-jws", "compact JWS"),
        ("a.b.c", "malformed consent JWS"),
        ("eyJhbGciOiJIUzI1NiIsInR5cCI6ImFjY29yZC1jb25zZW50K2p3cyJ9.e30.c2ln", "alg EdDSA"),
        ("eyJhbGciOiJFZERTQSIsImtpZCI6ImhlYWx0aCJ9.e30.c2ln", "typ"),
    ],
)
def test_malformed_jws_is_refused(token, message):
    with pytest.raises(ConsentError, match=message):
        verify_consent(token, {})


def test_jws_with_malformed_payload_is_refused():
    key = Ed25519PrivateKey.generate()
    import jwt

    token = jwt.api_jws.PyJWS().encode(
        b'{"id": "x"}',
        key,
        algorithm="EdDSA",
        headers={"typ": "accord-consent+jws", "kid": "health"},
    )
    with pytest.raises(ConsentError, match="malformed consent"):
        verify_consent(token, {"health": key.public_key()})


# -- model rules ---------------------------------------------------------------------------------


def test_default_expiry_is_twelve_months():
    artefact = new_consent(
        id="c", subject="abcdef0123456789", grantor={"kind": "self"}, grantees=["health"], start=NOW
    )
    assert artefact.period.end == NOW + timedelta(days=365)
    shorter = new_consent(
        id="c",
        subject="abcdef0123456789",
        grantor={"kind": "self"},
        grantees=["health"],
        start=NOW,
        default_days=90,
    )
    assert shorter.period.end == NOW + timedelta(days=90)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"subject": "Alice Smith"}, "pseudonym"),
        ({"grantees": []}, "grantees"),
        ({"grantees": ["health", "health"]}, "duplicate grantee"),
        ({"grantees": ["kind:bakery"]}, "unknown agency kind"),
        ({"grantor": {"kind": "neighbour"}}, "grantor.kind"),
        ({"decision": "maybe"}, "decision"),
        ({"provisions": [{"categories": ["health.dna"]}]}, "unknown data category"),
        ({"provisions": [{"purposes": ["SNOOP"]}]}, "unknown purpose"),
        ({"end": NOW - timedelta(days=2)}, "before it starts"),
        (
            {"provisions": [{"categories": ["health"]}, {"categories": ["health.diagnosis"]}]},
            "overlaps",
        ),
        (
            {
                "provisions": [
                    {"categories": ["health"], "purposes": ["TREAT"]},
                    {"categories": ["health"]},
                ]
            },
            "overlaps",
        ),
        (
            {
                "provisions": [
                    {"categories": ["health"], "provisions": [{"categories": ["education"]}]}
                ]
            },
            "contradicts its parent",
        ),
        (
            {
                "provisions": [
                    {
                        "categories": ["health"],
                        "purposes": ["TREAT"],
                        "provisions": [{"categories": ["health"], "purposes": ["TREAT"]}],
                    }
                ]
            },
            "cancel the parent",
        ),
        (
            {"provisions": [{"purposes": ["TREAT"], "provisions": [{"purposes": ["COC"]}]}]},
            "purposes are not within",
        ),
    ],
)
def test_malformed_or_contradictory_consent_is_refused(change, message):
    with pytest.raises(ConsentError, match=message):
        consent(**change)


def test_siblings_that_do_not_overlap_are_fine():
    artefact = consent(
        provisions=[
            {"categories": ["health.diagnosis"]},
            {"categories": ["health.medication"], "purposes": ["TREAT"]},
            {"categories": ["education"], "period": {"start": NOW, "end": NOW + timedelta(days=9)}},
        ]
    )
    assert len(artefact.provisions) == 3


def test_nested_provisions_reverse_their_parent():
    artefact = consent(
        decision="deny",
        provisions=[
            {
                "categories": ["health"],
                "provisions": [
                    {
                        "categories": ["health.behavioral"],
                        "provisions": [
                            {"categories": ["health.behavioral"], "purposes": ["TREAT"]}
                        ],
                    }
                ],
            }
        ],
    )
    assert resolve(artefact, "education.grades")[0] == "deny"  # base decision
    assert resolve(artefact, "health.diagnosis")[0] == "permit"  # first level reverses
    assert resolve(artefact, "health.behavioral", purpose="COC")[0] == "deny"  # second again
    assert resolve(artefact, "health.behavioral", purpose="TREAT")[0] == "permit"  # and third


def test_consent_applies_only_to_grantees_and_within_its_period():
    artefact = consent(grantees=("health", "kind:school", "programme:wraparound"))
    assert resolve(artefact, "health", agency="health") == ("permit", False, True)
    assert resolve(artefact, "health", agency="education", kind="school") == (
        "permit",
        False,
        False,
    )
    assert resolve(artefact, "health", agency="courts", kind="court") is None
    at = artefact.period.end + timedelta(seconds=1)
    assert resolve(artefact, "health", at=at) is None
    assert artefact.resolve(
        "health",
        "TREAT",
        "courts",
        "court",
        frozenset({"programme:wraparound"}),
        artefact.period.start,
    ) == ("permit", False, False)


# -- FHIR ----------------------------------------------------------------------------------------


def test_fhir_basic_permit():
    artefact = consent_from_fhir(fixture("consent-basic.json"))
    assert artefact.id == "consent-example-basic"
    assert artefact.subject == "3f9d2a7c41b84e0d9a55c1e2b7f0a6d4"
    assert artefact.grantor.kind == "self" and artefact.grantees == ("health",)
    assert artefact.regulatory_basis == ("INFA",)
    assert artefact.policy == "http://hl7.org/fhir/ConsentPolicy/opt-in"
    assert artefact.period.end == datetime(2028, 12, 28, tzinfo=UTC)
    assert resolve(artefact, "health.diagnosis")[0] == "permit"


def test_fhir_opt_out_denies_everything_to_the_grantee():
    artefact = consent_from_fhir(fixture("consent-opt-out.json"))
    assert (
        resolve(
            artefact, "human_services.benefits", agency="human_services", kind="human_services"
        )[0]
        == "deny"
    )


def test_fhir_not_them_denies_one_recipient():
    artefact = consent_from_fhir(fixture("consent-not-them.json"))
    assert resolve(artefact, "health.diagnosis")[0] == "permit"
    assert (
        resolve(artefact, "health.diagnosis", agency="human_services", kind="human_services")[0]
        == "deny"
    )


def test_fhir_not_time_denies_within_the_provision_period():
    artefact = consent_from_fhir(fixture("consent-not-time.json"))
    inside = datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert resolve(artefact, "health.diagnosis", at=inside)[0] == "deny"
    assert resolve(artefact, "health.diagnosis", at=inside + timedelta(hours=2))[0] == "permit"


def test_fhir_part2_consent_permits_substance_use_for_treatment_only():
    artefact = consent_from_fhir(fixture("consent-part2-treatment.json"))
    assert resolve(artefact, "health.substance_use") == ("permit", True, True)
    assert resolve(artefact, "health.substance_use", purpose="HPAYMT")[0] == "deny"
    assert resolve(artefact, "health.diagnosis")[0] == "deny"
    # No period in the resource: the deployment's default expiry from the consent date.
    assert artefact.period.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert artefact.period.end == datetime(2027, 3, 2, tzinfo=UTC)


def test_fhir_ferpa_parent_consent():
    artefact = consent_from_fhir(fixture("consent-ferpa-parent.json"))
    assert artefact.grantor.kind == "parent" and artefact.grantor.reference == "rp-7"
    assert (
        resolve(
            artefact,
            "education.grades",
            purpose="COC",
            agency="human_services",
            kind="human_services",
        )[0]
        == "permit"
    )


@pytest.mark.parametrize(
    "name",
    [
        "consent-basic.json",
        "consent-opt-out.json",
        "consent-not-them.json",
        "consent-not-time.json",
        "consent-part2-treatment.json",
        "consent-ferpa-parent.json",
    ],
)
def test_fhir_export_then_import_is_identity(name):
    artefact = consent_from_fhir(fixture(name))
    exported = consent_to_fhir(artefact)
    assert exported["resourceType"] == "Consent"
    assert consent_from_fhir(json.loads(json.dumps(exported))) == artefact


def test_fhir_subject_override_takes_a_pseudonym():
    artefact = consent_from_fhir(fixture("consent-basic.json"), subject="0123456789abcdef")
    assert artefact.subject == "0123456789abcdef"


def _broken(name: str, path: list, value):
    resource = fixture(name)
    target = resource
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return resource


@pytest.mark.parametrize(
    "resource, message",
    [
        ({"resourceType": "Patient"}, "not a FHIR Consent"),
        (_broken("consent-basic.json", ["status"], "draft"), "only an active consent"),
        (_broken("consent-basic.json", ["decision"], "maybe"), "decision must be"),
        (
            _broken("consent-basic.json", ["subject"], {"reference": "Group/1"}),
            "Reference to Patient",
        ),
        (_broken("consent-basic.json", ["grantee"], []), "at least one grantee"),
        (
            _broken("consent-basic.json", ["grantor"], [{"reference": "RelatedPerson/x"}]),
            "grantor-kind extension",
        ),
        (_broken("consent-basic.json", ["period", "end"], "yesterday"), "not a date"),
        (
            _broken(
                "consent-part2-treatment.json", ["provision", 0, "securityLabel", 0, "code"], "XYZ"
            ),
            "unknown data category",
        ),
        (
            _broken(
                "consent-part2-treatment.json", ["provision", 0, "purpose", 0, "code"], "SNOOP"
            ),
            "unknown purpose",
        ),
        (
            _broken(
                "consent-part2-treatment.json",
                ["provision", 0, "actor", 0, "reference"],
                {"reference": "Practitioner/f204"},
            ),
            "Reference to Organization",
        ),
        (
            _broken("consent-part2-treatment.json", ["provision", 0, "dataPeriod"], {}),
            "cannot enforce dataPeriod",
        ),
    ],
)
def test_malformed_fhir_consent_is_refused(resource, message):
    with pytest.raises(ConsentError, match=message):
        consent_from_fhir(resource)
