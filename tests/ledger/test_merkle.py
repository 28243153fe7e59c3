"""RFC 9162 Merkle tree: published test vectors and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle

# Test vectors from the Certificate Transparency reference implementation, as published in
# github.com/transparency-dev/merkle (testonly/constants.go and proof/verify_test.go, the
# successor of google/certificate-transparency-go's merkle tests): eight leaf inputs, the root
# of every tree prefix, and inclusion and consistency proofs over them. Transcribed as data.
LEAF_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
# (leaf index (0-based), tree size, audit path)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in LEAF_INPUTS]
READER = merkle.memory_reader(LEAVES)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_leaf_hashes_match_the_vectors() -> None:
    assert [x.hex() for x in LEAVES] == LEAF_HASHES


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_match_the_vectors(size: int) -> None:
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size]
    frontier = merkle.Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    assert frontier.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_vectors(index: int, size: int, path: list[str]) -> None:
    reader = merkle.memory_reader(LEAVES[:size])
    assert [x.hex() for x in merkle.inclusion_proof(reader, index, size)] == path
    merkle.verify_inclusion(index, size, LEAVES[index], [h(p) for p in path], h(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors(old: int, new: int, path: list[str]) -> None:
    reader = merkle.memory_reader(LEAVES[:new])
    assert [x.hex() for x in merkle.consistency_proof(reader, old, new)] == path
    merkle.verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new]), [h(p) for p in path])


def test_vector_proofs_refuse_every_corruption() -> None:
    for index, size, path in INCLUSION:
        proof, root = [h(p) for p in path], h(ROOTS[size])
        for bad_index in {index - 1, index + 1, index ^ 2} - {index}:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(bad_index, size, LEAVES[index], proof, root)
        for bad_size in {size * 2, size // 2} - {size}:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index, bad_size, LEAVES[index], proof, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, LEAVES[index], [*proof, root], root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, LEAVES[index], proof, h(ROOTS[0]))
    for old, new, path in CONSISTENCY:
        if not path:
            continue
        proof = [h(p) for p in path]
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, h(ROOTS[new]), h(ROOTS[old]), proof)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new]), proof[:-1])
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new]), [])


def test_edge_cases_of_consistency() -> None:
    empty, one = h(ROOTS[0]), h(ROOTS[1])
    merkle.verify_consistency(0, 5, empty, h(ROOTS[5]), [])
    merkle.verify_consistency(3, 3, h(ROOTS[3]), h(ROOTS[3]), [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 1, one, h(ROOTS[2]), [])  # same size, different roots
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(2, 1, h(ROOTS[2]), one, [])  # time travel
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 1, one, one, [empty])  # equal sizes need an empty proof


def _leaves(count: int) -> list[bytes]:
    return [merkle.leaf_hash(number.to_bytes(4, "big")) for number in range(count)]


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=300))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=1, max_value=300))
    return draw(st.integers(min_value=1, max_value=new)), new


@settings(max_examples=300, deadline=None)
@given(tree_and_index(), st.data())
def test_every_inclusion_proof_verifies_and_any_change_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    size, index = case
    leaves = _leaves(size)
    reader = merkle.memory_reader(leaves)
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof(reader, index, size)
    merkle.verify_inclusion(index, size, leaves[index], proof, root)

    other = data.draw(st.integers(min_value=0, max_value=size - 1), label="other index")
    if other != index:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(other, size, leaves[index], proof, root)
    # A proof for one tree size never convinces anyone of the real root of another size.
    other_size = data.draw(st.integers(min_value=index + 1, max_value=2 * size + 2), label="size")
    if other_size != size:
        other_root = merkle.root(_leaves(other_size))
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, other_size, leaves[index], proof, other_root)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="hash")
        bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
        changed = list(proof)
        changed[which] = _flip(changed[which], bit)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, leaves[index], changed, root)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="leaf bit")
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, _flip(leaves[index], bit), proof, root)


@settings(max_examples=300, deadline=None)
@given(two_sizes(), st.data())
def test_every_consistency_proof_verifies_and_any_change_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    leaves = _leaves(new)
    reader = merkle.memory_reader(leaves)
    old_root, new_root = merkle.root(leaves[:old]), merkle.root(leaves)
    proof = merkle.consistency_proof(reader, old, new)
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if old == new:
        return
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, _flip(old_root, bit), new_root, proof)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, old_root, _flip(new_root, bit), proof)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="hash")
    changed = list(proof)
    changed[which] = _flip(changed[which], bit)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, old_root, new_root, changed)
    other_old = data.draw(st.integers(min_value=1, max_value=new - 1), label="old size")
    if other_old != old:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(
                other_old, new, merkle.root(leaves[:other_old]), new_root, proof
            )
    other_new = data.draw(st.integers(min_value=old + 1, max_value=2 * new + 2), label="new size")
    if other_new != new:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(
                old, other_new, old_root, merkle.root(_leaves(other_new)), proof
            )


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=600))
def test_frontier_and_stored_subtrees_agree_with_the_reference_root(size: int) -> None:
    leaves = _leaves(size)
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == merkle.root(leaves)
    if size:
        reader = merkle.memory_reader(leaves)
        assert merkle.subtree_hash(reader, 0, size) == frontier.root()
        assert merkle.Frontier.from_reader(reader, size).root() == frontier.root()


def test_malformed_proofs_are_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 0, LEAVES[0], [], h(ROOTS[0]))
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 2, LEAVES[0], [b"short"], h(ROOTS[2]))
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(READER, 8, 8)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(READER, 5, 4)


def _flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8 % len(changed)] ^= 1 << (bit % 8)
    return bytes(changed)
