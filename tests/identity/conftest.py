"""Real keys of each accepted algorithm, JWKS files, and an Authenticator that trusts them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.identity import Authenticator, jwk_thumbprint
from app.settings import Issuer

ISSUER = "https://idp.health.test"
AUDIENCE = "accord"


@dataclass
class SigningKey:
    """A private key, the algorithm it signs with, and its public JWK."""

    algorithm: str
    private: Any
    jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        return self.jwk["kid"]


def public_jwk(private: Any, algorithm: str) -> dict[str, Any]:
    maker = jwt.algorithms.get_default_algorithms()[algorithm]
    jwk = maker.to_jwk(private.public_key(), as_dict=True)
    jwk = {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": algorithm}
    return jwk


def new_key(algorithm: str) -> SigningKey:
    if algorithm == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(algorithm)
    return SigningKey(algorithm, private, public_jwk(private, algorithm))


# Key generation (RSA especially) is slow enough to do once per test session.
@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    return {alg: new_key(alg) for alg in ("EdDSA", "ES256", "RS256")}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "agency": "health",
        "roles": ["case_worker"],
        "purposes": ["TREAT", "COC"],
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: SigningKey, payload: dict[str, Any] | None = None, **header: Any) -> str:
    headers = {"kid": key.kid, **header}
    return jwt.encode(payload or claims(), key.private, algorithm=key.algorithm, headers=headers)


def write_jwks(path: Path, *jwks: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(jwks)}), encoding="utf-8")
    return path


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, SigningKey]) -> Path:
    return write_jwks(tmp_path / "health.jwks.json", *(key.jwk for key in keys.values()))


@pytest.fixture
def make_authenticator(jwks_file: Path) -> Callable[..., Authenticator]:
    def make(issuers: list[Issuer] | None = None, **options: Any) -> Authenticator:
        trusted = issuers or [Issuer(agency="health", issuer=ISSUER, jwks_file=jwks_file)]
        authenticator = Authenticator(trusted, **{"leeway": 5, **options})
        authenticator.load_keys()
        return authenticator

    return make


@pytest.fixture
def authenticator(make_authenticator: Callable[..., Authenticator]) -> Authenticator:
    return make_authenticator()
