"""Ed25519 keys in the C2SP signed-note encodings, and key files."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from ledger import keys


def test_verifier_and_signer_keys_round_trip_with_the_right_key_id() -> None:
    signer = keys.generate("accord.test/log")
    verifier = keys.parse_verifier(signer.verifier.encode())
    assert verifier == signer.verifier
    assert keys.parse_signer(signer.encode()).public == signer.public
    name, hex_id, material = signer.verifier.encode().split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01 and raw[1:] == signer.public
    expected = hashlib.sha256(b"accord.test/log\n\x01" + signer.public).digest()[:4]
    assert hex_id == expected.hex() and name == "accord.test/log"
    assert signer.encode().startswith("PRIVATE+KEY+accord.test/log+" + hex_id + "+")


def test_signatures_verify_only_for_the_signed_data_and_key() -> None:
    signer, other = keys.generate("a.test/x"), keys.generate("a.test/y")
    signature = keys.sign(signer, b"data")
    assert keys.verify(signer.public, b"data", signature)
    assert not keys.verify(signer.public, b"datA", signature)
    assert not keys.verify(other.public, b"data", signature)
    assert not keys.verify(b"short", b"data", signature)


@pytest.mark.parametrize(
    "text",
    [
        "no-plus-signs",
        "name+00000000+!!!",
        "name+00000000+" + base64.b64encode(b"\x01" + b"k" * 31).decode(),
        "name+00000000+" + base64.b64encode(b"\x02" + b"k" * 32).decode(),
        "name with space+00000000+AQ==",
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(keys.KeyFormatError):
        keys.parse_verifier(text)


def test_a_verifier_key_with_a_wrong_key_id_is_refused() -> None:
    name, _, material = keys.generate("a.test/x").verifier.encode().split("+", 2)
    with pytest.raises(keys.KeyFormatError, match="key id"):
        keys.parse_verifier(f"{name}+deadbeef+{material}")


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    signer = keys.load_or_create(tmp_path / "keys", "log", "a.test/log")
    private, public = tmp_path / "keys" / "log.key", tmp_path / "keys" / "log.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert keys.load_or_create(tmp_path / "keys", "log", "a.test/log").public == signer.public
    assert keys.load_verifier(public) == signer.verifier
    with pytest.raises(keys.KeyFormatError, match="refusing to overwrite"):
        keys.save(keys.generate("a.test/log"), tmp_path / "keys", "log")
    private.chmod(0o644)
    with pytest.raises(keys.KeyFormatError, match="readable by others"):
        keys.load_signer(private)
