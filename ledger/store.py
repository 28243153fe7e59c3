"""Ledger tables and the database they live in.

SQLite (WAL, ``synchronous=FULL``) is the embedded default and PostgreSQL the production
backend; the same SQLAlchemy Core statements serve both. Tables are declared with SQLModel and
written with Core statements (ORM objects cost an order of magnitude more per row), except
the few every append batch runs, which go to the driver's cursor as text (:func:`run`).

Subtree hashes are stored as tiles in the layout of C2SP ``tlog-tiles`` (height 8): tile
``(level L, index N)`` holds up to 256 consecutive hashes of complete subtrees of height ``8L``.
Any complete subtree hash is then one tile read plus at most 255 hashes, so a proof costs
O(log n) reads, and the tiles can be served to peers as they are.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    String,
    Text,
    and_,
    create_engine,
    event,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from ledger import merkle

SCHEMA_VERSION = 1
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


class Blob(LargeBinary):
    """Bytes passed to the driver as they are (both sqlite3 and psycopg take ``bytes``).

    The generic binary type wraps every value on the way in, which costs more than the insert
    itself on the append path.
    """

    cache_ok = True

    def bind_processor(self, dialect):  # type: ignore[no-untyped-def]
        return None


class StoreError(Exception):
    """The store cannot be opened or used: wrong version, unreachable database, bad URL."""


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "ledger_schema"
    version: int = Field(primary_key=True)


class LogHead(SQLModel, table=True):
    """One row: the committed tree size. Writers lock it, so two processes never interleave."""

    __tablename__ = "ledger_head"
    id: int = Field(primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


class EntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    type: str = Field(sa_column=Column(String(64), nullable=False))
    data: bytes = Field(sa_column=Column(Blob, nullable=False))


class TileRow(SQLModel, table=True):
    __tablename__ = "ledger_tiles"
    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hashes: bytes = Field(sa_column=Column(Blob, nullable=False))
    # For full tiles only: the hashes of the tile's inner levels 1..7 (128 + 64 + ... + 2), so a
    # proof reads a subtree hash instead of recomputing up to 255 hashes per tile.
    inner: bytes | None = Field(default=None, sa_column=Column(Blob, nullable=True))


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "ledger_checkpoints"
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    note: str = Field(sa_column=Column(Text, nullable=False))


class CosignatureRow(SQLModel, table=True):
    __tablename__ = "ledger_cosignatures"
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    witness: str = Field(sa_column=Column(String(255), primary_key=True))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    line: str = Field(sa_column=Column(Text, nullable=False))


class MemberKeyRow(SQLModel, table=True):
    """Current member keys, derived from entries; lets a writer start without a full scan."""

    __tablename__ = "ledger_member_keys"
    member: str = Field(sa_column=Column(String(255), primary_key=True))
    key: bytes = Field(sa_column=Column(Blob, nullable=False))


class SubjectSecret(SQLModel, table=True):
    """Per-subject pseudonym secrets. Deliberately outside the log: deleting a row unlinks."""

    __tablename__ = "subject_secrets"
    subject_id: str = Field(sa_column=Column(String(255), primary_key=True))
    secret: bytes = Field(sa_column=Column(Blob, nullable=False))


TABLES = [
    t.__table__  # type: ignore[attr-defined]
    for t in (
        SchemaVersion,
        LogHead,
        EntryRow,
        TileRow,
        CheckpointRow,
        CosignatureRow,
        MemberKeyRow,
        SubjectSecret,
    )
]
schema_table = SchemaVersion.__table__  # type: ignore[attr-defined]
head_table = LogHead.__table__  # type: ignore[attr-defined]
entries_table = EntryRow.__table__  # type: ignore[attr-defined]
tiles_table = TileRow.__table__  # type: ignore[attr-defined]
checkpoints_table = CheckpointRow.__table__  # type: ignore[attr-defined]
cosignatures_table = CosignatureRow.__table__  # type: ignore[attr-defined]
member_keys_table = MemberKeyRow.__table__  # type: ignore[attr-defined]
secrets_table = SubjectSecret.__table__  # type: ignore[attr-defined]


def placeholder(paramstyle: str) -> str:
    """The driver's positional parameter marker, for SQL sent as plain text (the request and
    append paths, where compiling an expression costs more than running it)."""
    return "?" if paramstyle == "qmark" else "%s"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` DSNs and route them to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# How many pages the SQLite WAL may hold before a commit copies them into the database (the
# default is 1,000). The commit that checkpoints waits for the copy and its sync, and the index
# pages batches share (a subject's, a category's) are copied once per checkpoint however often
# they changed: fewer, larger checkpoints hold up fewer batches. At 4 kB a page the WAL file
# grows to about 40 MB and is reused from the start after each checkpoint. In four alternating
# pairs of bench/enforcement.py --rounds 1 --duration 8 the enforcing gateway answered 2,324,
# 2,164, 2,069 and 2,227 requests/s with the default and 2,389, 2,459, 2,508 and 2,403 with
# this, its median latency falling by 0.4 to 2.6 ms; the ledger process's CPU per request did
# not change measurably. The price is in the tail: each checkpoint holds up its batch longer
# (p99 22.4 and 22.5 ms with the default, 31.9 and 33.6 ms with this, two more pairs). At
# 4,000 pages the p99 was 29.0 and 29.3 ms against 34.8 and 35.0 at 10,000, and throughput
# 2,355 and 2,168 requests/s against 2,420 and 2,320.
WAL_CHECKPOINT_PAGES = 10_000


def make_engine(url: str, writer: bool = False) -> Engine:
    """An engine for the ledger store; ``writer`` engines take the write lock on BEGIN."""
    try:
        parsed = make_url(normalize_url(url))
    except Exception as exc:
        raise StoreError(f"ledger URL {url!r} is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise StoreError("the ledger needs a SQLite file, not an in-memory database")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"isolation_level": None, "timeout": 30, "check_same_thread": False},
            pool_size=1 if writer else 8,
            max_overflow=0 if writer else 8,
        )
        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # type: ignore[no-untyped-def]
            run(connection, begin)

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_size=1 if writer else 8,
            max_overflow=0 if writer else 8,
            pool_pre_ping=True,
        )
    raise StoreError(f"unsupported ledger database {parsed.get_backend_name()!r}")


def is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def create_schema(connection: Connection) -> None:
    """Create the ledger tables (idempotent), or refuse a store from a newer version."""
    SQLModel.metadata.create_all(connection, tables=TABLES)
    version = connection.execute(select(schema_table.c.version)).scalars().all()
    if not version:
        connection.execute(schema_table.insert().values(version=SCHEMA_VERSION))
        connection.execute(head_table.insert().values(id=1, size=0))
        return
    found = max(version)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the ledger store has schema version {found}, newer than this Accord "
            f"understands ({SCHEMA_VERSION}); upgrade Accord"
        )
    if found < SCHEMA_VERSION:  # pragma: no cover - there is only one version so far
        raise StoreError(f"the ledger store has old schema version {found}; migrate it first")


def check_schema(connection: Connection) -> None:
    """Refuse to read a store that does not exist or was written by a newer version."""
    try:
        versions = connection.execute(select(schema_table.c.version)).scalars().all()
    except SQLAlchemyError:
        raise StoreError("no ledger store here (tables missing)") from None
    if not versions:
        raise StoreError("no ledger store here (schema version missing)")
    if max(versions) > SCHEMA_VERSION:
        raise StoreError(
            f"the ledger store has schema version {max(versions)}, newer than this Accord "
            f"understands ({SCHEMA_VERSION}); upgrade Accord"
        )


# The log's committed size, as driver SQL (no parameters, so any driver's marker style).
HEAD_QUERY = f"SELECT size FROM {head_table.name} WHERE id = 1"
_HEAD_FOR_UPDATE = HEAD_QUERY + " FOR UPDATE"


def head_size(connection: Connection, lock: bool = False) -> int:
    """The committed size of the log. ``lock`` takes the head row for this transaction on
    PostgreSQL: one writer at a time (SQLite's write transaction already excludes others)."""
    statement = _HEAD_FOR_UPDATE if lock and is_postgres(connection) else HEAD_QUERY
    row = run(connection, statement).fetchone()
    if row is None:
        raise StoreError("ledger head row is missing")
    return row[0]


# Offsets (in hashes) of inner levels 1..7 within a full tile's ``inner`` column.
INNER_OFFSETS = [0, 0] + [sum(TILE_WIDTH >> k for k in range(1, j)) for j in range(2, TILE_HEIGHT)]
INNER_SIZE = sum(TILE_WIDTH >> k for k in range(1, TILE_HEIGHT)) * merkle.HASH_SIZE

TileData = tuple[bytes, bytes | None]  # (hashes, inner levels or None)


def full_tile(hashes: list[bytes]) -> tuple[TileData, bytes]:
    """A completed tile's stored form and its root (the hash it contributes one level up)."""
    above = merkle.levels(hashes)
    inner = b"".join(b"".join(level) for level in above[:-1])
    return (b"".join(hashes), inner), above[-1][0]


def tile_rows(dirty: dict[tuple[int, int], Any]) -> dict[tuple[int, int], TileData]:
    """Stored forms of the tiles a batch changed (partial tiles arrive as live lists)."""
    return {k: v if isinstance(v, tuple) else (b"".join(v), None) for k, v in dirty.items()}


def upsert_tiles(connection: Connection, tiles: dict[tuple[int, int], TileData]) -> None:
    if not tiles:
        return
    rows = [
        {"level": lv, "idx": ix, "hashes": data, "inner": inner}
        for (lv, ix), (data, inner) in tiles.items()
    ]
    connection.execute(_upsert_statement(connection.dialect.name), rows)


@functools.cache
def _upsert_statement(dialect_name: str) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE`` for tiles, built once per dialect."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(tiles_table)
    return statement.on_conflict_do_update(
        index_elements=[tiles_table.c.level, tiles_table.c.idx],
        set_={"hashes": statement.excluded.hashes, "inner": statement.excluded.inner},
    )


def read_tile_rows(
    connection: Connection, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], TileData]:
    wanted = list(wanted)
    found: dict[tuple[int, int], TileData] = {}
    columns = (tiles_table.c.level, tiles_table.c.idx, tiles_table.c.hashes, tiles_table.c.inner)
    for chunk in range(0, len(wanted), 200):
        part = wanted[chunk : chunk + 200]
        condition = or_(
            *(and_(tiles_table.c.level == lv, tiles_table.c.idx == ix) for lv, ix in part)
        )
        for level, idx, hashes, inner in connection.execute(select(*columns).where(condition)):
            found[(level, idx)] = (bytes(hashes), None if inner is None else bytes(inner))
    return found


def read_tiles(
    connection: Connection, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    return {key: row[0] for key, row in read_tile_rows(connection, wanted).items()}


def tile_of(level: int, index: int) -> tuple[int, int, int, int]:
    """For the complete subtree (level, index): tile level, tile index, offset and width."""
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = index << height
    return tile_level, first >> TILE_HEIGHT, first & (TILE_WIDTH - 1), 1 << height


class TileCache:
    """Full tiles never change, so every reader may keep them; partial tiles are never cached."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._tiles: OrderedDict[tuple[int, int], TileData] = OrderedDict()
        self._lock = threading.Lock()  # readers run in worker threads

    def get(self, key: tuple[int, int]) -> TileData | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def put(self, key: tuple[int, int], data: TileData) -> None:
        if len(data[0]) != TILE_WIDTH * merkle.HASH_SIZE or self.capacity <= 0:
            return
        with self._lock:
            self._tiles[key] = data
            self._tiles.move_to_end(key)
            while len(self._tiles) > self.capacity:
                self._tiles.popitem(last=False)


def tile_reader(
    connection: Connection,
    size: int,
    cache: TileCache | None = None,
) -> TileReader:
    return TileReader(connection, size, cache or TileCache(0))


@dataclass
class TileReader:
    """A merkle node reader over stored tiles, fetching each needed tile at most once."""

    connection: Connection
    size: int
    cache: TileCache
    loaded: dict[tuple[int, int], TileData] = field(default_factory=dict)

    def prefetch(self, keys: Iterable[tuple[int, int]]) -> None:
        missing = []
        for key in keys:
            if key in self.loaded:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                self.loaded[key] = cached
            else:
                missing.append(key)
        if missing:
            for key, data in read_tile_rows(self.connection, missing).items():
                self.loaded[key] = data
                self.cache.put(key, data)

    def __call__(self, level: int, index: int) -> bytes:
        if (index + 1) << level > self.size:
            raise merkle.ProofError(f"subtree ({level}, {index}) is beyond tree size {self.size}")
        tile_level, tile_index, offset, width = tile_of(level, index)
        key = (tile_level, tile_index)
        data = self.loaded.get(key)
        if data is None:
            self.prefetch([key])
            data = self.loaded.get(key)
        hashes, inner = data if data is not None else (b"", None)
        if len(hashes) < (offset + width) * merkle.HASH_SIZE:
            raise StoreError(f"tile {tile_level}/{tile_index} is missing or too short")
        size = merkle.HASH_SIZE
        if width == 1:
            return hashes[offset * size : (offset + 1) * size]
        height = width.bit_length() - 1
        if inner is not None and len(inner) == INNER_SIZE:
            at = (INNER_OFFSETS[height] + (offset >> height)) * size
            return inner[at : at + size]
        part = hashes[offset * size : (offset + width) * size]
        return merkle.root([part[i : i + size] for i in range(0, len(part), size)])


def needed_tiles(plan: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    return {tile_of(level, index)[:2] for level, index in plan}


class RecordingReader:
    """A dry-run node reader that notes which subtrees a proof would read."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, level: int, index: int) -> bytes:
        self.seen.append((level, index))
        return b"\x00" * merkle.HASH_SIZE


def iter_entry_rows(
    connection: Connection, start: int = 0, end: int | None = None, chunk: int = 5000
) -> Iterator[tuple[int, bytes]]:
    """Stored entries in index order, fetched in chunks (for verification and export)."""
    position = start
    while end is None or position < end:
        query = (
            select(entries_table.c.idx, entries_table.c.data)
            .where(entries_table.c.idx >= position)
            .order_by(entries_table.c.idx)
            .limit(chunk if end is None else min(chunk, end - position))
        )
        rows = connection.execute(query).all()
        if not rows:
            return
        for idx, data in rows:
            yield idx, bytes(data)
        position = rows[-1][0] + 1


# SQLite allows 32,766 parameters per statement (since 3.32); stay well below.
MAX_PARAMETERS = 30_000


def run(connection: Connection, statement: str, parameters: Any = (), *, many: bool = False) -> Any:
    """Run ``statement`` (driver SQL, positional markers) on the connection's driver cursor,
    inside whatever transaction the connection holds; returns the cursor.

    For the statements every append batch runs. SQLAlchemy's bookkeeping around a statement
    (execution context, events, result wrapper) costs far more than a short statement itself:
    on SQLite, ``SELECT 1`` takes about 9 µs through ``exec_driver_sql`` and 0.5 µs on the
    cursor. Driver errors are raised as SQLAlchemy's own (``OperationalError``,
    ``IntegrityError``, ...), so callers handle one kind of error whichever way they ran it."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(statement, parameters)
        else:
            cursor.execute(statement, parameters)
    except Exception as exc:
        dbapi = connection.dialect.loaded_dbapi
        if not isinstance(exc, dbapi.Error):
            raise
        raise DBAPIError.instance(statement, parameters, exc, dbapi.Error) from exc
    return cursor


def store_rows(connection: Connection, table: str, names: str, width: int, rows: list) -> None:
    """INSERT ``rows`` (tuples of ``width`` values) as few multi-row statements (qmark)."""
    step = max(1, MAX_PARAMETERS // width)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        run(
            connection,
            _rows_statement(table, names, width, len(chunk)),
            tuple(chain.from_iterable(chunk)),
        )


@functools.lru_cache(maxsize=256)
def _rows_statement(table: str, names: str, width: int, count: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT INTO {table} ({names}) VALUES " + ", ".join([row] * count)
