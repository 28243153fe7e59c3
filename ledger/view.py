"""Read-only access to a stored log, for tools, peers and the gateway's read endpoints.

These functions take a SQLAlchemy connection and never write; the async :class:`Ledger` and the
synchronous :class:`LogView` both use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ledger import merkle, store


def latest_checkpoint(connection: Connection) -> tuple[int, str]:
    """The latest checkpoint note (with stored cosignature lines appended) and its size."""
    table = store.checkpoints_table
    size = connection.execute(select(func.max(table.c.size))).scalar_one_or_none()
    if size is None:
        raise store.StoreError("the store holds no checkpoint")
    return size, checkpoint_at(connection, size, cosigned=True)


def checkpoint_at(connection: Connection, size: int, cosigned: bool = False) -> str:
    table = store.checkpoints_table
    note = connection.execute(select(table.c.note).where(table.c.size == size)).scalar_one_or_none()
    if note is None:
        raise LookupError(f"no checkpoint at tree size {size}")
    if cosigned:
        cosignatures = store.cosignatures_table
        lines = (
            connection.execute(
                select(cosignatures.c.line)
                .where(cosignatures.c.size == size)
                .order_by(cosignatures.c.witness)
            )
            .scalars()
            .all()
        )
        note += "".join(lines)
    return note


def prove(
    connection: Connection,
    size: int,
    build: Callable[[merkle.NodeReader], Any],
    cache: store.TileCache | None = None,
) -> Any:
    """Run a proof builder over stored tiles, reading all the tiles it needs in one query."""
    plan = store.RecordingReader()
    build(plan)
    reader = store.tile_reader(connection, size, cache)
    reader.prefetch(store.needed_tiles(plan.seen))
    return build(reader)


def entry_bytes(connection: Connection, start: int, end: int) -> list[bytes]:
    return [data for _, data in store.iter_entry_rows(connection, start, end)]


class LogView:
    """A synchronous, read-only view of the log at ``url`` (the CLI and peers use it)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = store.make_engine(url)
        self.cache = store.TileCache()
        with self.engine.connect() as connection:
            store.check_schema(connection)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LogView:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, function: Callable[[Connection], Any]) -> Any:
        with self.engine.connect() as connection, connection.begin():
            return function(connection)

    @property
    def size(self) -> int:
        return self._run(store.head_size)

    def checkpoint(self) -> str:
        return self._run(latest_checkpoint)[1]

    def checkpoint_at(self, size: int) -> str:
        return self._run(lambda c: checkpoint_at(c, size, cosigned=True))

    def entries(self, start: int, end: int | None = None) -> list[bytes]:
        return self._run(
            lambda c: entry_bytes(c, start, store.head_size(c) if end is None else end)
        )

    def _sized(self, connection: Connection, size: int | None) -> int:
        committed = store.head_size(connection)
        size = committed if size is None else size
        if not 0 <= size <= committed:
            raise merkle.ProofError(f"tree size {size} is beyond the log's size {committed}")
        return size

    def root(self, size: int | None = None) -> bytes:
        def run(connection: Connection) -> bytes:
            n = self._sized(connection, size)
            if n == 0:
                return merkle.EMPTY_ROOT
            return prove(connection, n, lambda r: merkle.subtree_hash(r, 0, n), self.cache)

        return self._run(run)

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        def run(connection: Connection) -> tuple[int, list[bytes]]:
            n = self._sized(connection, size)
            proof = prove(connection, n, lambda r: merkle.inclusion_proof(r, index, n), self.cache)
            return n, proof

        return self._run(run)

    def consistency_proof(self, old: int, new: int | None = None) -> tuple[int, list[bytes]]:
        def run(connection: Connection) -> tuple[int, list[bytes]]:
            n = self._sized(connection, new)
            proof = prove(connection, n, lambda r: merkle.consistency_proof(r, old, n), self.cache)
            return n, proof

        return self._run(run)
