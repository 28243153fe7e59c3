"""The enforcing gateway at the HTTP level: refused tokens, readiness and metrics."""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.demo_idp import issuer_name
from app.server import YOUNG_COLLECTION_THRESHOLD
from tests.enforcement.world import NOTABLE, stop

QUERY = '{ person(id: "%s") { givenName } }' % NOTABLE["adult"]  # noqa: UP031


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, payload: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


def _payload(**changes) -> dict:
    now = int(time.time())
    payload = {
        "iss": issuer_name("human_services"),
        "aud": "accord",
        "sub": "case-worker.human_services",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "agency": "human_services",
        "roles": ["case_worker"],
        "purposes": ["COC"],
        "purpose": "COC",
    }
    payload.update(changes)
    return payload


def bad_tokens(idp) -> dict[str, str]:
    now = int(time.time())
    kid, key = idp.signing_key("human_services")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, _payload())
    hs_signature = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    stranger = Ed25519PrivateKey.generate()

    def signed(**changes) -> str:
        return jwt.encode(_payload(**changes), key, algorithm="EdDSA", headers={"kid": kid})

    return {
        "expired": signed(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not yet valid": signed(iat=now + 3600, nbf=now + 3600, exp=now + 7200),
        "wrong issuer": signed(iss="https://elsewhere.example/idp"),
        "wrong audience": signed(aud="someone-else"),
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, _payload()) + ".",
        "HS256 with the public key": f"{hs_input}.{_b64(hs_signature)}",
        "unknown kid": jwt.encode(
            _payload(), stranger, algorithm="EdDSA", headers={"kid": "not-a-known-key"}
        ),
        "malformed": "this.is-not.a-jwt",
    }


@pytest.fixture
def gateway(start, ledgered):
    ledgered.grant(NOTABLE["adult"], ("human_services",))
    return start()


def test_a_good_token_works_and_each_bad_one_is_refused_with_401(
    gateway, agencies, ledgered, caplog
):
    assert gateway.query(QUERY)["data"]["person"]["givenName"]
    agencies.reset()
    before = len(ledgered.entries())
    tokens = bad_tokens(gateway.idp)
    with caplog.at_level("WARNING"):
        for what, token in tokens.items():
            response = gateway.post(QUERY, token=token)
            assert response.status_code == 401, what
            body = response.json()
            assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}, what
            assert body["errors"][0]["message"], what
            assert "data" not in body or body["data"] is None, what
            assert response.headers["www-authenticate"].startswith("Bearer"), what
    missing = gateway.client.post(f"{gateway.server.url}/graphql", json={"query": QUERY})
    assert missing.status_code == 401
    assert all(not agencies.calls(name) for name in agencies.recordings)  # nothing was asked
    assert len(ledgered.entries()) == before  # and nothing recorded
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for token in tokens.values():
        assert token not in logged
    metrics = gateway.client.get(f"{gateway.server.url}/metrics").text
    assert f"accord_requests_refused_total {len(tokens) + 1}" in metrics


def test_a_purpose_the_token_does_not_allow_is_forbidden(gateway, agencies):
    response = gateway.post(QUERY, headers={"Accord-Purpose": "TREAT"})
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    several = gateway.idp.token(
        "human_services", user="u1", roles=["case_worker"], purposes=["COC", "CAREMGT"]
    )
    unchosen = gateway.post(QUERY, token=several)
    assert (
        unchosen.status_code == 403 and "Accord-Purpose" in unchosen.json()["errors"][0]["message"]
    )
    chosen = gateway.post(QUERY, token=several, headers={"Accord-Purpose": "COC"})
    assert chosen.status_code == 200 and chosen.json()["data"]["person"]["givenName"]


def test_readiness_follows_the_subgraphs_and_metrics_count_the_work(gateway, agencies):
    ready = gateway.client.get(f"{gateway.server.url}/readyz")
    assert ready.status_code == 200
    report = ready.json()
    assert report["ready"] and report["ledger"]["writable"]
    assert len(report["subgraphs"]) == 4 and all(report["subgraphs"].values())
    gateway.query(QUERY)
    text = gateway.client.get(f"{gateway.server.url}/metrics").text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["accord_requests_total"] == 1
    assert values["accord_decisions_total"] >= 1
    assert values["accord_entries_appended_total"] >= 1
    assert values["accord_ledger_failures_total"] == 0
    assert values["accord_ledger_writable"] == 1


def test_readiness_fails_when_a_subgraph_is_unreachable(start, ledgered, agencies, data_dir):
    supergraph = agencies.supergraph.replace(
        agencies.servers["courts"].url,
        "http://127.0.0.1:9",  # discard port: nothing listens
    )
    from tests.enforcement.world import start_gateway, stop

    gateway = start_gateway(data_dir, supergraph)
    try:
        ready = gateway.client.get(f"{gateway.server.url}/readyz")
        assert ready.status_code == 503
        report = ready.json()
        assert not report["ready"] and report["ledger"]["writable"]
        assert [url for url, ok in report["subgraphs"].items() if not ok] == [
            "http://127.0.0.1:9/graphql"
        ]
    finally:
        stop(gateway)


def test_with_the_gateways_own_api_composed_in_it_is_ready_and_enforces(
    ledgered, agencies, data_dir
):
    from app.federation.compose import compose
    from tests.enforcement.world import start_gateway, stop

    ledgered.grant(NOTABLE["adult"], ("human_services",))
    supergraph = compose(agencies.sources, include_accord=True)
    gateway = start_gateway(data_dir, supergraph)
    try:
        ready = gateway.client.get(f"{gateway.server.url}/readyz")
        assert ready.status_code == 200, ready.text
        body = gateway.query(QUERY)
        assert body["data"]["person"]["givenName"] and body["extensions"]["accord"]["entries"]
    finally:
        stop(gateway)


def test_the_gateway_raises_the_collectors_threshold_while_it_runs_and_restores_it(
    start, ledgered, agencies
):
    before = gc.get_threshold()
    gateway = start()
    try:
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
        assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's way
    finally:
        stop(gateway)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
