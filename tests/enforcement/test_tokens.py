"""Gateway tokens: one signature per (request, subgraph, permitted fields); a call selecting no
governed field carries a token shared briefly by one principal's requests, which no agency
accepts for any field."""

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


def test_a_shared_token_that_lists_a_field_is_refused():
    key = Ed25519PrivateKey.generate()
    claims = GatewayClaims(
        agency="health",
        user="u",
        purpose="TREAT",
        request_id="*",
        audience="health",
        fields=("Person.diagnoses",),
    )
    with pytest.raises(GatewayTokenError, match="shared between requests permits no field"):
        verify_gateway_token(make_gateway_token(claims, key), [key.public_key()], "health")
    plain = GatewayClaims(**{**claims.__dict__, "fields": ()})
    verified = verify_gateway_token(make_gateway_token(plain, key), [key.public_key()], "health")
    assert verified.shared and verified.fields == ()


def test_requests_share_the_key_only_token_and_sign_their_governed_calls(start, ledgered, agencies):
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
    assert len(roots) == 2 and len(entities) == 4
    root_tokens = {c.authorization for c in roots}
    assert len(root_tokens) == 1  # one token for both requests' key-only calls
    assert [c.request_id for c in roots] == ids  # each call still names its request
    for call in roots:
        claims = gateway_claims(call, "human_services", agencies.gateway_public)
        assert claims.shared and claims.fields == ()
    # Each governed call has a token of its own request, naming exactly what it selects.
    assert len({c.authorization for c in entities}) == 4
    for call in entities:
        agency = "health" if "diagnoses" in call.query else "human_services"
        claims = gateway_claims(call, agency, agencies.gateway_public)
        assert not claims.shared and claims.request_id == call.request_id
        assert claims.request_id in ids and claims.fields
    # The second request signed only its two governed calls.
    assert signer.signatures - after_first == 2
