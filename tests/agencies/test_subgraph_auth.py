"""Gateway-to-subgraph tokens with real Ed25519 keys: what is honoured and what is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from schema import subgraph_auth
from schema.subgraph_auth import (
    CLAIM_AGENCY,
    CLAIM_FIELDS,
    CLAIM_PURPOSE,
    CLAIM_REQUEST_ID,
    CLAIM_USER,
    STATE_KEY,
    GatewayAuthMiddleware,
    GatewayClaims,
    GatewayTokenError,
    gateway_claims,
    is_service_sdl_request,
    load_public_keys,
    make_gateway_token,
    verify_gateway_token,
)

CLAIMS = GatewayClaims(
    agency="education",
    user="9c1e0d",
    purpose="COC",
    request_id="r-42",
    audience="health",
    fields=("Person.diagnoses", "Person.medications"),
)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_valid_token_round_trips_every_claim(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, key)
    claims = verify_gateway_token(token, [key.public_key()], "health")
    assert (claims.agency, claims.user, claims.purpose, claims.request_id) == (
        "education",
        "9c1e0d",
        "COC",
        "r-42",
    )
    assert claims.fields == ("Person.diagnoses", "Person.medications")
    assert claims.permits("Person.diagnoses") and not claims.permits("Person.encounters")
    assert claims.expires_at - claims.issued_at == 60
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {CLAIM_AGENCY, CLAIM_USER, CLAIM_PURPOSE, CLAIM_REQUEST_ID, CLAIM_FIELDS} <= set(payload)


def test_expired_token_is_refused(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, key, now=int(time.time()) - 200, lifetime=60)
    with pytest.raises(GatewayTokenError, match="expired"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_expiry_within_leeway_is_accepted(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, key, now=int(time.time()) - 70, lifetime=60)
    assert verify_gateway_token(token, [key.public_key()], "health").request_id == "r-42"


def test_not_yet_valid_token_is_refused(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, key, now=int(time.time()) + 600)
    with pytest.raises(GatewayTokenError, match="not yet valid"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_wrong_audience_is_refused(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, key)
    with pytest.raises(GatewayTokenError, match="not meant for 'courts'"):
        verify_gateway_token(token, [key.public_key()], "courts")


def test_wrong_issuer_is_refused(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(GatewayClaims(**{**CLAIMS.__dict__, "issuer": "elsewhere"}), key)
    with pytest.raises(GatewayTokenError, match="wrong issuer"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_wrong_key_is_refused(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, Ed25519PrivateKey.generate())
    with pytest.raises(GatewayTokenError, match="signature does not verify"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_any_of_several_keys_verifies_during_rotation(key: Ed25519PrivateKey) -> None:
    old = Ed25519PrivateKey.generate()
    token = make_gateway_token(CLAIMS, key)
    keys = [old.public_key(), key.public_key()]
    assert verify_gateway_token(token, keys, "health").agency == "education"


def test_kid_selects_from_a_key_mapping(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    keys = {"k1": other.public_key(), "k2": key.public_key()}
    token = make_gateway_token(CLAIMS, key, key_id="k2")
    assert verify_gateway_token(token, keys, "health").user == "9c1e0d"
    with pytest.raises(GatewayTokenError, match="unknown key"):
        verify_gateway_token(make_gateway_token(CLAIMS, key, key_id="k9"), keys, "health")


def _unsigned(payload: dict, header: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def test_alg_none_is_refused(key: Ed25519PrivateKey) -> None:
    genuine = jwt.decode(make_gateway_token(CLAIMS, key), options={"verify_signature": False})
    token = _unsigned(genuine, {"alg": "none", "typ": "JWT"})
    with pytest.raises(GatewayTokenError, match="algorithm must be EdDSA"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_hmac_signed_with_the_public_key_is_refused(key: Ed25519PrivateKey) -> None:
    genuine = jwt.decode(make_gateway_token(CLAIMS, key), options={"verify_signature": False})
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = _unsigned(genuine, header)[:-1]
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(GatewayTokenError, match="algorithm must be EdDSA"):
        verify_gateway_token(token, [key.public_key()], "health")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_missing_or_malformed_token_is_refused(key: Ed25519PrivateKey, token: str) -> None:
    with pytest.raises(GatewayTokenError, match="missing|malformed"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_token_missing_a_principal_claim_is_refused(key: Ed25519PrivateKey) -> None:
    now = int(time.time())
    payload = {"iss": "accord-gateway", "aud": "health", "iat": now, "exp": now + 60}
    token = jwt.encode({**payload, "user": "u", "rid": "r", "agency": "a"}, key, "EdDSA")
    with pytest.raises(GatewayTokenError, match="'purpose'"):
        verify_gateway_token(token, [key.public_key()], "health")
    token = jwt.encode(
        {**payload, "user": "u", "rid": "r", "agency": "", "purpose": "COC"}, key, "EdDSA"
    )
    with pytest.raises(GatewayTokenError, match="'agency' must be a non-empty string"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_long_lived_token_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="lifetime must be 1 to 300 s"):
        make_gateway_token(CLAIMS, key, lifetime=3600)
    payload = jwt.decode(make_gateway_token(CLAIMS, key), options={"verify_signature": False})
    token = jwt.encode({**payload, "exp": payload["iat"] + 3600}, key, "EdDSA")
    with pytest.raises(GatewayTokenError, match="longer than 300 s"):
        verify_gateway_token(token, [key.public_key()], "health")


def test_refusals_never_echo_the_token(key: Ed25519PrivateKey) -> None:
    token = make_gateway_token(CLAIMS, Ed25519PrivateKey.generate())
    with pytest.raises(GatewayTokenError) as refused:
        verify_gateway_token(token, [key.public_key()], "health")
    assert token not in str(refused.value)
    assert token.split(".")[2] not in str(refused.value)


def test_public_keys_load_from_pem_and_jwks(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    pem = tmp_path / "gateway.pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    jwks = tmp_path / "gateway.jwks.json"
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwks.write_text(json.dumps({"keys": [jwk]}))
    token = make_gateway_token(CLAIMS, key)
    for path in (pem, jwks):
        assert verify_gateway_token(token, load_public_keys(path), "health").purpose == "COC"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}', "no Ed25519 public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "bad PEM block"),
        (b"", "no Ed25519 public key"),
        (b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]}', "bad Ed25519 JWK"),
        (b'[{"kty": "OKP"}]', "no Ed25519 public key"),
        (b'{"keys": "none"}', "no Ed25519 public key"),
    ],
)
def test_bad_key_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(GatewayTokenError, match=message):
        load_public_keys(path)
    with pytest.raises(GatewayTokenError, match="cannot read"):
        load_public_keys(tmp_path / "absent.pem")


def test_verified_claims_are_found_from_any_request_shape() -> None:
    scope = {"type": "http", "state": {STATE_KEY: CLAIMS}}

    class Request:
        def __init__(self, scope: dict) -> None:
            self.scope = scope

    class Context:
        request = Request(scope)

    for holder in (scope, Request(scope), {"request": Request(scope)}, Context()):
        assert gateway_claims(holder) is CLAIMS
    assert gateway_claims({"type": "http"}) is None
    assert gateway_claims({"request": Request({"state": {STATE_KEY: "forged"}})}) is None


# The only request a public-SDL subgraph answers without a token: one query operation whose
# every field is `_service` (selecting only `sdl`/`__typename`) or `__typename`.
_TOP = st.sampled_from(["_service", "__typename", "_entities", "facilities", "person"])
_INNER = st.sampled_from(["sdl", "__typename", "secret"])


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bool]:
    fields, public = [], True
    for name in draw(st.lists(_TOP, min_size=1, max_size=3)):
        alias = draw(st.sampled_from(["", "a: "]))
        if name == "_service":
            inner = draw(st.lists(_INNER, min_size=1, max_size=2))
            public &= set(inner) <= {"sdl", "__typename"}
            fields.append(f"{alias}_service {{ {' '.join(inner)} }}")
        else:
            public &= name == "__typename"
            fields.append(f"{alias}{name}")
    kind = draw(st.sampled_from(["", "query Q ", "mutation ", "subscription "]))
    public &= kind in ("", "query Q ")
    text = f"{kind}{{ {' '.join(fields)} }}"
    if draw(st.booleans()):
        text += " fragment F on Query { __typename }"
        public = False
    return text, public


@given(documents())
def test_only_the_bare_sdl_query_counts_as_public(document: tuple[str, bool]) -> None:
    text, public = document
    assert is_service_sdl_request(json.dumps({"query": text}).encode()) is public


@pytest.mark.parametrize("claim", ["agency", "user", "request_id", "audience"])
def test_tokens_a_subgraph_would_refuse_are_not_signed(key: Ed25519PrivateKey, claim: str) -> None:
    claims = GatewayClaims(**{**CLAIMS.__dict__, claim: ""})
    with pytest.raises(ValueError, match="must be a non-empty string"):
        make_gateway_token(claims, key)


def test_a_call_without_a_purpose_carries_an_empty_one(key: Ed25519PrivateKey) -> None:
    claims = GatewayClaims(**{**CLAIMS.__dict__, "purpose": "", "fields": ()})
    verified = verify_gateway_token(make_gateway_token(claims, key), [key.public_key()], "health")
    assert verified.purpose == "" and verified.fields == ()


def _call(middleware: GatewayAuthMiddleware, token: str) -> tuple[int, GatewayClaims | None]:
    """One HTTP call through ``middleware``: the status, and the claims the app was given."""
    seen: list[GatewayClaims] = []
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["state"][STATE_KEY])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message) -> None:  # type: ignore[no-untyped-def]
        sent.append(message)

    middleware.app = app
    scope = {
        "type": "http",
        "path": "/graphql",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], (seen[0] if seen else None)


def test_the_middleware_checks_a_repeated_token_once_and_refuses_it_once_expired(
    key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def counting(token: str, *args, **kwargs) -> GatewayClaims:  # type: ignore[no-untyped-def]
        checked.append(token)
        return verify_gateway_token(token, *args, **kwargs)

    monkeypatch.setattr(subgraph_auth, "verify_gateway_token", counting)
    middleware = GatewayAuthMiddleware(None, [key.public_key()], "health", leeway=0)  # type: ignore[arg-type]
    token = make_gateway_token(CLAIMS, key, lifetime=1)

    for _ in range(3):
        status, claims = _call(middleware, token)
        assert status == 200 and claims is not None and claims.agency == "education"
    assert checked == [token]  # one signature check for three calls

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert _call(middleware, tampered) == (401, None)

    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert _call(middleware, token) == (401, None)  # checked again, and now expired
    assert checked == [token, tampered, token]
