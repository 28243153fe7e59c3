"""Bearer tokens: what is accepted, and every way a token is refused with UNAUTHENTICATED."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.identity import Authenticator, IdentityError, Principal, Unauthenticated
from app.settings import Issuer

from .conftest import AUDIENCE, ISSUER, SigningKey, claims, new_key, public_jwk, sign, write_jwks


def refused(authenticator: Authenticator, token: str, purpose: str | None = None) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        authenticator.authenticate_sync(f"Bearer {token}", purpose)
    return caught.value


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_a_valid_token_of_each_algorithm_becomes_a_principal(
    authenticator: Authenticator, keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = sign(keys[algorithm], claims(purpose="TREAT"))

    principal = authenticator.authenticate_sync(f"Bearer {token}")

    assert principal == Principal(
        agency="health",
        user="alice",
        roles=frozenset({"case_worker"}),
        purposes=frozenset({"TREAT", "COC"}),
        purpose="TREAT",
        subject=None,
        issuer=ISSUER,
    )


def test_principal_is_frozen(authenticator: Authenticator, keys: dict[str, SigningKey]) -> None:
    principal = authenticator.authenticate_sync(f"Bearer {sign(keys['EdDSA'])}", "TREAT")
    with pytest.raises(AttributeError):
        principal.agency = "courts"  # type: ignore[misc]


@pytest.mark.anyio
async def test_async_authenticate_gives_the_same_principal(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["ES256"])
    principal = await authenticator.authenticate(f"Bearer {token}", "COC")
    assert (principal.agency, principal.purpose) == ("health", "COC")


def test_expired_token_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    now = int(time.time())
    error = refused(authenticator, sign(keys["EdDSA"], claims(iat=now - 700, exp=now - 60)))
    assert isinstance(error, Unauthenticated)
    assert (error.code, error.status) == ("UNAUTHENTICATED", 401)
    assert error.extensions == {"code": "UNAUTHENTICATED"}
    assert "expired" in error.reason


def test_expiry_within_the_leeway_is_tolerated(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    # The fixture's leeway is 5 s: a clock 2 s apart must not log people out.
    token = sign(keys["EdDSA"], claims(exp=int(time.time()) - 2))
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").user == "alice"


def test_token_not_yet_valid_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(nbf=int(time.time()) + 300)))
    assert error.code == "UNAUTHENTICATED"
    assert "not yet valid" in error.reason


def test_untrusted_issuer_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(iss="https://evil.test")))
    assert error.code == "UNAUTHENTICATED"
    assert "issuer" in error.reason


def test_a_trusted_issuer_name_signed_by_another_issuers_key_is_refused(
    tmp_path: Path, keys: dict[str, SigningKey]
) -> None:
    # Education's provider signs a token that claims to come from health's provider.
    education = new_key("EdDSA")
    trusted = [
        Issuer(
            agency="health",
            issuer=ISSUER,
            jwks_file=write_jwks(tmp_path / "h.json", keys["EdDSA"].jwk),
        ),
        Issuer(
            agency="education",
            issuer="https://idp.education.test",
            jwks_file=write_jwks(tmp_path / "e.json", education.jwk),
        ),
    ]
    authenticator = Authenticator(trusted)
    authenticator.load_keys()
    error = refused(authenticator, sign(education, claims()))
    assert error.code == "UNAUTHENTICATED"
    assert "unknown key" in error.reason


def test_an_issuer_cannot_speak_for_another_agency(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(agency="courts")))
    assert error.code == "UNAUTHENTICATED"
    assert "courts" in error.reason


def test_wrong_audience_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    error = refused(authenticator, sign(keys["RS256"], claims(aud="some-other-api")))
    assert error.code == "UNAUTHENTICATED"
    assert "audience" in error.reason


def test_audience_list_containing_accord_is_accepted(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["RS256"], claims(aud=["portal", AUDIENCE]))
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").agency == "health"


def test_alg_none_is_refused(authenticator: Authenticator, keys: dict[str, SigningKey]) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": keys["EdDSA"].kid}
    token = f"{_segment(header)}.{_segment(claims())}."
    error = refused(authenticator, token)
    assert error.code == "UNAUTHENTICATED"
    assert "not accepted" in error.reason


def test_hs256_signed_with_the_rsa_public_key_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    # The classic confusion attack: the public key, known to everyone, used as an HMAC secret.
    public_pem = (
        keys["RS256"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _segment({"alg": "HS256", "typ": "JWT", "kid": keys["RS256"].kid})
    body = _segment(claims())
    import hashlib
    import hmac

    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    error = refused(authenticator, token)
    assert error.code == "UNAUTHENTICATED"
    assert "HS256" in error.reason


def test_algorithm_must_match_the_keys_type(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    # An ES256 signature presented under the RSA key's id.
    token = sign(keys["ES256"], kid=keys["RS256"].kid)
    error = refused(authenticator, token)
    assert error.code == "UNAUTHENTICATED"
    assert "cannot verify ES256" in error.reason


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rsa_keys_shorter_than_2048_bits_are_not_trusted(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = SigningKey("RS256", private, public_jwk(private, "RS256"))
    authenticator = Authenticator(
        [
            Issuer(
                agency="health", issuer=ISSUER, jwks_file=write_jwks(tmp_path / "w.json", weak.jwk)
            )
        ]
    )
    authenticator.load_keys()
    assert refused(authenticator, sign(weak)).code == "UNAUTHENTICATED"


def test_tampered_payload_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    header, _, signature = sign(keys["EdDSA"]).split(".")
    forged = _segment(claims(agency="health", roles=["auditor", "agency_admin"]))
    error = refused(authenticator, f"{header}.{forged}.{signature}")
    assert "signature" in error.reason


def test_unknown_kid_is_refused(authenticator: Authenticator) -> None:
    stranger = new_key("EdDSA")
    error = refused(authenticator, sign(stranger))
    assert error.code == "UNAUTHENTICATED"
    assert "unknown key" in error.reason


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c",
        "eyJhbGciOiJFZERTQSJ9.!!!.abc",
        f"{_segment({'alg': 'EdDSA'})}.{base64.urlsafe_b64encode(b'not json').decode()}.c2ln",
        f"{_segment({'alg': 'EdDSA'})}.{_segment({'iss': ISSUER})}",
        "x" * 20_000,
        f"{_segment([1, 2])}.{_segment(claims())}.c2ln",
        f"{_segment({'alg': 'EdDSA'})}.{_segment(claims())}.c2ln.extra",
        f"{_segment({'alg': 'EdDSA'})}..c2ln",
        "ä.ö.ü",
    ],
    ids=[
        "garbage",
        "two-segments",
        "bad-base64",
        "bad-chars",
        "payload-not-json",
        "unsigned",
        "huge",
        "header-not-object",
        "four-segments",
        "empty-payload",
        "not-ascii",
    ],
)
def test_malformed_tokens_are_refused(authenticator: Authenticator, token: str) -> None:
    error = refused(authenticator, token)
    assert error.code == "UNAUTHENTICATED"
    assert error.status == 401


@pytest.mark.parametrize(
    "authorization", [None, "", "   ", "Bearer", "Bearer   ", "Basic YWxpY2U6c2VjcmV0", "Token abc"]
)
def test_missing_or_wrong_authorization_header_is_refused(
    authenticator: Authenticator, authorization: str | None
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        authenticator.authenticate_sync(authorization)
    assert caught.value.status == 401
    assert "Bearer" in caught.value.headers["WWW-Authenticate"]


def test_bearer_scheme_is_case_insensitive(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    principal = authenticator.authenticate_sync(f"bearer {sign(keys['EdDSA'])}", "TREAT")
    assert principal.user == "alice"


@pytest.mark.parametrize("missing", ["exp", "sub", "aud", "iss"])
def test_required_claims_must_be_present(
    authenticator: Authenticator, keys: dict[str, SigningKey], missing: str
) -> None:
    payload = claims()
    del payload[missing]
    assert refused(authenticator, sign(keys["EdDSA"], payload)).code == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": "case_worker auditor", "sub": ""},
        {"roles": [1, 2]},
        {"purposes": {"TREAT": True}},
        {"purpose": "FISHING"},
        {"purposes": ["COC"], "purpose": "TREAT"},
        {"roles": ["citizen"]},
        {"subject": 42},
    ],
    ids=[
        "empty-sub",
        "roles-not-strings",
        "purposes-not-list",
        "unknown-claimed-purpose",
        "claimed-purpose-not-allowed",
        "citizen-without-subject",
        "subject-not-string",
    ],
)
def test_ill_formed_claims_are_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey], overrides: dict
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(**overrides)))
    assert error.code == "UNAUTHENTICATED"


def test_unknown_roles_and_purposes_in_a_token_grant_nothing(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(roles=["case_worker", "root"], purposes=["TREAT", "SPY"]))
    principal = authenticator.authenticate_sync(f"Bearer {token}")
    assert principal.roles == frozenset({"case_worker"})
    assert principal.purposes == frozenset({"TREAT"})


def test_citizen_token_carries_the_subject(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(roles=["citizen"], subject="P000001", purposes=["PATRQT"]))
    principal = authenticator.authenticate_sync(f"Bearer {token}")
    assert (principal.subject, principal.purpose) == ("P000001", "PATRQT")
    assert principal.has_role("citizen") and not principal.has_role("case_worker")


def test_a_token_whose_signing_key_is_withdrawn_is_refused_even_if_seen_before(
    tmp_path: Path, keys: dict[str, SigningKey]
) -> None:
    path = write_jwks(tmp_path / "jwks.json", keys["EdDSA"].jwk)
    authenticator = Authenticator(
        [Issuer(agency="health", issuer=ISSUER, jwks_file=path, jwks_min_refresh_seconds=0)]
    )
    authenticator.load_keys()
    token = sign(keys["EdDSA"])
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").user == "alice"

    write_jwks(path, keys["ES256"].jwk)  # the provider withdraws the key
    authenticator.load_keys()

    assert "unknown key" in refused(authenticator, token).reason


def test_a_remembered_token_is_refused_once_it_expires(
    keys: dict[str, SigningKey], make_authenticator
) -> None:
    authenticator = make_authenticator(leeway=0)
    token = sign(keys["EdDSA"], claims(exp=int(time.time()) + 1))
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").user == "alice"
    time.sleep(
        max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 1.1
    )
    assert "expired" in refused(authenticator, token).reason


def test_the_verified_token_cache_is_bounded(
    keys: dict[str, SigningKey], make_authenticator
) -> None:
    authenticator = make_authenticator(cache_size=3)
    for user in ("a", "b", "c", "d", "e"):
        authenticator.authenticate_sync(f"Bearer {sign(keys['EdDSA'], claims(sub=user))}", "TREAT")
    assert authenticator.remembered == 3


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(
    authenticator: Authenticator, keys: dict[str, SigningKey], claim: str
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(**{claim: "tomorrow"})))
    assert error.code == "UNAUTHENTICATED"
    assert f"({claim})" in error.reason


def test_issued_in_the_future_is_refused(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    error = refused(authenticator, sign(keys["EdDSA"], claims(iat=int(time.time()) + 600)))
    assert "not yet valid" in error.reason
