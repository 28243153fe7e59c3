"""The disclosure history index: who received what about whom, searchable without scanning.

Disclosures, refusals and emergency accesses are ledger entries; this module mirrors the
fields people search by (subject pseudonym, requesting and providing agency, purpose, data
categories, legal basis, time) into index tables, written by the log's commit hook: inside
each batch's transaction, or (as the gateway's ledger process runs it) just after, while the
log's writer is idle, so the index holds a prefix of the log and never anything the log does
not. Queries page by ledger index with a cursor, newest first, and read the entries themselves
from the log: the index only says *where* to look, the log stays the only record.

A ``break_glass.reviewed`` entry closes the review of the emergency access it names; the hook
refuses one that names anything else, or an access already reviewed, so the log never records
two outcomes for one access. The tables can be dropped and rebuilt from the log at any time
(:func:`rebuild`), which is also how an index that lags the log (entries appended by a process
without this hook) catches up.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    Select,
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Field, SQLModel

from ledger import store
from ledger.entries import Entry, EntryError, decode_entry

AfterCommit = Callable[[], None]

DISCLOSURE = "disclosure"
DENIAL = "access.denied"
BREAK_GLASS = "break_glass"
REVIEWED = "break_glass.reviewed"
INDEXED_TYPES = (DISCLOSURE, DENIAL, BREAK_GLASS)
FOLDED_TYPES = (*INDEXED_TYPES, REVIEWED)

MAX_PAGE = 500
# Entries the deferred hook notes before it indexes a batch in the batch's own transaction
# again: a bound on memory, and on how far the index can lag if its flushes keep failing.
MAX_NOTED = 8192
DAY_MS = 86_400_000


class HistoryError(ValueError):
    """A history query that cannot be answered as asked (bad range, cursor or page size)."""


class HistoryLayoutError(store.StoreError):
    """The history tables in the store are not of a layout this version can write: created by
    a newer version, or changed behind its back. Nothing can be recorded until that is fixed
    (the tables are an index of the log: dropping them and opening again rebuilds them)."""


# The layout of the history tables. A store holding an older layout (or tables from before
# layouts were numbered) has them dropped and rebuilt from the log when the index opens; a
# newer one is refused rather than written in a way its version would misread.
LAYOUT = 2


# On SQLite an INTEGER primary key is the rowid itself, so the table is one B-tree keyed by
# ledger index instead of a rowid table plus a separate primary-key index.
RowId = BigInteger().with_variant(Integer, "sqlite")


class HistoryEventRow(SQLModel, table=True):
    """One disclosure, refusal or emergency access, keyed by its ledger index."""

    __tablename__ = "history_events"
    __table_args__ = (
        # Equality columns first, then the ledger index, so a page is one ordered range walk
        # (with only (subject, idx) a planner may prefer walking (type, idx) to avoid a sort).
        Index("history_events_subject", "subject_key", "type", "idx"),
        Index("history_events_requester", "requester", "type", "idx"),
        Index("history_events_provider", "provider", "type", "idx"),
        Index("history_events_type_idx", "type", "idx"),
        Index("history_events_type_ts", "type", "ts"),
    )
    idx: int = Field(sa_column=Column(RowId, primary_key=True, autoincrement=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject: str = Field(sa_column=Column(String(128), nullable=False))
    # A 64-bit digest of the pseudonym: the subject index holds this instead of the 64-character
    # pseudonym, which makes it several times smaller and its random inserts much cheaper.
    subject_key: int = Field(sa_column=Column(BigInteger, nullable=False))
    requester: str = Field(sa_column=Column(String(255), nullable=False))
    provider: str = Field(sa_column=Column(String(255), nullable=False))
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    review_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    review_outcome: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))


class HistoryTagRow(SQLModel, table=True):
    """A many-valued attribute of an event: each data category and each basis (consent id or
    statute rule) gets a row, so a filter on one of them is an index lookup."""

    __tablename__ = "history_tags"
    __table_args__ = {"sqlite_with_rowid": False}  # the key is the row: one B-tree, not two
    name: str = Field(sa_column=Column(String(16), primary_key=True))
    value: str = Field(sa_column=Column(String(255), primary_key=True))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class HistoryHead(SQLModel, table=True):
    """How many ledger entries the history tables reflect."""

    __tablename__ = "history_head"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


class HistoryLayout(SQLModel, table=True):
    """Which layout of the history tables the store holds."""

    __tablename__ = "history_layout"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


events_table = HistoryEventRow.__table__  # type: ignore[attr-defined]
tags_table = HistoryTagRow.__table__  # type: ignore[attr-defined]
head_table = HistoryHead.__table__  # type: ignore[attr-defined]
layout_table = HistoryLayout.__table__  # type: ignore[attr-defined]
TABLES = [events_table, tags_table, head_table]


# -- writing ----------------------------------------------------------------------------------


def create_tables(connection: Connection) -> None:
    """Create the history tables of this layout where missing, or check the ones there are:
    an older layout is dropped (and refilled by the caller, since its head is gone), a newer
    one refused with :class:`HistoryLayoutError`."""
    found = layout_of(connection)
    if found == LAYOUT:
        return
    if found is not None and found > LAYOUT:
        raise HistoryLayoutError(
            f"the history tables have layout {found}, written by a newer version of Accord; "
            f"this version writes layout {LAYOUT} and will not record into them"
        )
    # Unnumbered (before layouts were) or older: the tables are an index of the log, so they
    # are replaced rather than migrated.
    SQLModel.metadata.drop_all(connection, tables=[*TABLES, layout_table])
    SQLModel.metadata.create_all(connection, tables=[*TABLES, layout_table])
    connection.execute(insert(layout_table), {"id": 1, "version": LAYOUT})


def layout_of(connection: Connection) -> int | None:
    """The layout the store's history tables have (None: no numbered layout)."""
    if not inspect(connection).has_table(layout_table.name):
        return None
    return connection.execute(
        select(layout_table.c.version).where(layout_table.c.id == 1)
    ).scalar_one_or_none()


def indexed_size(connection: Connection) -> int | None:
    return connection.execute(
        select(head_table.c.size).where(head_table.c.id == 1)
    ).scalar_one_or_none()


def _set_indexed_size(connection: Connection, size: int) -> None:
    changed = connection.execute(
        update(head_table).where(head_table.c.id == 1).values(size=size)
    ).rowcount
    if not changed:
        connection.execute(insert(head_table), {"id": 1, "size": size})


EVENT_COLUMNS = ("idx", "type", "ts", "subject", "subject_key", "requester", "provider", "purpose")


def subject_key(subject: str) -> int:
    digest = hashlib.blake2b(subject.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


TAG_COLUMNS = ("name", "value", "idx")


def _insert(connection: Connection, table: Any, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows the cheapest way each database offers, inside every append batch.

    SQLite: multi-row INSERT statements with flat parameters (executemany would release and
    retake the GIL for every row, each time waiting for a busy event loop). PostgreSQL: COPY on
    the same connection and transaction.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.paramstyle == "qmark":
        store.store_rows(connection, table.name, names, len(columns), rows)
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _fold(connection: Connection, items: Iterable[tuple[int, Entry]], strict: bool) -> None:
    """Write the index rows of ``items`` (in ledger order)."""
    events: list[tuple] = []
    tags: list[tuple] = []
    for index, entry in items:
        kind = entry.type
        if kind == REVIEWED:
            _insert(connection, events_table, EVENT_COLUMNS, events)  # it may name one of these
            events = []
            _review(connection, index, entry, strict)
            continue
        if kind not in INDEXED_TYPES:
            continue
        body = entry.body
        events.append(
            (
                index,
                kind,
                entry.ts,
                body["subject"],
                subject_key(body["subject"]),
                body["requester"]["agency"],
                body["provider"],
                body["purpose"],
            )
        )
        for category in set(body["categories"]):
            tags.append(("category", category, index))
        basis = body.get("basis")
        if basis is not None:
            for value in {*basis["consents"], *basis["policies"]}:
                tags.append(("basis", value, index))
    _insert(connection, events_table, EVENT_COLUMNS, events)
    _insert(connection, tags_table, TAG_COLUMNS, tags)


def _review(connection: Connection, index: int, entry: Entry, strict: bool) -> None:
    target = entry.body["entry"]
    row = connection.execute(
        select(events_table.c.type, events_table.c.review_index).where(events_table.c.idx == target)
    ).first()
    problem = None
    if row is None or row.type != BREAK_GLASS:
        problem = f"entry {target} is not an emergency (break_glass) access"
    elif row.review_index is not None:
        problem = f"emergency access {target} was already reviewed (entry {row.review_index})"
    if problem is not None:
        if strict:
            raise EntryError(f"break_glass.reviewed: {problem}")
        return
    connection.execute(
        update(events_table)
        .where(events_table.c.idx == target)
        .values(review_index=index, review_outcome=entry.body["outcome"])
    )


def _entries(connection: Connection, start: int, end: int | None) -> list[tuple[int, Entry]]:
    table = store.entries_table
    query = select(table.c.idx, table.c.data).where(
        table.c.type.in_(FOLDED_TYPES), table.c.idx >= start
    )
    if end is not None:
        query = query.where(table.c.idx < end)
    return [
        (idx, decode_entry(bytes(data)))
        for idx, data in connection.execute(query.order_by(table.c.idx)).all()
    ]


def rebuild(connection: Connection, end: int | None = None) -> int:
    """Drop and refill the history tables from the log (entries below ``end``, default all);
    returns the size they now reflect."""
    create_tables(connection)
    connection.execute(delete(tags_table))
    connection.execute(delete(events_table))
    size = store.head_size(connection) if end is None else end
    _fold(connection, _entries(connection, 0, size), strict=False)
    _set_indexed_size(connection, size)
    return size


def snapshot(connection: Connection) -> dict[str, list[tuple]]:
    """Every history row, sorted: what a rebuild must reproduce exactly."""
    return {
        table.name: sorted(tuple(row) for row in connection.execute(select(table)).all())
        for table in TABLES
    }


class HistoryIndex:
    """The commit hook that keeps the history tables in step with the log.

    Two ways to hook it in. :meth:`on_commit` indexes each batch inside the batch's own
    transaction. :meth:`defer` (with :meth:`pending` and :meth:`flush` as the log's
    :class:`~ledger.log.Deferred` work) only notes each committed batch and indexes the noted
    entries in a transaction of their own while the writer is idle: the index then writes about
    three quarters of the pages a batch would otherwise commit, off the path of the receipts,
    and lags the log by the batches not yet flushed (``Ledger.settle`` waits for them). A batch
    with a ``break_glass.reviewed`` entry, which is checked against the index, is still indexed
    in its own transaction, after everything noted before it.

    Either way, call :meth:`sync` once when the log opens: that creates or checks the tables
    (and their layout) and catches up. If the tables lag the log when a batch is indexed, the
    missing entries are read from the log and indexed first, so a hook registered late, a log
    written meanwhile by a tool or replica without this hook, or noted entries lost in a crash,
    still end up indexed.

    A batch whose index rows cannot be written fails with :class:`HistoryLayoutError` when the
    cause is the tables themselves (missing, or of another shape), so the log can report why
    it cannot record instead of failing every batch with a database message.
    """

    def __init__(self) -> None:
        # Checking the tables costs a few catalogue queries, too many for every batch. They are
        # checked when the index opens (sync), or else in the first batch and again only if a
        # batch starts at or before that one's start: then that batch did not commit, and took
        # its DDL with it.
        self._checked_at: int | None = None
        self._opened = False
        self._noted: list[Any] = []  # committed entries not yet indexed, in ledger order
        self._behind = False  # a flush did not commit: index the next batch in its own

    def on_commit(self, connection: Connection, committed: Sequence[Any]) -> None:
        if not committed:
            return
        try:
            self._index(connection, committed)
        except (OperationalError, ProgrammingError) as exc:
            self._checked_at, self._opened = None, False
            if not _is_layout_problem(exc):
                raise
            raise HistoryLayoutError(
                f"the history index tables cannot be written ({_first_line(exc)}); "
                "they do not have this version's layout: drop them to have them rebuilt"
            ) from exc
        except BaseException:
            self._checked_at, self._opened = None, False
            raise

    # -- deferred --------------------------------------------------------------------------

    def defer(self, connection: Connection, committed: Sequence[Any]) -> AfterCommit | None:
        """The commit hook of the deferred way: note the batch once it is durable. A review,
        or more noted entries than one flush should take, is indexed here and now."""
        if not committed:
            return None
        if (
            not self._behind
            and len(self._noted) < MAX_NOTED
            and all(c.entry.type != REVIEWED for c in committed)
        ):
            return lambda: self._noted.extend(committed)
        # Indexed here: the noted entries before it are read back from the log. After a failed
        # flush this is also where the batch fails, with the reason, if the tables are broken.
        self.on_commit(connection, committed)
        end = committed[-1].index
        return lambda: self._forget(end)

    def pending(self) -> bool:
        return bool(self._noted)

    def flush(self, connection: Connection) -> AfterCommit | None:
        """Index the noted entries (run by the log's writer in a transaction of its own)."""
        noted = list(self._noted)
        if not noted:
            return None
        # Behind until this transaction commits: if it fails, however, the next batch
        # indexes itself in its own transaction.
        self._behind = True
        store.head_size(connection, lock=True)  # one writer at a time across replicas
        start = 0
        for position in range(1, len(noted) + 1):  # each run of consecutive indexes at once
            if position == len(noted) or noted[position].index != noted[position - 1].index + 1:
                self.on_commit(connection, noted[start:position])
                start = position
        end = noted[-1].index
        return lambda: self._forget(end)

    def _forget(self, end: int) -> None:
        """Drop noted entries up to index ``end``: the index now holds everything to there."""
        noted = self._noted
        if noted and noted[-1].index <= end:
            noted.clear()  # the usual case: nothing was noted while the flush ran
        else:
            del noted[: bisect.bisect_right(noted, end, key=lambda c: c.index)]
        self._behind = False

    # -- indexing --------------------------------------------------------------------------

    def _index(self, connection: Connection, committed: Sequence[Any]) -> None:
        """Index ``committed`` (consecutive entries of the log), after any entries the tables
        lack before them; entries the tables already have are skipped."""
        first = committed[0].index
        if not self._opened and (self._checked_at is None or first <= self._checked_at):
            create_tables(connection)
            self._checked_at = first
        size = committed[-1].index + 1
        # One statement in the usual case: move the head from this batch's start to its end.
        mark = store.placeholder(connection.dialect.paramstyle)
        moved = store.run(
            connection,
            f"UPDATE {head_table.name} SET size = {mark} WHERE id = 1 AND size = {mark}",
            (size, first),
        ).rowcount
        if moved:
            _fold(connection, ((c.index, c.entry) for c in committed), strict=True)
            return
        done = indexed_size(connection)
        if done is None or done > store.head_size(connection):
            rebuild(connection, first)  # new tables, or an index of another log: start again
            done = first
        elif done < first:  # the tables lag the log: index what is missing first
            _fold(connection, _entries(connection, done, first), strict=False)
            done = first
        if done < size:  # entries from ``done`` on are not indexed yet (a replica may have)
            _set_indexed_size(connection, size)
            _fold(connection, ((c.index, c.entry) for c in committed if c.index >= done), True)

    def sync(self, connection: Connection) -> None:
        """Create or check the tables and catch up with entries committed without this hook
        (call once when the log opens, with a write connection; its transaction must commit
        before the first batch)."""
        create_tables(connection)
        size = store.head_size(connection)
        done = indexed_size(connection)
        if done is None or done > size:
            rebuild(connection)
        elif done < size:
            _fold(connection, _entries(connection, done, size), strict=False)
            _set_indexed_size(connection, size)
        self._opened = True


def _is_layout_problem(exc: Exception) -> bool:
    """Whether a database error says the history tables are missing or of another shape (not
    that the store is down or busy, which the log reports as it is)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(
        marker in text
        for marker in (
            "no such table",
            "no such column",
            "has no column",
            "does not exist",  # PostgreSQL: relation / column ... does not exist
            "undefined",
            "values for",  # SQLite: table has N columns but M values were supplied
        )
    )


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    """What to look for; every field narrows the result, ``None`` means any.

    ``agency`` matches events the agency requested *or* provided (an administrator's view);
    ``since``/``until`` are Unix milliseconds, ``since`` inclusive and ``until`` exclusive.
    """

    types: tuple[str, ...] = INDEXED_TYPES
    subject: str | None = None
    requester: str | None = None
    provider: str | None = None
    agency: str | None = None
    category: str | None = None
    purpose: str | None = None
    basis: str | None = None
    since: int | None = None
    until: int | None = None
    reviewed: bool | None = None

    def check(self) -> None:
        unknown = set(self.types) - set(INDEXED_TYPES)
        if unknown:
            raise HistoryError(f"unknown history entry type {sorted(unknown)[0]!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise HistoryError(f"{name} must not be before 1970")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise HistoryError("the time range is empty: 'since' must be before 'until'")


@dataclass(frozen=True)
class HistoryItem:
    index: int
    entry: Entry
    review_index: int | None
    review_outcome: str | None


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    next_before: int | None  # pass as ``before`` to get the next (older) page


def _conditions(spec: HistoryFilter) -> list[Any]:
    spec.check()
    e = events_table.c
    where: list[Any] = [e.type.in_(spec.types)]
    for column, value in (
        (e.subject_key, None if spec.subject is None else subject_key(spec.subject)),
        (e.subject, spec.subject),
        (e.requester, spec.requester),
        (e.provider, spec.provider),
        (e.purpose, spec.purpose),
    ):
        if value is not None:
            where.append(column == value)
    if spec.agency is not None:
        where.append(or_(e.requester == spec.agency, e.provider == spec.agency))
    for name, value in (("category", spec.category), ("basis", spec.basis)):
        if value is not None:
            tagged = select(tags_table.c.idx).where(
                and_(tags_table.c.name == name, tags_table.c.value == value)
            )
            where.append(e.idx.in_(tagged))
    if spec.since is not None:
        where.append(e.ts >= spec.since)
    if spec.until is not None:
        where.append(e.ts < spec.until)
    if spec.reviewed is not None:
        where.append(e.review_index.is_not(None) if spec.reviewed else e.review_index.is_(None))
    return where


def page(
    connection: Connection, spec: HistoryFilter, before: int | None = None, limit: int = 50
) -> HistoryPage:
    """Events matching ``spec``, newest first, with ledger index below ``before``."""
    rows = connection.execute(page_query(spec, before, limit)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = read_entries(connection, [row.idx for row in rows])
    items = [
        HistoryItem(row.idx, entries[row.idx], row.review_index, row.review_outcome) for row in rows
    ]
    return HistoryPage(items, rows[-1].idx if more and rows else None)


def page_query(spec: HistoryFilter, before: int | None = None, limit: int = 50) -> Select:
    """The statement behind :func:`page` (one more row than ``limit``, to know if more follow).

    Every branch walks one index in ledger order from the cursor and stops after ``limit + 1``
    rows: a category or basis filter drives from the tag index, an agency filter merges the
    requester and provider indexes, anything else uses the subject, requester, provider or
    type index. A page therefore costs about the same at any size of log.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise HistoryError(f"page size must be between 1 and {MAX_PAGE}, not {limit}")
    if before is not None and before < 0:
        raise HistoryError("cursor points before the start of the log")
    spec.check()
    e = events_table.c
    if spec.agency is None:
        wanted = _branch(spec, [], before, limit).subquery()
    else:
        requested = _branch(spec, [e.requester == spec.agency], before, limit).subquery()
        provided = _branch(spec, [e.provider == spec.agency], before, limit).subquery()
        merged = union(select(requested.c.idx), select(provided.c.idx)).subquery()
        wanted = select(merged.c.idx).order_by(merged.c.idx.desc()).limit(limit + 1).subquery()
    return (
        select(e.idx, e.review_index, e.review_outcome)
        .join_from(events_table, wanted, e.idx == wanted.c.idx)
        .order_by(e.idx.desc())
    )


def _branch(spec: HistoryFilter, extra: list[Any], before: int | None, limit: int) -> Select:
    """Indexes of matching events below ``before``, newest first, at most ``limit + 1``."""
    e = events_table.c
    where = _conditions(replace(spec, agency=None, category=None, basis=None)) + extra
    tags = [(n, v) for n, v in (("category", spec.category), ("basis", spec.basis)) if v]
    if tags:
        # The tag index alone is in FROM, so the walk follows it in ledger order; the event's
        # other conditions are a primary-key probe per tag row.
        name, value = tags[0]
        driver = tags_table.alias("driver")
        order = driver.c.idx
        statement = select(order)
        conditions = [e.idx == order, *where]
        for other, wanted in tags[1:]:
            also = tags_table.alias(f"also_{other}")
            conditions.append(
                exists().where(also.c.name == other, also.c.value == wanted, also.c.idx == e.idx)
            )
        where = [
            driver.c.name == name,
            driver.c.value == value,
            exists().where(*conditions).correlate(driver),
        ]
    else:
        statement, order = select(e.idx), e.idx
    if before is not None:
        where.append(order < before)
    return statement.where(*where).order_by(order.desc()).limit(limit + 1)


def count(connection: Connection, spec: HistoryFilter) -> int:
    return connection.execute(
        select(func.count()).select_from(events_table).where(*_conditions(spec))
    ).scalar_one()


def per_day(connection: Connection, spec: HistoryFilter) -> list[tuple[int, str, int]]:
    """``(day start in ms, type, count)`` for the matching events, oldest day first."""
    day = (events_table.c.ts // DAY_MS).label("day")
    rows = connection.execute(
        select(day, events_table.c.type, func.count())
        .where(*_conditions(spec))
        .group_by(day, events_table.c.type)
        .order_by(day)
    ).all()
    return [(int(d) * DAY_MS, t, n) for d, t, n in rows]


def read_entries(connection: Connection, indexes: Sequence[int]) -> dict[int, Entry]:
    """The log's entries at ``indexes`` (decoded and checked)."""
    if not indexes:
        return {}
    table = store.entries_table
    found: dict[int, Entry] = {}
    for start in range(0, len(indexes), 500):
        chunk = list(indexes[start : start + 500])
        for idx, data in connection.execute(
            select(table.c.idx, table.c.data).where(table.c.idx.in_(chunk))
        ):
            found[idx] = decode_entry(bytes(data))
    missing = [i for i in indexes if i not in found]
    if missing:
        raise store.StoreError(f"history names entry {missing[0]}, which the log does not hold")
    return found
