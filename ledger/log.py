"""The append-only log: group commit, receipts, checkpoints and proofs.

One writer task per process turns concurrent ``append`` calls into batches: each batch is one
database transaction that inserts the entries, updates the stored tiles, runs the ``on_commit``
hooks of other modules (so their index tables commit atomically with the log) and stores one
signed checkpoint. Receipts are handed out only after that transaction commits, so anything a
caller was told is durable; a batch that fails leaves nothing behind and fails every caller in
it. A hook may also leave work for later (:class:`Deferred`): the writer does it in a
transaction of its own whenever no batch is waiting, off the path of the receipts. Several
processes may share one PostgreSQL store: each batch locks the head row and catches up with what
other writers appended before adding its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from ledger import checkpoint as notes
from ledger import keys, merkle, store, view
from ledger.entries import SIGNED_TYPES, Entry, EntryError, decode_entry
from ledger.members import MemberKeys
from ledger.pseudonym import SecretStore

# A commit hook runs inside a batch's transaction; it may return a function to run once that
# transaction is durable (and before any receipt is released), which is where a hook publishes
# in-memory state it staged: state that changed before the commit would be visible to readers
# even when the batch then fails.
AfterCommit = Callable[[], None]
CommitHook = Callable[[Connection, list["Committed"]], AfterCommit | None]
AfterCommitHook = Callable[[list["Committed"]], None]


@dataclass(frozen=True)
class Deferred:
    """Work a commit hook leaves for the writer's idle moments (the history index's rows):
    ``pending`` says whether there is any, ``run`` does it inside a transaction of its own and,
    like a commit hook, may return a step to take once that transaction commits. The work must
    be derivable from the log alone, because its transaction does not wait for the disk: after
    a crash the hook redoes it from the log when the log opens."""

    pending: Callable[[], bool]
    run: Callable[[Connection], AfterCommit | None]


MAX_BATCH = 4096

log = logging.getLogger("accord.ledger")


class LedgerError(Exception):
    """Base of the errors the log raises."""


class LedgerUnavailable(LedgerError):
    """The log could not make a batch durable; nothing of the batch was recorded."""


class LedgerClosed(LedgerUnavailable):
    """The ledger is closed (shutting down); nothing was recorded."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of recording: the entry's index, its leaf hash and the checkpoint that covers it."""

    index: int
    leaf_hash: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class Committed:
    """An entry as committed hooks see it."""

    index: int
    entry: Entry
    leaf_hash: bytes


@dataclass
class TreeState:
    """The writer's in-memory view of the committed tree; replaced only after a commit."""

    size: int
    frontier: merkle.Frontier
    edges: list[list[bytes]]  # per tile level, the hashes of its incomplete last tile
    members: MemberKeys
    checkpoint: str

    def copy(self) -> TreeState:
        return TreeState(
            self.size,
            self.frontier.copy(),
            [list(edge) for edge in self.edges],
            self.members.copy(),
            self.checkpoint,
        )

    def append(self, leaf: bytes, dirty: dict[tuple[int, int], Any]) -> None:
        """Add a leaf hash, recording the tiles it changes in ``dirty``."""
        self.frontier.append(leaf)
        self.size += 1
        edges = self.edges
        level, value = 0, leaf
        while True:
            if len(edges) == level:
                edges.append([])
            edge = edges[level]
            edge.append(value)
            tile_index = ((self.size >> (store.TILE_HEIGHT * level)) - 1) >> store.TILE_HEIGHT
            if len(edge) < store.TILE_WIDTH:
                dirty[(level, tile_index)] = edge
                return
            dirty[(level, tile_index)], value = store.full_tile(edge)
            edges[level] = []
            level += 1


def load_state(connection: Connection) -> TreeState:
    """Rebuild the writer state from the store (on open, or after another writer appended)."""
    size = store.head_size(connection)
    edges: list[list[bytes]] = []
    level = 0
    while size >> (store.TILE_HEIGHT * level):
        count = size >> (store.TILE_HEIGHT * level)
        width = count & (store.TILE_WIDTH - 1)
        edge: list[bytes] = []
        if width:
            key = (level, count >> store.TILE_HEIGHT)
            data = store.read_tiles(connection, [key]).get(key, b"")
            if len(data) != width * merkle.HASH_SIZE:
                raise store.StoreError(f"tile {level}/{key[1]} does not match tree size {size}")
            edge = [data[i : i + 32] for i in range(0, len(data), 32)]
        edges.append(edge)
        level += 1
    frontier = merkle.Frontier.from_reader(store.tile_reader(connection, size), size)
    members = MemberKeys(
        {m: bytes(k) for m, k in connection.execute(select(store.member_keys_table))}
    )
    note = connection.execute(
        select(store.checkpoints_table.c.note).where(store.checkpoints_table.c.size == size)
    ).scalar_one_or_none()
    return TreeState(size, frontier, edges, members, note or "")


@dataclass
class _Request:
    entries: list[Entry]
    data: list[bytes]  # their canonical bytes, checked
    future: asyncio.Future[list[Receipt]]


class _HookFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Ledger:
    """An open log. Use :func:`open_ledger`; all methods are safe to call concurrently."""

    url: str
    signer: keys.Signer
    origin: str
    on_commit: list[CommitHook] = field(default_factory=list)
    witnesses: list[keys.Verifier] = field(default_factory=list)
    after_commit: list[AfterCommitHook] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    # Commit on the event loop's own thread, blocking it for each batch, instead of on a
    # writer thread: for a process that does nothing but keep the log (ledger.process), where
    # a second thread only adds GIL hand-offs and cross-thread wake-ups to every batch.
    inline_writer: bool = False
    writable: bool = False
    last_error: str | None = None

    def __post_init__(self) -> None:
        self._writer_engine: Engine | None = None
        self._kept: Connection | None = None  # the writer's SQLite connection, between batches
        self._reader_engine: Engine | None = None
        self._state: TreeState | None = None
        self._pending: list[_Request] = []
        self._settling: list[asyncio.Future[None]] = []  # callers of settle() waiting
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._cache = store.TileCache()
        # The writer gets a thread of its own, so reads queued on the shared pool never delay
        # a commit.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self.batches = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def _open(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._task = asyncio.create_task(self._writer(), name="ledger-writer")
        self.writable = True

    def _open_sync(self) -> None:
        self._writer_engine = store.make_engine(self.url, writer=True)
        self._reader_engine = store.make_engine(self.url)
        try:
            with self._writer_engine.begin() as connection:
                store.create_schema(connection)
                state = load_state(connection)
                if not state.checkpoint:
                    state.checkpoint = self._sign(state.size, state.frontier.root())
                    connection.execute(
                        insert(store.checkpoints_table),
                        {"size": state.size, "note": state.checkpoint},
                    )
                else:
                    self._check_own_checkpoint(state)
        except SQLAlchemyError as exc:
            self._dispose()
            raise store.StoreError(f"cannot open the ledger store: {_short(exc)}") from None
        except Exception:
            self._dispose()
            raise
        self._state = state
        self.secrets = SecretStore(self._reader_engine)

    def _check_own_checkpoint(self, state: TreeState) -> None:
        verifier = self.signer.verifier
        try:
            cp = notes.open_checkpoint(state.checkpoint, verifier, self.origin)
        except notes.CheckpointError as exc:
            raise store.StoreError(
                f"the store's latest checkpoint is not this log's: {exc}"
            ) from None
        if cp.size != state.size or cp.root != state.frontier.root():
            raise store.StoreError("the store's latest checkpoint does not match its tiles")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(LedgerClosed("the ledger is closed"))
        self._pending = []
        for waiter in self._settling:
            if not waiter.done():
                waiter.set_exception(LedgerClosed("the ledger is closed"))
        self._settling = []
        self.writable = False
        self._executor.shutdown(wait=True)
        self._dispose()

    def _dispose(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(Exception):
                self._kept.close()
            self._kept = None
        for engine in (self._writer_engine, self._reader_engine):
            if engine is not None:
                engine.dispose()

    # -- appending -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The committed tree size as this process last saw it."""
        return self._state.size if self._state else 0

    async def append(self, entry: Entry) -> Receipt:
        """Record one entry; returns once it is durable."""
        return (await self.submit([entry]))[0]

    async def append_all(self, entries: Iterable[Entry]) -> list[Receipt]:
        """Record entries atomically (same batch, consecutive indexes): all or none."""
        batch = list(entries)
        if not batch:
            return []
        return await self.submit(batch)

    def submit(self, entries: list[Entry]) -> asyncio.Future[list[Receipt]]:
        """Queue ``entries`` as one atomic request (call on the log's event loop); the future
        gets their receipts once they are durable. Bad entries raise here, before anything
        is queued. :meth:`append_all` is this, awaited; the ledger's process calls it directly
        for each append it receives, which spares a task per request."""
        if self._closing or self._task is None:
            raise LedgerClosed("the ledger is closed")
        data = []
        for entry in entries:
            if not isinstance(entry, Entry):
                raise EntryError(f"expected an Entry, got {type(entry).__name__}")
            data.append(entry.checked_bytes())
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(entries, data, future))
        self._wake.set()
        return future

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, count, taken = [], 0, 0
                for request in self._pending:
                    if batch and count + len(request.entries) > MAX_BATCH:
                        break
                    batch.append(request)
                    count += len(request.entries)
                    taken += 1
                del self._pending[:taken]
                batch = [r for r in batch if not r.future.cancelled()]
                if batch:
                    await self._commit(batch)
                    await self._yield_after_step()
            await self._run_deferred()
            if self._closing:
                return

    async def settle(self) -> None:
        """Return once the work commit hooks deferred for the batches committed so far is done
        (the history index has every entry this process appended): a read of what those hooks
        maintain then sees them all. Raises :class:`LedgerUnavailable` if that work fails."""
        if self._closing or self._task is None:
            raise LedgerClosed("the ledger is closed")
        if not any(d.pending() for d in self.deferred):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settling.append(waiter)
        self._wake.set()
        await waiter

    async def _run_deferred(self) -> None:
        """Do the deferred work while no batch waits; a failure is logged, the work stays
        pending (a later idle moment retries it) and the callers of :meth:`settle` get it."""
        waiters, self._settling = self._settling, []
        error: Exception | None = None
        ran = any(d.pending() for d in self.deferred)
        if ran:
            try:
                await self._in_writer(self._deferred_sync)
            except Exception as exc:
                log.error("deferred index work failed, retried later: %s", _short(exc))
                error = LedgerUnavailable(f"the ledger's indexes could not catch up: {_short(exc)}")
        for waiter in waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        if ran:
            await self._yield_after_step()

    async def _in_writer(self, function: Callable[..., Any], *args: Any) -> Any:
        if not self.inline_writer:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        return function(*args)

    async def _yield_after_step(self) -> None:
        """With the inline writer, two turns of the loop before the next blocking step: one
        for the callbacks of the futures the step resolved, one for the writes those callbacks
        queued (a batch's receipts) and for the appends that arrived meanwhile."""
        if self.inline_writer:
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    @contextlib.contextmanager
    def _writer_connection(self) -> Iterator[Connection]:
        """The connection a batch or the deferred work is written on (by the writer only).

        On SQLite it stays open between batches: the file cannot go away under it, and taking
        it from the pool and giving it back, twice a batch, took about 8% of the ledger
        process's CPU (sampled under the enforcement benchmark). A PostgreSQL connection is
        taken from the pool (and pinged) each time, since a server restart or a dropped link
        would otherwise fail the next batch. On SQLite a failure discards the kept
        connection: the next batch opens a fresh one."""
        assert self._writer_engine is not None
        if self._writer_engine.dialect.name != "sqlite":
            with self._writer_engine.connect() as connection:
                yield connection
            return
        if self._kept is None:
            self._kept = self._writer_engine.connect()
        try:
            yield self._kept
        except BaseException:
            kept, self._kept = self._kept, None
            with contextlib.suppress(Exception):
                kept.close()
            raise

    def _deferred_sync(self) -> None:
        publish: list[AfterCommit] = []
        with self._writer_connection() as connection:
            # What deferred work writes can be redone from the log, so its commit need not
            # wait for the disk; the next batch's commit syncs it along with its own pages.
            sqlite = connection.dialect.name == "sqlite"
            raw: Any = connection.connection.dbapi_connection
            if sqlite:
                raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with connection.begin():
                    if not sqlite:
                        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    for work in self.deferred:
                        if work.pending():
                            done = work.run(connection)
                            if done is not None:
                                publish.append(done)
            finally:
                if sqlite:
                    raw.execute("PRAGMA synchronous=FULL")
        for done in publish:
            done()

    async def _commit(self, batch: list[_Request]) -> None:
        interrupted: BaseException | None = None
        try:
            outcome = await self._in_writer(self._commit_sync, batch)
        except BaseException as exc:  # unexpected, or the writer was cancelled: fail closed
            error = LedgerUnavailable(f"ledger write failed: {_short(exc)}")
            outcome = {id(r): error for r in batch}
            if not isinstance(exc, Exception):
                interrupted = exc
        for request in batch:
            result = outcome[id(request)]
            if request.future.done():
                continue
            if isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        if interrupted is not None:
            raise interrupted

    def _commit_sync(self, batch: list[_Request]) -> dict[int, list[Receipt] | Exception]:
        """Commit a batch; on a hook failure retry its requests one by one."""
        try:
            return self._transaction(batch)
        except _HookFailed as failed:
            if len(batch) == 1:
                error = failed.error
                if not isinstance(error, EntryError):
                    # Not a refused entry: the log cannot record (an index table it keeps in
                    # step is missing or of another layout, say) until that is fixed.
                    self.writable = False
                    self.last_error = f"ledger hook failed: {_short(error)}"
                    error = LedgerUnavailable(self.last_error)
                return {id(batch[0]): error}
            outcome: dict[int, list[Receipt] | Exception] = {}
            for request in batch:
                outcome.update(self._commit_sync([request]))
            return outcome

    def _transaction(self, batch: list[_Request]) -> dict[int, list[Receipt] | Exception]:
        assert self._state is not None
        outcome: dict[int, list[Receipt] | Exception] = {}
        try:
            with self._writer_connection() as connection, connection.begin():
                sql = _statements(connection)
                committed_size = store.head_size(connection, lock=True)
                base = self._state
                if committed_size != base.size:
                    base = load_state(connection)  # another writer appended meanwhile
                state = base.copy()
                dirty: dict[tuple[int, int], Any] = {}
                rows: list[tuple[int, str, bytes]] = []
                committed: list[Committed] = []
                hooks = bool(self.on_commit or self.after_commit)
                member_rows: dict[str, bytes] = {}
                accepted: list[tuple[_Request, int, list[bytes]]] = []
                for request in batch:
                    if any(e.type in SIGNED_TYPES for e in request.entries):
                        members = state.members.copy()
                        installed: dict[str, bytes] = {}
                        try:
                            for entry in request.entries:
                                members.check(entry)
                                change = members.apply(entry)
                                if change:
                                    installed[change[0]] = change[1]
                        except (EntryError, keys.KeyFormatError) as exc:
                            outcome[id(request)] = EntryError(str(exc))
                            continue
                        state.members = members
                        member_rows.update(installed)
                    first = state.size
                    leaves = []
                    for entry, data in zip(request.entries, request.data, strict=True):
                        leaf = merkle.leaf_hash(data)
                        index = state.size
                        state.append(leaf, dirty)
                        rows.append((index, entry.type, data))
                        leaves.append(leaf)
                        if hooks:
                            committed.append(Committed(index, entry, leaf))
                    accepted.append((request, first, leaves))
                if not rows:
                    return outcome
                # The statements of every batch go to the driver as prepared text with tuples:
                # building them through the expression layer costs more than running them.
                if sql.qmark:
                    table = store.entries_table.name
                    store.store_rows(connection, table, "idx, type, data", 3, rows)
                else:
                    store.run(connection, sql.insert_entries, rows, many=True)
                tiles = store.tile_rows(dirty)
                if tiles:
                    store.run(
                        connection,
                        sql.upsert_tiles,
                        [(lv, ix, data, inner) for (lv, ix), (data, inner) in tiles.items()],
                        many=True,
                    )
                for member, public in member_rows.items():
                    connection.execute(
                        delete(store.member_keys_table).where(
                            store.member_keys_table.c.member == member
                        )
                    )
                    connection.execute(
                        insert(store.member_keys_table), {"member": member, "key": public}
                    )
                state.checkpoint = self._sign(state.size, state.frontier.root())
                store.run(connection, sql.insert_checkpoint, (state.size, state.checkpoint))
                store.run(connection, sql.move_head, (state.size,))
                publish: list[AfterCommit] = []
                for hook in self.on_commit:
                    try:
                        done = hook(connection, committed)
                    except Exception as exc:
                        raise _HookFailed(exc) from exc
                    if done is not None:
                        publish.append(done)
        except _HookFailed:
            raise
        except (SQLAlchemyError, OSError, store.StoreError) as exc:
            self.writable = False
            self.last_error = _short(exc)
            error = LedgerUnavailable(f"ledger write failed, nothing recorded: {_short(exc)}")
            for request in batch:
                outcome.setdefault(id(request), error)
            return outcome
        self._state = state
        self.writable = True
        self.last_error = None
        self.batches += 1
        self._after_commit(publish, committed)
        note = state.checkpoint
        for request, first, leaves in accepted:
            outcome[id(request)] = [Receipt(first + i, leaf, note) for i, leaf in enumerate(leaves)]
        return outcome

    def _after_commit(self, publish: list[AfterCommit], committed: list[Committed]) -> None:
        """Run the after-commit work of a durable batch. The batch stands whatever happens
        here; a failure is logged and left for the failing hook to recover from."""
        for done in publish:
            try:
                done()
            except Exception:
                log.exception("after-commit step of a committed batch failed")
        for hook in self.after_commit:
            try:
                hook(committed)
            except Exception:
                log.exception("after-commit hook of a committed batch failed")

    def _sign(self, size: int, root: bytes) -> str:
        return notes.signed_note(notes.Checkpoint(self.origin, size, root), self.signer)

    # -- reading -------------------------------------------------------------------------

    async def _read(self, function: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            assert self._reader_engine is not None
            try:
                with self._reader_engine.connect() as connection, connection.begin():
                    return function(connection)
            except SQLAlchemyError as exc:
                raise LedgerUnavailable(f"ledger read failed: {_short(exc)}") from None

        return await asyncio.to_thread(run)

    async def entries(self, start: int, end: int | None = None) -> list[Entry]:
        """Entries ``[start, end)`` (``end`` defaults to the current size)."""
        return [decode_entry(data) for data in await self.entry_bytes(start, end)]

    async def entry_bytes(self, start: int, end: int | None = None) -> list[bytes]:
        """The stored canonical bytes of entries ``[start, end)``."""

        def run(connection: Connection) -> list[bytes]:
            stop = store.head_size(connection) if end is None else end
            if not 0 <= start <= stop:
                raise LedgerError(f"bad entry range [{start}, {stop})")
            return view.entry_bytes(connection, start, stop)

        return await self._read(run)

    async def checkpoint(self) -> str:
        """The latest checkpoint note in the store (any writer's), with its cosignatures."""
        return (await self._read(view.latest_checkpoint))[1]

    async def checkpoint_at(self, size: int) -> str:
        """The checkpoint note the log signed when it reached ``size`` entries."""

        def run(connection: Connection) -> str:
            try:
                return view.checkpoint_at(connection, size)
            except LookupError as exc:
                raise LedgerError(str(exc)) from None

        return await self._read(run)

    async def root(self, tree_size: int | None = None) -> bytes:
        """The root hash of the tree of ``tree_size`` entries (default: latest)."""

        def build(size: int) -> Callable[[Any], bytes]:
            if size == 0:
                return lambda _: merkle.EMPTY_ROOT
            return lambda r: merkle.subtree_hash(r, 0, size)

        return await self._read(lambda c: self._sized(c, tree_size, build))

    async def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """The audit path of entry ``index`` in the tree of ``tree_size`` entries."""

        def build(size: int) -> Callable[[Any], list[bytes]]:
            if not 0 <= index < size:
                raise LedgerError(f"entry {index} is not in a tree of size {size}")
            return lambda r: merkle.inclusion_proof(r, index, size)

        return await self._read(lambda c: self._sized(c, tree_size, build))

    async def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old`` entries is a prefix of the tree of ``new``."""

        def build(size: int) -> Callable[[Any], list[bytes]]:
            if not 0 <= old <= size:
                raise LedgerError(f"no consistency proof from size {old} to size {size}")
            return lambda r: merkle.consistency_proof(r, old, size)

        return await self._read(lambda c: self._sized(c, new, build))

    def _sized(
        self, connection: Connection, size: int | None, build: Callable[[int], Callable[[Any], Any]]
    ) -> Any:
        committed = store.head_size(connection)
        size = committed if size is None else size
        if not 0 <= size <= committed:
            raise LedgerError(f"tree size {size} is beyond the log's size {committed}")
        return view.prove(connection, size, build(size), self._cache)

    async def healthy(self) -> bool:
        """True if the last batch committed and the store answers now (for readiness probes)."""
        if not self.writable or self._closing:
            return False
        try:
            await self._read(store.head_size)
        except LedgerUnavailable:
            return False
        return True

    # -- subjects ------------------------------------------------------------------------

    async def pseudonym(self, subject_id: str) -> str:
        """The subject's pseudonym for ledger entries (its secret is created on first use)."""
        return await asyncio.to_thread(self.secrets.pseudonym, subject_id)

    async def erase_subject(self, subject_id: str) -> bool:
        """Crypto-shred a subject: forget its secret so no entry links back to it."""
        return await asyncio.to_thread(self.secrets.erase, subject_id)

    # -- witnesses -----------------------------------------------------------------------

    async def add_cosignature(self, note: str) -> int:
        """Store the cosignatures in ``note`` from configured witnesses; returns how many.

        The note body must be exactly a checkpoint this log signed. Lines from keys that are not
        configured witnesses are ignored; a line that claims a witness key but does not verify
        is refused, and nothing is stored.
        """
        body, signatures = notes.split_note(note)
        checkpoint = notes.parse_body(body)
        try:
            own = await self.checkpoint_at(checkpoint.size)
        except LedgerUnavailable:
            raise
        except LedgerError:
            raise notes.CheckpointError(
                f"cosigned checkpoint of size {checkpoint.size} is not one this log signed"
            ) from None
        if notes.split_note(own)[0] != body:
            raise notes.CheckpointError(
                f"cosigned checkpoint of size {checkpoint.size} is not the one this log signed"
            )
        by_key = {(w.name, w.key_id): w for w in self.witnesses}
        accepted = []
        for signature in signatures:
            witness = by_key.get((signature.name, signature.key_id))
            if witness is None:
                continue
            timestamp = notes.verify_cosignature(body, signature, witness)
            accepted.append(
                {
                    "size": checkpoint.size,
                    "witness": witness.name,
                    "timestamp": timestamp,
                    "line": signature.line(),
                }
            )
        if not accepted:
            raise notes.CheckpointError("note carries no cosignature from a configured witness")

        def save(connection: Connection) -> None:
            for row in accepted:
                connection.execute(
                    delete(store.cosignatures_table).where(
                        (store.cosignatures_table.c.size == row["size"])
                        & (store.cosignatures_table.c.witness == row["witness"])
                    )
                )
                connection.execute(insert(store.cosignatures_table), row)

        await self._read(save)
        return len(accepted)

    async def cosignatures(self, size: int) -> list[str]:
        return await self._read(
            lambda c: (
                c.execute(
                    select(store.cosignatures_table.c.witness).where(
                        store.cosignatures_table.c.size == size
                    )
                )
                .scalars()
                .all()
            )
        )


@contextlib.asynccontextmanager
async def open_ledger(
    url: str,
    signer: keys.Signer,
    origin: str,
    on_commit: Sequence[CommitHook] = (),
    witnesses: Sequence[keys.Verifier] = (),
    after_commit: Sequence[AfterCommitHook] = (),
    inline_writer: bool = False,
) -> AsyncIterator[Ledger]:
    """Open (creating if needed) the log at ``url``, signing checkpoints with ``signer``.

    ``on_commit`` hooks run inside each batch's transaction (and may return work to do after
    it); ``after_commit`` hooks get the committed entries once the batch is durable, before
    its receipts are released."""
    ledger = Ledger(
        url,
        signer,
        origin,
        list(on_commit),
        list(witnesses),
        list(after_commit),
        inline_writer=inline_writer,
    )
    await ledger._open()
    try:
        yield ledger
    finally:
        await ledger.close()


@dataclass(frozen=True)
class _Sql:
    insert_entries: str
    upsert_tiles: str
    insert_checkpoint: str
    move_head: str
    qmark: bool


@functools.cache
def _sql_for(paramstyle: str) -> _Sql:
    mark = store.placeholder(paramstyle)
    entries, tiles = store.entries_table.name, store.tiles_table.name
    return _Sql(
        insert_entries=f"INSERT INTO {entries} (idx, type, data) VALUES ({mark}, {mark}, {mark})",
        upsert_tiles=(
            f'INSERT INTO {tiles} (level, idx, hashes, "inner") '
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (level, idx) DO UPDATE "
            'SET hashes = excluded.hashes, "inner" = excluded."inner"'
        ),
        insert_checkpoint=(
            f"INSERT INTO {store.checkpoints_table.name} (size, note) VALUES ({mark}, {mark})"
        ),
        move_head=f"UPDATE {store.head_table.name} SET size = {mark} WHERE id = 1",
        qmark=paramstyle == "qmark",
    )


def _statements(connection: Connection) -> _Sql:
    return _sql_for(connection.dialect.paramstyle)


def encode_hashes(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
