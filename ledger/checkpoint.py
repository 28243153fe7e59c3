"""Checkpoints as C2SP signed notes, and witness cosignatures.

A checkpoint (C2SP ``tlog-checkpoint``) is the note text::

    <origin>
    <tree size, decimal>
    <base64 root hash>

followed by a blank line and signature lines ``— <key name> base64(key id || signature)``
(C2SP ``signed-note``). The log signs the text with Ed25519. A witness (C2SP
``tlog-cosignature``, ``cosignature/v1``) signs ``"cosignature/v1\\ntime <t>\\n" + text`` and
puts ``key id || 8-byte big-endian t || signature`` in its line. Lines from keys a verifier does
not know are ignored, as the format requires.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from ledger import keys, merkle
from ledger.merkle import HASH_SIZE

DASH = "\u2014"  # EM DASH, the signature line prefix
MAX_NOTE_BYTES = 1_000_000
MAX_TIMESTAMP = 2**63 - 1


class CheckpointError(ValueError):
    """A note or checkpoint that is malformed or carries no valid signature."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # everything after the key id

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def sign(body: str, signer: keys.Signer) -> NoteSignature:
    """The log's signature over a note body."""
    return NoteSignature(signer.name, signer.key_id, signer.sign(body.encode()))


def signed_note(checkpoint: Checkpoint, signer: keys.Signer) -> str:
    body = checkpoint.body()
    return body + "\n" + sign(body, signer).line()


def split_note(text: str) -> tuple[str, list[NoteSignature]]:
    """Separate the note body from its signature lines (no verification)."""
    if len(text.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError("note is too large")
    if not text.endswith("\n"):
        raise CheckpointError("note must end with a newline")
    at = text.rfind("\n\n")
    if at < 0:
        raise CheckpointError("note has no signature block (blank line before signatures)")
    body, block = text[: at + 1], text[at + 2 :]
    signatures = []
    for line in block.splitlines():
        if not line.startswith(DASH + " "):
            raise CheckpointError(f"malformed signature line {line[:40]!r}")
        parts = line[2:].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise CheckpointError(f"malformed signature line {line[:40]!r}")
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"signature for {parts[0]} is not valid base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"signature for {parts[0]} is too short")
        signatures.append(NoteSignature(parts[0], raw[:4], raw[4:]))
    if not signatures:
        raise CheckpointError("note has no signatures")
    return body, signatures


def parse_body(body: str) -> Checkpoint:
    """The checkpoint a note body describes, checking its three mandatory lines."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint needs origin, size and root lines")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin:
        raise CheckpointError("checkpoint origin line is empty")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("checkpoint root is not valid base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root is not a 32-byte hash")
    if any(not line for line in extensions):
        raise CheckpointError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(text: str, log_key: keys.Verifier, origin: str | None = None) -> Checkpoint:
    """Verify the log's signature on a checkpoint note and return the checkpoint."""
    body, signatures = split_note(text)
    checkpoint = parse_body(body)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    for signature in signatures:
        if signature.name == log_key.name and signature.key_id == log_key.key_id:
            if log_key.verify(body.encode(), signature.signature):
                return checkpoint
            raise CheckpointError(f"checkpoint signature by {log_key.name} does not verify")
    raise CheckpointError(f"checkpoint is not signed by the log key {log_key.name}")


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(body: str, witness: keys.Signer, timestamp: int) -> NoteSignature:
    """A ``cosignature/v1`` by ``witness`` (a key with algorithm byte 0x04)."""
    if witness.alg != keys.ALG_COSIGNATURE_V1:
        raise CheckpointError("a cosigning key must use the cosignature/v1 algorithm (0x04)")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError("cosignature timestamp out of range")
    signature = witness.sign(cosignature_message(body, timestamp))
    return NoteSignature(witness.name, witness.key_id, struct.pack(">Q", timestamp) + signature)


def verify_cosignature(body: str, signature: NoteSignature, witness: keys.Verifier) -> int:
    """Check one cosignature line against a witness key; returns its timestamp."""
    if witness.alg != keys.ALG_COSIGNATURE_V1:
        raise CheckpointError(f"witness key {witness.name} is not a cosignature/v1 key")
    if signature.name != witness.name or signature.key_id != witness.key_id:
        raise CheckpointError(f"cosignature is not by witness {witness.name} (name or key id)")
    if len(signature.signature) != 8 + 64:
        raise CheckpointError(f"cosignature by {witness.name} has the wrong length")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    if timestamp > MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature by {witness.name} has an out-of-range timestamp")
    if not witness.verify(cosignature_message(body, timestamp), signature.signature[8:]):
        raise CheckpointError(f"cosignature by {witness.name} does not verify")
    return timestamp


def verify_successor(old: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
    """Refuse ``new`` unless it extends ``old`` (same origin, consistency proof holds).

    What a witness checks before cosigning, and a peer before accepting a newer checkpoint.
    """
    if old.origin != new.origin:
        raise CheckpointError(f"checkpoint origin changed from {old.origin!r} to {new.origin!r}")
    if new.size < old.size:
        raise CheckpointError(f"checkpoint size went back from {old.size} to {new.size}")
    try:
        merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except merkle.ProofError as exc:
        raise CheckpointError(
            f"checkpoint at size {new.size} is not consistent with size {old.size}: {exc}"
        ) from None
