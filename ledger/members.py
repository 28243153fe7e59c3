"""Member agency keys as the ledger itself records them.

Signed entries are checked against the keys that earlier entries established: a member's
``member.admitted`` entry carries its key and is signed by it (proof of possession); a
``member.key_rotated`` entry is signed by the old key and installs the new one. Both the
append path and the verifier fold entries through :class:`MemberKeys`, so they agree exactly.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys
from ledger.entries import SIGNED_TYPES, Entry, EntryError, signature_bytes


class MemberKeys:
    """The current Ed25519 key of every admitted member."""

    def __init__(self, current: dict[str, bytes] | None = None) -> None:
        self.current: dict[str, bytes] = dict(current or {})
        self._parsed: dict[bytes, Ed25519PublicKey] = {}

    def copy(self) -> MemberKeys:
        other = MemberKeys(self.current)
        other._parsed = self._parsed
        return other

    def check(self, entry: Entry) -> None:
        """Raise :class:`EntryError` unless the entry's signature is right for this state."""
        if entry.type not in SIGNED_TYPES:
            return
        if entry.type == "member.admitted":
            member = entry.body["member"]
            if member in self.current:
                raise EntryError(f"member.admitted: member {member!r} is already admitted")
            public = keys.parse_public_b64(entry.body["key"])
        else:
            public = self.current.get(entry.author)
            if public is None:
                raise EntryError(f"{entry.type}: author {entry.author!r} is not an admitted member")
        key = self._parsed.get(public)
        if key is None:
            key = self._parsed[public] = keys.public_key(public)
        if not keys.verify(key, entry.signing_bytes(), signature_bytes(entry)):
            raise EntryError(f"{entry.type} by {entry.author}: signature does not verify")

    def apply(self, entry: Entry) -> tuple[str, bytes] | None:
        """Fold a checked entry in; returns the (member, key) it installed, if any."""
        if entry.type in ("member.admitted", "member.key_rotated"):
            member = entry.body["member"]
            public = keys.parse_public_b64(entry.body["key"])
            self.current[member] = public
            return member, public
        return None
