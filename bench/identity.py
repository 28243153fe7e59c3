"""Cost of authenticating a request: bearer JWT verification per algorithm, cold and cached.

Prints JSON: microseconds per call (best of 7 repeats) for EdDSA, ES256 and RS256 tokens with
the verified-token cache off and on, and for refusing a token with an unknown key id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
import time
import timeit
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/ledger.py would shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.identity import Authenticator, IdentityError, jwk_thumbprint
from app.settings import Issuer

ISSUER = "https://idp.bench.test"


def new_key(algorithm: str) -> tuple[object, dict]:
    private = {
        "EdDSA": lambda: ed25519.Ed25519PrivateKey.generate(),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[algorithm]()
    jwk = jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(
        private.public_key(), as_dict=True
    )
    return private, {**jwk, "kid": jwk_thumbprint(jwk), "alg": algorithm, "use": "sig"}


def token(private: object, jwk: dict) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "accord",
        "sub": "bench",
        "iat": now,
        "exp": now + 3600,
        "agency": "health",
        "roles": ["case_worker"],
        "purposes": ["TREAT"],
    }
    signed = jwt.encode(claims, private, algorithm=jwk["alg"], headers={"kid": jwk["kid"]})
    return "Bearer " + signed


def per_call_us(fn, number: int) -> float:
    fn()
    return round(min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6, 1)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="accord-bench-identity-") as directory:
        measure(Path(directory) / "jwks.json")


def measure(jwks: Path) -> None:
    logging.disable(logging.WARNING)
    keys = {alg: new_key(alg) for alg in ("EdDSA", "ES256", "RS256")}
    jwks.write_text(json.dumps({"keys": [jwk for _, jwk in keys.values()]}))
    issuers = [Issuer(agency="health", issuer=ISSUER, jwks_file=jwks)]

    def authenticator(cache_size: int) -> Authenticator:
        auth = Authenticator(issuers, cache_size=cache_size)
        auth.load_keys()
        return auth

    figures: dict[str, float] = {}
    for algorithm, (private, jwk) in keys.items():
        bearer = token(private, jwk)
        cold, warm = authenticator(0), authenticator(10_000)
        figures[f"{algorithm}_uncached_us"] = per_call_us(
            lambda a=cold, t=bearer: a.authenticate_sync(t, "TREAT"), 300
        )
        figures[f"{algorithm}_cached_us"] = per_call_us(
            lambda a=warm, t=bearer: a.authenticate_sync(t, "TREAT"), 5000
        )

    stranger = token(*new_key("EdDSA"))
    refusing = authenticator(0)

    def refuse() -> None:
        with contextlib.suppress(IdentityError):
            refusing.authenticate_sync(stranger)

    figures["unknown_kid_refusal_us"] = per_call_us(refuse, 2000)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
