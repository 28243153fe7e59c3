"""Ed25519 keys and their C2SP signed-note text encodings.

A log key, a witness key and a member agency key are all Ed25519. Keys travel as text in the
C2SP ``signed-note`` encodings so that standard tools (and other logs' witnesses) read them:

- verifier key: ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``
- signer key: ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``

The key id is the first four bytes of ``SHA-256(name || "\\n" || 0x01 || public key)``; a note
signature line starts with it so a verifier can pick the right key by name and id.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
# C2SP tlog-cosignature: Ed25519 cosignatures (cosignature/v1) use their own algorithm byte.
ALG_COSIGNATURE_V1 = 0x04
_RAW = serialization.Encoding.Raw


class KeyFormatError(ValueError):
    """A key that cannot be parsed, loaded or used; the message says which and why."""


@dataclass(frozen=True)
class Signer:
    """A named private key: signs notes and entries."""

    name: str
    private: Ed25519PrivateKey
    alg: int = ALG_ED25519

    @functools.cached_property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)

    @functools.cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public, self.alg)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public, self.alg)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def encode(self) -> str:
        """The ``PRIVATE+KEY+...`` text form."""
        seed = self.private.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        material = base64.b64encode(bytes([self.alg]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"


@dataclass(frozen=True)
class Verifier:
    """A named public key: checks signatures made by the matching :class:`Signer`."""

    name: str
    public: bytes
    alg: int = ALG_ED25519

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public, self.alg)

    def verify(self, data: bytes, signature: bytes) -> bool:
        return verify(self.public, data, signature)

    def encode(self) -> str:
        """The ``name+keyid+base64`` verifier key text form."""
        material = base64.b64encode(bytes([self.alg]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def generate(name: str, alg: int = ALG_ED25519) -> Signer:
    """A fresh Ed25519 signer called ``name`` (a schema-less URL such as ``accord.example/log``)."""
    _check_name(name)
    return Signer(name, Ed25519PrivateKey.generate(), alg)


def key_id(name: str, public: bytes, alg: int = ALG_ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def sign(private: Ed25519PrivateKey | Signer, data: bytes) -> bytes:
    """An Ed25519 signature of ``data``."""
    return private.sign(data)


def verify(public: bytes | Ed25519PublicKey, data: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``data`` by ``public``."""
    try:
        key = public if isinstance(public, Ed25519PublicKey) else public_key(public)
        key.verify(signature, data)
    except (InvalidSignature, ValueError, KeyFormatError):
        return False
    return True


def public_key(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_b64(signer: Signer) -> str:
    """The raw public key in standard base64, as entries carry it (``member.admitted.key``)."""
    return base64.b64encode(signer.public).decode()


def parse_public_b64(text: str) -> bytes:
    """Decode a base64 raw Ed25519 public key as entries carry it."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("public key is not valid base64") from None
    if len(raw) != 32:
        raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return raw


def parse_verifier(text: str) -> Verifier:
    """Parse a ``name+keyid+base64`` verifier key, checking its key id."""
    text = text.strip()
    parts = text.split("+", 2)  # base64 material may itself contain "+"
    if len(parts) != 3:
        raise KeyFormatError("a verifier key has the form name+keyid+base64(alg||key)")
    name, hex_id, material = parts
    _check_name(name)
    raw = _material(material, "verifier key")
    alg, public = raw[0], raw[1:]
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise KeyFormatError(f"verifier key algorithm 0x{alg:02x} is not supported (Ed25519 only)")
    if len(public) != 32:
        raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(public)}")
    verifier = Verifier(name, public, alg)
    if verifier.key_id.hex() != hex_id.lower() or len(hex_id) != 8:
        raise KeyFormatError(f"verifier key id {hex_id} does not match the key for {name}")
    return verifier


def parse_signer(text: str) -> Signer:
    """Parse a ``PRIVATE+KEY+name+keyid+base64`` signer key, checking its key id."""
    text = text.strip()
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFormatError("a signer key has the form PRIVATE+KEY+name+keyid+base64(alg||seed)")
    name, hex_id, material = parts[2:]
    _check_name(name)
    raw = _material(material, "signer key")
    alg, seed = raw[0], raw[1:]
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1) or len(seed) != 32:
        raise KeyFormatError("signer key is not an Ed25519 key")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(seed), alg)
    if signer.key_id.hex() != hex_id.lower():
        raise KeyFormatError(f"signer key id {hex_id} does not match the key for {name}")
    return signer


def save(signer: Signer, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.key`` (0600, signer key) and ``<stem>.pub`` (verifier key).

    Refuses to overwrite an existing private key: losing a log key loses the log's identity.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path = directory / f"{stem}.key"
    public_path = directory / f"{stem}.pub"
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFormatError(
            f"{private_path} already exists; refusing to overwrite a key"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(signer.encode() + "\n")
    public_path.write_text(signer.verifier.encode() + "\n", encoding="ascii")
    return private_path, public_path


def load_signer(path: Path) -> Signer:
    """Read a signer key file, refusing one that others can read."""
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFormatError(f"key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFormatError(f"cannot read key file {path}: {exc}") from None
    if mode & 0o077:
        raise KeyFormatError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    return parse_signer(text)


def load_verifier(path: Path) -> Verifier:
    try:
        return parse_verifier(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        raise KeyFormatError(f"key file {path} does not exist") from None


def load_or_create(directory: Path, stem: str, name: str) -> Signer:
    """The signer stored as ``<stem>.key`` under ``directory``, created on first use."""
    path = directory / f"{stem}.key"
    if path.exists():
        return load_signer(path)
    signer = generate(name)
    save(signer, directory, stem)
    return signer


def _material(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"{what} material is not valid base64") from None
    if not raw:
        raise KeyFormatError(f"{what} material is empty")
    return raw


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "+ \n\t") or not name.isprintable():
        raise KeyFormatError(
            f"key name {name!r} must be non-empty, printable, without '+' or spaces"
        )
