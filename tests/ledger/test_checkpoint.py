"""Checkpoints as C2SP signed notes; witness cosignatures (cosignature/v1)."""

from __future__ import annotations

import base64
import struct

import pytest

from ledger import checkpoint as notes
from ledger import keys, merkle

ROOT = merkle.leaf_hash(b"x")


def test_checkpoint_note_layout_and_verification() -> None:
    log = keys.generate("accord.test/log")
    note = notes.signed_note(notes.Checkpoint("accord.test/log", 42, ROOT), log)
    lines = note.split("\n")
    assert lines[:4] == ["accord.test/log", "42", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith("\u2014 accord.test/log ")
    assert base64.b64decode(lines[4].split(" ")[2])[:4] == log.key_id
    checkpoint = notes.open_checkpoint(note, log.verifier, "accord.test/log")
    assert (checkpoint.size, checkpoint.root) == (42, ROOT)


def test_a_checkpoint_with_a_changed_line_or_foreign_key_is_refused() -> None:
    log, other = keys.generate("accord.test/log"), keys.generate("accord.test/log")
    note = notes.signed_note(notes.Checkpoint("accord.test/log", 42, ROOT), log)
    with pytest.raises(notes.CheckpointError, match="does not verify"):
        notes.open_checkpoint(note.replace("\n42\n", "\n43\n"), log.verifier)
    with pytest.raises(notes.CheckpointError, match="not signed by the log key"):
        notes.open_checkpoint(note, other.verifier)
    with pytest.raises(notes.CheckpointError, match="origin"):
        notes.open_checkpoint(note, log.verifier, "elsewhere.test/log")
    for broken in ["", "no blank line\n", note.rstrip("\n"), note.replace("\u2014", "-")]:
        with pytest.raises(notes.CheckpointError):
            notes.open_checkpoint(broken, log.verifier)


def test_cosignature_v1_signs_the_header_time_and_body() -> None:
    log = keys.generate("accord.test/log")
    witness = keys.generate("witness.test/w1", keys.ALG_COSIGNATURE_V1)
    body = notes.Checkpoint("accord.test/log", 7, ROOT).body()
    signature = notes.cosign(body, witness, 1_679_315_147)
    assert signature.key_id == keys.key_id("witness.test/w1", witness.public, 0x04)
    assert struct.unpack(">Q", signature.signature[:8]) == (1_679_315_147,)
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    assert keys.verify(witness.public, message, signature.signature[8:])
    parsed = keys.parse_verifier(witness.verifier.encode())
    assert notes.verify_cosignature(body, signature, parsed) == 1_679_315_147
    note = notes.signed_note(notes.Checkpoint("accord.test/log", 7, ROOT), log) + signature.line()
    _, signatures = notes.split_note(note)
    assert notes.verify_cosignature(body, signatures[1], parsed) == 1_679_315_147
    # Another body, another time, another witness: refused.
    other_body = notes.Checkpoint("accord.test/log", 8, ROOT).body()
    with pytest.raises(notes.CheckpointError):
        notes.verify_cosignature(other_body, signature, parsed)
    forged = notes.NoteSignature(
        signature.name, signature.key_id, struct.pack(">Q", 1) + signature.signature[8:]
    )
    with pytest.raises(notes.CheckpointError):
        notes.verify_cosignature(body, forged, parsed)
    stranger = keys.generate("witness.test/w1", keys.ALG_COSIGNATURE_V1).verifier
    with pytest.raises(notes.CheckpointError):
        notes.verify_cosignature(body, signature, stranger)
