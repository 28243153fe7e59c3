"""Key sets: loaded from files and from URLs on 127.0.0.1, refreshed on rotation, rate-limited."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import jwt
import pydantic
import pytest

from app.demo_idp import DemoIdentityProvider, JwksServer
from app.identity import Authenticator, IdentityConfigError, Unauthenticated
from app.settings import Issuer, SettingsError
from tests.support import free_port

from .conftest import ISSUER, SigningKey, claims, new_key, sign, write_jwks


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.fixture
def idp(tmp_path: Path) -> DemoIdentityProvider:
    return DemoIdentityProvider(tmp_path, agencies=["health", "courts"])


@pytest.fixture
def server(idp: DemoIdentityProvider):
    with JwksServer(idp) as running:
        yield running


def url_authenticator(server: JwksServer, min_refresh: float) -> Authenticator:
    issuers = [
        issuer.model_copy(update={"jwks_min_refresh_seconds": min_refresh})
        for issuer in server.issuers()
    ]
    assert all(issuer.jwks_url and issuer.jwks_file is None for issuer in issuers)
    authenticator = Authenticator(issuers)
    authenticator.load_keys()
    return authenticator


def test_rotated_key_is_fetched_from_the_url_then_a_truly_unknown_kid_is_refused(
    idp: DemoIdentityProvider, server: JwksServer
) -> None:
    authenticator = url_authenticator(server, min_refresh=0)
    old_token = idp.case_worker_token("health", "TREAT")
    assert authenticator.authenticate_sync(bearer(old_token)).agency == "health"
    assert server.hits["health"] == 1

    idp.rotate("health")
    new_token = idp.case_worker_token("health", "TREAT")
    assert (
        jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
    )

    assert authenticator.authenticate_sync(bearer(new_token)).agency == "health"
    assert server.hits["health"] == 2  # one reload, on the unknown kid
    assert authenticator.authenticate_sync(bearer(old_token)).agency == "health"  # still published

    stranger = new_key("EdDSA")
    forged = sign(stranger, claims(iss=idp.issuers()[0].issuer, aud="accord"))
    with pytest.raises(Unauthenticated) as caught:
        authenticator.authenticate_sync(bearer(forged))
    assert "unknown key" in caught.value.reason
    assert server.hits["health"] == 3  # it looked once more, then refused


@pytest.mark.anyio
async def test_async_path_reloads_keys_off_the_event_loop(
    idp: DemoIdentityProvider, server: JwksServer
) -> None:
    authenticator = url_authenticator(server, min_refresh=0)
    idp.rotate("courts")
    principal = await authenticator.authenticate(bearer(idp.case_worker_token("courts", "HLEGAL")))
    assert (principal.agency, principal.purpose) == ("courts", "HLEGAL")
    assert server.hits["courts"] == 2


def test_a_flood_of_unknown_kids_does_not_hammer_the_provider(
    idp: DemoIdentityProvider, server: JwksServer
) -> None:
    authenticator = url_authenticator(server, min_refresh=3600)
    issuer = idp.issuers()[0].issuer
    for _ in range(25):
        token = sign(new_key("EdDSA"), claims(iss=issuer))
        with pytest.raises(Unauthenticated):
            authenticator.authenticate_sync(bearer(token))
    assert server.hits["health"] == 1  # the start-up load only


def test_unreachable_jwks_url_refuses_tokens_without_crashing(idp: DemoIdentityProvider) -> None:
    issuer = Issuer(
        agency="health",
        issuer="https://demo.accord.example/idp/health",
        jwks_url=f"http://127.0.0.1:{free_port()}/health/jwks.json",
        jwks_timeout_seconds=2,
    )
    authenticator = Authenticator([issuer])
    authenticator.load_keys()  # logged, not raised: the provider may come up later
    with pytest.raises(Unauthenticated):
        authenticator.authenticate_sync(bearer(idp.case_worker_token("health", "TREAT")))


def test_missing_jwks_file_is_a_configuration_error(tmp_path: Path) -> None:
    issuer = Issuer(agency="health", issuer=ISSUER, jwks_file=tmp_path / "absent.json")
    with pytest.raises(IdentityConfigError, match="absent.json") as caught:
        Authenticator([issuer]).load_keys()
    assert isinstance(caught.value, SettingsError)  # the CLI prints it as one line


@pytest.mark.parametrize("content", ["{not json", '{"keys": 3}', "[]"])
def test_corrupt_jwks_file_is_a_configuration_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(IdentityConfigError):
        Authenticator([Issuer(agency="health", issuer=ISSUER, jwks_file=path)]).load_keys()


def test_an_issuer_needs_exactly_one_key_source(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        Issuer(agency="health", issuer=ISSUER)
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        Issuer(agency="health", issuer=ISSUER, jwks_file=tmp_path / "a", jwks_url="http://x")


def test_private_and_symmetric_keys_in_a_jwks_are_ignored(tmp_path: Path) -> None:
    key = new_key("EdDSA")
    private_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.private))
    private_jwk["kid"] = key.kid
    secret = {
        "kty": "oct",
        "kid": "shared",
        "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ",
    }
    path = write_jwks(tmp_path / "jwks.json", private_jwk, secret)
    authenticator = Authenticator([Issuer(agency="health", issuer=ISSUER, jwks_file=path)])
    authenticator.load_keys()
    with pytest.raises(Unauthenticated):
        authenticator.authenticate_sync(bearer(sign(key)))
    with pytest.raises(Unauthenticated):
        token = jwt.encode(
            claims(), "secret-secret-secret-secret-secret-secret", "HS256", {"kid": "shared"}
        )
        authenticator.authenticate_sync(bearer(token))


def test_a_key_pinned_to_another_algorithm_is_not_used(
    tmp_path: Path, keys: dict[str, SigningKey]
) -> None:
    key = keys["RS256"]
    path = write_jwks(tmp_path / "jwks.json", {**key.jwk, "alg": "PS256"})
    authenticator = Authenticator([Issuer(agency="health", issuer=ISSUER, jwks_file=path)])
    authenticator.load_keys()
    with pytest.raises(Unauthenticated, match="cannot verify RS256"):
        authenticator.authenticate_sync(bearer(sign(key)))


def test_without_kid_the_single_usable_key_is_used(tmp_path: Path) -> None:
    key = new_key("ES256")
    other = new_key("EdDSA")
    path = write_jwks(tmp_path / "jwks.json", key.jwk, other.jwk)
    authenticator = Authenticator([Issuer(agency="health", issuer=ISSUER, jwks_file=path)])
    authenticator.load_keys()
    token = jwt.encode(claims(), key.private, algorithm="ES256")  # no kid header
    assert authenticator.authenticate_sync(bearer(token), "TREAT").user == "alice"

    write_jwks(path, key.jwk, new_key("ES256").jwk)  # now two ES256 keys: ambiguous
    authenticator = Authenticator([Issuer(agency="health", issuer=ISSUER, jwks_file=path)])
    authenticator.load_keys()
    with pytest.raises(Unauthenticated, match="names no key"):
        authenticator.authenticate_sync(bearer(token))


def test_one_provider_for_several_agencies_is_told_apart_by_the_agency_claim(
    tmp_path: Path,
) -> None:
    key = new_key("EdDSA")
    path = write_jwks(tmp_path / "jwks.json", key.jwk)
    shared = "https://sso.state.test"
    authenticator = Authenticator(
        [
            Issuer(agency="health", issuer=shared, jwks_file=path),
            Issuer(agency="education", issuer=shared, jwks_file=path),
        ]
    )
    authenticator.load_keys()
    token = sign(key, claims(iss=shared, agency="education"))
    assert authenticator.authenticate_sync(bearer(token), "COC").agency == "education"
    with pytest.raises(Unauthenticated, match="agency"):
        authenticator.authenticate_sync(bearer(sign(key, claims(iss=shared, agency="courts"))))


@pytest.mark.parametrize(("max_age", "reloads"), [(3600, 0), (1e-9, 2)])
def test_key_sets_older_than_their_max_age_are_reloaded(
    idp: DemoIdentityProvider, server: JwksServer, max_age: float, reloads: int
) -> None:
    issuers = [
        issuer.model_copy(update={"jwks_min_refresh_seconds": 0, "jwks_max_age_seconds": max_age})
        for issuer in server.issuers()
    ]
    authenticator = Authenticator(issuers)
    authenticator.load_keys()
    for user in ("ann", "bob"):
        token = idp.case_worker_token("health", "TREAT", user=user)
        assert authenticator.authenticate_sync(bearer(token)).user == user
    assert server.hits["health"] == 1 + reloads


@pytest.mark.anyio
async def test_concurrent_first_requests_share_one_key_fetch(
    idp: DemoIdentityProvider, server: JwksServer
) -> None:
    issuers = [
        issuer.model_copy(update={"jwks_min_refresh_seconds": 3600}) for issuer in server.issuers()
    ]
    authenticator = Authenticator(issuers)  # keys not loaded: the first requests load them
    tokens = [idp.case_worker_token("health", "TREAT", user=f"u{i}") for i in range(20)]
    users: list[str] = []

    async def call(token: str) -> None:
        users.append((await authenticator.authenticate(bearer(token))).user)

    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(call, token)

    assert sorted(users) == sorted(f"u{i}" for i in range(20))
    assert server.hits["health"] == 1


def test_keys_are_never_fetched_from_where_the_token_says(
    tmp_path: Path, idp: DemoIdentityProvider
) -> None:
    # An attacker publishes their own JWKS and points the token's jku header at it.
    attacker = DemoIdentityProvider(tmp_path / "attacker", agencies=["health"])
    authenticator = Authenticator(idp.issuers())
    authenticator.load_keys()
    with JwksServer(attacker) as evil:
        token = attacker.token(
            "health",
            user="mallory",
            roles=["auditor"],
            claims={"iss": idp.issuers()[0].issuer},
        )
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(
            payload,
            attacker.signing_key("health")[1],
            algorithm="EdDSA",
            headers={"kid": header["kid"], "jku": evil.url("health")},
        )
        with pytest.raises(Unauthenticated, match="unknown key"):
            authenticator.authenticate_sync(bearer(forged))
        assert evil.hits == {}


def test_unknown_critical_header_parameters_are_refused(idp: DemoIdentityProvider) -> None:
    authenticator = Authenticator(idp.issuers())
    authenticator.load_keys()
    token = idp.case_worker_token("health", "TREAT")
    payload = jwt.decode(token, options={"verify_signature": False})
    kid, key = idp.signing_key("health")
    critical = jwt.encode(
        payload, key, algorithm="EdDSA", headers={"kid": kid, "crit": ["acme"], "acme": 1}
    )
    with pytest.raises(Unauthenticated, match="malformed"):
        authenticator.authenticate_sync(bearer(critical))
