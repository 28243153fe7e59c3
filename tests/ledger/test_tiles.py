"""Proofs read from stored tiles equal proofs computed from all leaves, across tile boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from ledger import merkle, store
from ledger.log import TreeState
from ledger.members import MemberKeys
from ledger.view import LogView

# Past 65,536 leaves the tree needs a third tile level, so every kind of tile read is exercised.
SIZE = 65_536 + 700
LEAVES = [merkle.leaf_hash(n.to_bytes(4, "big")) for n in range(SIZE)]


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogView]:
    path: Path = tmp_path_factory.mktemp("tiles") / "ledger.db"
    url = f"sqlite:///{path}"
    engine = store.make_engine(url, writer=True)
    state = TreeState(0, merkle.Frontier(), [], MemberKeys(), "")
    dirty: dict[tuple[int, int], object] = {}
    for leaf in LEAVES:
        state.append(leaf, dirty)
    with engine.begin() as connection:
        store.create_schema(connection)
        store.upsert_tiles(connection, store.tile_rows(dirty))
        connection.execute(update(store.head_table).values(size=SIZE))
    engine.dispose()
    view = LogView(url)
    yield view
    view.close()


REFERENCE = merkle.memory_reader(LEAVES)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(
        st.one_of(
            st.integers(min_value=1, max_value=SIZE),
            st.sampled_from([255, 256, 257, 511, 512, 65_535, 65_536, 65_537, SIZE]),
        )
    )
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index_and_size())
def test_stored_inclusion_proofs_match_the_reference(tiled: LogView, case: tuple[int, int]) -> None:
    index, size = case
    _, proof = tiled.inclusion_proof(index, size)
    assert proof == merkle.inclusion_proof(REFERENCE, index, size)
    assert tiled.root(size) == merkle.root(LEAVES[:size])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index_and_size())
def test_stored_consistency_proofs_match_the_reference(
    tiled: LogView, case: tuple[int, int]
) -> None:
    old, new = case
    _, proof = tiled.consistency_proof(old, new)
    assert proof == merkle.consistency_proof(REFERENCE, old, new)


def test_proofs_beyond_the_log_are_refused(tiled: LogView) -> None:
    with pytest.raises(merkle.ProofError, match="beyond"):
        tiled.inclusion_proof(0, SIZE + 1)
    with pytest.raises(merkle.ProofError):
        tiled.inclusion_proof(SIZE, SIZE)
