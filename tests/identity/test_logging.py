"""Refusals are logged with their reason, and never with the token."""

from __future__ import annotations

import logging
import time

import pytest

from app.identity import Authenticator, IdentityError

from .conftest import SigningKey, claims, new_key, sign


def test_log_names_the_reason_but_never_contains_the_token(
    authenticator: Authenticator, keys: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    good = sign(keys["EdDSA"])
    bad = {
        "expired": sign(keys["EdDSA"], claims(exp=now - 600)),
        "not yet valid": sign(keys["ES256"], claims(nbf=now + 600)),
        "audience": sign(keys["RS256"], claims(aud="elsewhere")),
        "issuer": sign(keys["EdDSA"], claims(iss="https://evil.test")),
        "unknown key": sign(new_key("EdDSA")),
        "signature": good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"),
        "malformed": "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXBheWxvYWQ",
    }
    with caplog.at_level(logging.DEBUG):
        for reason, token in bad.items():
            with pytest.raises(IdentityError):
                authenticator.authenticate_sync(f"Bearer {token}")
            assert reason in caplog.text, reason
        with pytest.raises(IdentityError):
            authenticator.authenticate_sync(f"Bearer {good}", "PUBHLTH")
        authenticator.authenticate_sync(f"Bearer {good}", "TREAT")

    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "FORBIDDEN" in logged and "UNAUTHENTICATED" in logged
    for token in [good, *bad.values()]:
        for part in [token, *[segment for segment in token.split(".") if len(segment) > 8]]:
            assert part not in logged


def test_a_request_without_credentials_is_logged_too(
    authenticator: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="accord.identity"), pytest.raises(IdentityError):
        authenticator.authenticate_sync(None)
    assert "missing bearer token" in caplog.text
    assert "sha256" not in caplog.text
