"""Purpose of use: chosen by claim or the Accord-Purpose header, only among those allowed."""

from __future__ import annotations

import pytest

from app.identity import Authenticator, Forbidden

from .conftest import SigningKey, claims, sign


@pytest.fixture
def token(keys: dict[str, SigningKey]) -> str:
    return sign(keys["EdDSA"], claims(purposes=["TREAT", "COC"]))


def test_header_chooses_an_allowed_purpose(authenticator: Authenticator, token: str) -> None:
    principal = authenticator.authenticate_sync(f"Bearer {token}", "COC")
    assert principal.purpose == "COC"
    assert principal.purposes == frozenset({"TREAT", "COC"})


def test_header_is_read_case_insensitively(authenticator: Authenticator, token: str) -> None:
    assert authenticator.authenticate_sync(f"Bearer {token}", " treat ").purpose == "TREAT"


def test_purpose_the_token_does_not_allow_is_forbidden(
    authenticator: Authenticator, token: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        authenticator.authenticate_sync(f"Bearer {token}", "PUBHLTH")
    error = caught.value
    assert (error.code, error.status) == ("FORBIDDEN", 403)
    assert error.extensions == {"code": "FORBIDDEN"}
    assert "PUBHLTH" in error.reason and "COC, TREAT" in error.reason


@pytest.mark.parametrize("purpose", ["FISHING", "treat; drop", "ÜBER"])
def test_unknown_purpose_is_forbidden(
    authenticator: Authenticator, token: str, purpose: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        authenticator.authenticate_sync(f"Bearer {token}", purpose)
    assert "unknown purpose" in caught.value.reason


def test_claimed_purpose_is_the_default(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(purposes=["TREAT", "COC"], purpose="COC"))
    assert authenticator.authenticate_sync(f"Bearer {token}").purpose == "COC"
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").purpose == "TREAT"


def test_a_claimed_purpose_alone_is_the_only_one_allowed(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(purposes=None, purpose="ETREAT"))
    principal = authenticator.authenticate_sync(f"Bearer {token}")
    assert (principal.purpose, principal.purposes) == ("ETREAT", frozenset({"ETREAT"}))
    with pytest.raises(Forbidden):
        authenticator.authenticate_sync(f"Bearer {token}", "TREAT")


def test_a_single_allowed_purpose_needs_no_choosing(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(purposes=["HLEGAL"]))
    assert authenticator.authenticate_sync(f"Bearer {token}").purpose == "HLEGAL"


def test_several_allowed_and_none_chosen_leaves_the_purpose_open(
    authenticator: Authenticator, token: str
) -> None:
    assert authenticator.authenticate_sync(f"Bearer {token}").purpose is None
    assert authenticator.authenticate_sync(f"Bearer {token}", "").purpose is None


def test_a_token_without_purposes_cannot_choose_one(
    authenticator: Authenticator, keys: dict[str, SigningKey]
) -> None:
    token = sign(keys["EdDSA"], claims(roles=["auditor"], purposes=None))
    assert authenticator.authenticate_sync(f"Bearer {token}").purpose is None
    with pytest.raises(Forbidden) as caught:
        authenticator.authenticate_sync(f"Bearer {token}", "TREAT")
    assert "allowed: none" in caught.value.reason


def test_a_forbidden_purpose_does_not_spoil_the_next_request(
    authenticator: Authenticator, token: str
) -> None:
    with pytest.raises(Forbidden):
        authenticator.authenticate_sync(f"Bearer {token}", "PUBHLTH")
    assert authenticator.authenticate_sync(f"Bearer {token}", "TREAT").purpose == "TREAT"


def test_require_purpose_refuses_an_open_purpose(authenticator: Authenticator, token: str) -> None:
    open_purpose = authenticator.authenticate_sync(f"Bearer {token}")
    with pytest.raises(Forbidden) as caught:
        open_purpose.require_purpose()
    assert "Accord-Purpose" in caught.value.reason and "COC, TREAT" in caught.value.reason
    assert caught.value.graphql_error() == {
        "message": caught.value.reason,
        "extensions": {"code": "FORBIDDEN"},
    }
    chosen = authenticator.authenticate_sync(f"Bearer {token}", "COC")
    assert chosen.require_purpose() == "COC"
