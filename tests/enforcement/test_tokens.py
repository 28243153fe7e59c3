"""Gateway tokens: one signature per (principal, purpose, subgraph, permitted fields), shared
briefly between requests; each call names its request in a header and its token lists exactly
the governed fields it selects."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schema.subgraph_auth import (
    GatewayClaims,
    GatewayTokenError,
    make_gateway_token,
    verify_gateway_token,
)
from tests.enforcement.world import NOTABLE, gateway_claims

PERSON = """query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"""
CLEAN = NOTABLE["no_substance_use"]


def test_a_shared_token_names_its_fields_and_takes_its_request_from_the_header():
    key = Ed25519PrivateKey.generate()
    claims = GatewayClaims(
        agency="health",
        user="u",
        purpose="TREAT",
        request_id="*",
        audience="health",
        fields=("Person.diagnoses",),
    )
    verified = verify_gateway_token(make_gateway_token(claims, key), [key.public_key()], "health")
    assert verified.shared and verified.permits("Person.diagnoses")
    assert not verified.permits("Person.medications")
    with pytest.raises(GatewayTokenError):  # meant for another agency
        verify_gateway_token(make_gateway_token(claims, key), [key.public_key()], "education")


def test_requests_share_tokens_per_subgraph_and_permitted_fields(start, ledgered, agencies):
    ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    signer = gateway.app_state["gateway"].executor.call_headers
    first = gateway.query(PERSON, variables={"id": CLEAN})
    after_first = signer.signatures
    second = gateway.query(PERSON, variables={"id": CLEAN})
    assert first["data"] == second["data"] and first["data"]["person"]["diagnoses"]
    ids = [first["extensions"]["accord"]["requestId"], second["extensions"]["accord"]["requestId"]]

    calls = agencies.calls("human_services") + agencies.calls("health")
    roots = [c for c in calls if "_entities" not in c.query]
    entities = [c for c in calls if "_entities" in c.query]
    assert len(roots) == 1 and len(entities) == 4
    # The second request knew the person from the argument and the decision from the first:
    # its key-only root field and the owner's _entities fetch went in one call.
    (shared_call,) = [c for c in entities if "person(" in c.query]
    assert [c.request_id for c in roots] == ids[:1] and shared_call.request_id == ids[1]
    claims = gateway_claims(roots[0], "human_services", agencies.gateway_public)
    assert claims.shared and claims.fields == ()
    # One token per (agency, permitted fields), naming exactly what the call selects.
    by_agency: dict[str, set[str]] = {}
    for call in entities:
        agency = "health" if "diagnoses" in call.query else "human_services"
        by_agency.setdefault(agency, set()).add(call.authorization)
        claims = gateway_claims(call, agency, agencies.gateway_public)
        assert claims.request_id == call.request_id and claims.request_id in ids
        wanted = {"health": {"Person.diagnoses"}, "human_services": {"Person.givenName"}}[agency]
        assert set(claims.fields) == wanted
    assert {a: len(t) for a, t in by_agency.items()} == {"health": 1, "human_services": 1}
    assert signer.signatures - after_first == 0  # the second request signed nothing
