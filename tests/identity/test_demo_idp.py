"""The demo identity provider: keys made once and reused, tokens the gateway accepts."""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from app.demo_idp import (
    CITIZEN_PORTAL,
    DEMO_AGENCIES,
    DEMO_PURPOSES,
    OVERSIGHT,
    DemoIdentityProvider,
    JwksServer,
)
from app.identity import Authenticator


@pytest.fixture
def idp(tmp_path: Path) -> DemoIdentityProvider:
    return DemoIdentityProvider(tmp_path)


@pytest.fixture
def authenticator(idp: DemoIdentityProvider) -> Authenticator:
    authenticator = Authenticator(idp.issuers())
    authenticator.load_keys()
    return authenticator


def test_keys_are_created_once_and_reused(tmp_path: Path) -> None:
    first = DemoIdentityProvider(tmp_path)
    created = first.init()
    assert len(created) == 2 * len(DEMO_AGENCIES)
    token = first.case_worker_token("health", "TREAT")
    for agency in DEMO_AGENCIES:
        mode = stat.S_IMODE(os.stat(first.key_path(agency)).st_mode)
        assert mode == 0o600, f"{agency} key is readable by others"

    again = DemoIdentityProvider(tmp_path)
    assert again.init() == []
    authenticator = Authenticator(again.issuers())
    authenticator.load_keys()
    assert authenticator.authenticate_sync(f"Bearer {token}").agency == "health"


def test_every_sample_token_is_accepted_by_an_authenticator_trusting_the_demo_issuers(
    idp: DemoIdentityProvider, authenticator: Authenticator
) -> None:
    tokens = idp.sample_tokens(citizen="P000042")
    expected = {f"case_worker.{a}.{p}" for a, ps in DEMO_PURPOSES.items() for p in ps}
    expected |= {"auditor", "citizen.P000042"} | {f"agency_admin.{a}" for a in DEMO_PURPOSES}
    assert set(tokens) == expected

    for label, token in tokens.items():
        principal = authenticator.authenticate_sync(f"Bearer {token}")
        role = label.split(".")[0]
        assert principal.roles == frozenset({role}), label
        if role == "case_worker":
            _, agency, purpose = label.split(".")
            assert (principal.agency, principal.purpose) == (agency, purpose)
    citizen = authenticator.authenticate_sync(f"Bearer {tokens['citizen.P000042']}")
    assert (citizen.agency, citizen.subject) == (CITIZEN_PORTAL, "P000042")
    auditor = authenticator.authenticate_sync(f"Bearer {tokens['auditor']}")
    assert (auditor.agency, auditor.purpose) == (OVERSIGHT, None)


def test_demo_tokens_last_a_demo_session_but_do_expire(idp: DemoIdentityProvider) -> None:
    claims = jwt.decode(
        idp.case_worker_token("courts", "HLEGAL"), options={"verify_signature": False}
    )
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == 12 * 3600
    assert claims["exp"] > time.time() + 11 * 3600


def test_an_expired_demo_token_is_refused(
    idp: DemoIdentityProvider, authenticator: Authenticator
) -> None:
    old = idp.case_worker_token("health", "TREAT", now=int(time.time()) - 86_400)
    with pytest.raises(Exception, match="expired"):
        authenticator.authenticate_sync(f"Bearer {old}")


def test_bad_requests_for_tokens_are_refused(idp: DemoIdentityProvider) -> None:
    with pytest.raises(ValueError, match="no demo issuer"):
        idp.case_worker_token("mi6", "TREAT")
    with pytest.raises(ValueError, match="unknown purpose"):
        idp.case_worker_token("health", "FISHING")
    with pytest.raises(ValueError, match="unknown role"):
        idp.token("health", user="u", roles=["root"])
    with pytest.raises(ValueError, match="lifetime"):
        idp.case_worker_token("health", "TREAT", lifetime=0)


def test_rotation_keeps_the_previous_key_published(idp: DemoIdentityProvider) -> None:
    old_kid = jwt.get_unverified_header(idp.admin_token("health"))["kid"]
    new_kid = idp.rotate("health")
    assert new_kid != old_kid
    assert [jwk["kid"] for jwk in idp.jwks("health")["keys"]] == [new_kid, old_kid]
    assert jwt.get_unverified_header(idp.admin_token("health"))["kid"] == new_kid
    newest = idp.rotate("health")
    assert [jwk["kid"] for jwk in idp.jwks("health")["keys"]] == [newest, new_kid]


def test_published_jwks_hold_only_public_keys(idp: DemoIdentityProvider) -> None:
    idp.init()
    for agency in DEMO_AGENCIES:
        for jwk in json.loads(idp.jwks_path(agency).read_text())["keys"]:
            assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
            assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")


def test_jwks_server_serves_each_issuer_and_stops(idp: DemoIdentityProvider) -> None:
    with JwksServer(idp) as server:
        with urllib.request.urlopen(server.url("education"), timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert json.load(response) == idp.jwks("education")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.base_url}/nobody/jwks.json", timeout=5)
        missing.value.close()
        assert missing.value.code == 404
        url = server.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health/jwks.json", timeout=2)
