"""The RFC 9162 (Certificate Transparency 2.0) Merkle tree, as pure functions.

Leaves are hashed as ``SHA-256(0x00 || entry)`` and interior nodes as
``SHA-256(0x01 || left || right)`` so that no leaf can pose as a node. The tree over ``n``
leaves splits at the largest power of two below ``n``, which makes every left child a complete
subtree: proofs then only need the hashes of complete subtrees, which storage keeps, plus a few
right-edge hashes recombined on the fly. Proof generation takes a *node reader*,
``read(level, index) -> hash`` of the complete subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)``, so the same code runs over a list in memory or
over tiles in a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof that does not verify, or a request for a proof that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def root(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash over leaf hashes (or over equal-height subtree hashes)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # an unpaired right-edge node rises unchanged
        level = paired
    return level[0]


def levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level above a power-of-two row of hashes, bottom-up; the last holds the root."""
    above, level = [], list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        above.append(level)
    return above


def split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(read: NodeReader, start: int, end: int) -> bytes:
    """The hash of leaves ``[start, end)`` where the range is a subtree of some RFC 9162 tree."""
    n = end - start
    if n <= 0:
        raise ProofError(f"empty range [{start}, {end})")
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return read(level, start >> level)
    k = split(n)
    return node_hash(subtree_hash(read, start, start + k), subtree_hash(read, start + k, end))


def inclusion_proof(read: NodeReader, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, leaf level first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    _path(read, index, 0, size, proof)
    return proof


def _path(read: NodeReader, index: int, start: int, end: int, out: list[bytes]) -> None:
    n = end - start
    if n <= 1:
        return
    k = split(n)
    if index < start + k:
        _path(read, index, start, start + k, out)
        out.append(subtree_hash(read, start + k, end))
    else:
        _path(read, index, start + k, end, out)
        out.append(subtree_hash(read, start, start + k))


def consistency_proof(read: NodeReader, old: int, new: int) -> list[bytes]:
    """The proof that the tree of ``old`` leaves is a prefix of the tree of ``new`` leaves."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    proof: list[bytes] = []
    if 0 < old < new:
        _subproof(read, old, 0, new, True, proof)
    return proof


def _subproof(
    read: NodeReader, m: int, start: int, end: int, whole: bool, out: list[bytes]
) -> None:
    n = end - start
    if m == n:
        if not whole:
            out.append(subtree_hash(read, start, end))
        return
    k = split(n)
    if m <= k:
        _subproof(read, m, start, start + k, whole, out)
        out.append(subtree_hash(read, start + k, end))
    else:
        _subproof(read, m - k, start + k, end, False, out)
        out.append(subtree_hash(read, start, start + k))


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an audit path (RFC 9162 §2.1.3.2); raises :class:`ProofError`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf, *proof])
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf ``index`` under ``root_``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root_:
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows tree ``old`` is a prefix of tree ``new``
    (RFC 9162 §2.1.4.2)."""
    if not 0 <= old <= new:
        raise ProofError(f"size {old} cannot be consistent with the smaller size {new}")
    _check_hashes([old_root, new_root, *proof])
    if old == new:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old}")
        return
    if old == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the root of size {old}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the root of size {new}")


def _check_hashes(hashes: Sequence[bytes]) -> None:
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError("every hash in a proof is 32 bytes")


def memory_reader(leaves: Sequence[bytes]) -> NodeReader:
    """A node reader over leaf hashes held in memory (tests, small tools)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def read(level: int, index: int) -> bytes:
        try:
            return levels[level][index]
        except IndexError:
            raise ProofError(f"no complete subtree at level {level} index {index}") from None

    return read


class Frontier:
    """The right edge of a growing tree: one hash per set bit of the size.

    Appending costs one hash on average and the root is a fold over at most 64 hashes, so the
    writer keeps a root for every batch without touching storage.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError("a frontier holds one hash per set bit of its size")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_reader(cls, read: NodeReader, size: int) -> Frontier:
        hashes, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.append(read(level, start >> level))
                start += 1 << level
        return cls(size, hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def append(self, leaf: bytes) -> None:
        hashes = self.hashes
        hashes.append(leaf)
        self.size += 1
        size = self.size
        while not size & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            size >>= 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r
