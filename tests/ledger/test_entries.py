"""Entry envelopes and bodies: strict shapes, signatures over the canonical bytes."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from ledger import canonical, keys
from ledger.entries import BODIES, EntryError, decode_entry, new_entry, sign_entry
from ledger.members import MemberKeys
from tests.ledger.samples import admission, consent, disclosure


def test_an_entry_round_trips_through_its_canonical_bytes() -> None:
    member = keys.generate("health")
    for entry in (disclosure(3), admission("health", member), consent("health", member)):
        assert decode_entry(entry.encode()) == entry
        assert entry.encode() == canonical.encode(entry.to_json())
        assert entry.encode_checked() == entry.encode()


def test_the_signature_covers_the_canonical_bytes_without_sig() -> None:
    member = keys.generate("health")
    entry = admission("health", member)
    signature = base64.b64decode(entry.sig or "")
    assert keys.verify(member.public, replace(entry, sig=None).encode(), signature)
    assert entry.signing_bytes() == replace(entry, sig=None).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"author":"operator","body":{},"ts":1,"type":"disclosure","v":1,"x":1}', "unknown"),
        (b'{"author":"operator","body":{},"ts":1,"v":1}', "lacks type"),
        (b'{"author":"operator","body":{},"ts":1,"type":"gossip","v":1}', "unknown entry type"),
        (b'{"author":"operator","body":{},"ts":1,"type":"disclosure","v":2}', "version 2"),
        (b'{"author":"operator","body":{},"ts":-1,"type":"disclosure","v":1}', "ts must"),
        (b'{"author":"operator", "body":{},"ts":1,"type":"disclosure","v":1}', "not canonical"),
        (b'{"author":"operator","body":{},"ts":1.5,"type":"disclosure","v":1}', "floats"),
        (b"[1,2]", "must be a JSON object"),
    ],
)
def test_malformed_stored_entries_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(EntryError, match=reason):
        decode_entry(data)


def test_signature_problems_are_named() -> None:
    member = keys.generate("health")
    entry = consent("health", member)
    with pytest.raises(EntryError, match="not valid base64"):
        decode_entry(replace(entry, sig="!!!").encode())
    with pytest.raises(EntryError, match="64-byte"):
        decode_entry(replace(entry, sig=base64.b64encode(b"short").decode()).encode())
    with pytest.raises(EntryError, match="operator entries|are written by the operator"):
        sign_entry(disclosure(), member)
    with pytest.raises(EntryError, match="carry no sig"):
        decode_entry(replace(disclosure(), sig=entry.sig).encode())


def test_member_keys_follow_admission_and_rotation() -> None:
    old, new = keys.generate("health"), keys.generate("health")
    state = MemberKeys()
    admitted = admission("health", old)
    state.check(admitted)
    state.apply(admitted)
    rotation = new_entry(
        "member.key_rotated", {"member": "health", "key": keys.public_b64(new)}, "health"
    )
    with pytest.raises(EntryError, match="signature does not verify"):
        state.check(sign_entry(rotation, new))
    state.check(sign_entry(rotation, old))
    state.apply(sign_entry(rotation, old))
    assert state.current == {"health": new.public}
    # A member's own admission must be signed with the key it registers.
    impostor = replace(admission("courts", old), body={**admitted.body, "member": "courts"})
    with pytest.raises(EntryError, match="signature does not verify"):
        state.check(impostor)


def test_every_entry_type_has_a_strict_model() -> None:
    for name, model in BODIES.items():
        assert model.model_config.get("extra") == "forbid", name
        assert model.model_config.get("strict") is True, name
