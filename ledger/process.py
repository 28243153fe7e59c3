"""The log in a process of its own: one sequencer per store, the gateway as its client.

Committing a batch costs CPU (SQLite statements, index hooks, the checkpoint signature) and,
in the same process, the GIL hand-offs between the event loop and the writer thread. A
gateway that records every disclosure therefore runs the real :class:`~ledger.log.Ledger` in
a child process and talks to it over a socket pair: :class:`LedgerProcess` has the surface of
``Ledger`` that request paths use (appends, reads, proofs, cosignatures, health) and turns
each call into one pickled message (method name and arguments). The child queues each append as
it arrives (answering from its future once the batch commits) and runs every other message as
a task of its own, so appends from many concurrent requests still land in one group-commit
batch. It commits on its event loop's own thread (``inline_writer``), on uvloop where that is
installed: the process has nothing else to do while a batch commits, and a writer thread would
only add GIL hand-offs and cross-thread wake-ups to every batch. Appends that arrive during a
commit wait in the socket and make up the next batch.

Replies are read on the caller's event loop as the socket becomes readable (no thread), and
each carries the log's ``size``, ``writable`` and ``last_error``, so those stay plain
attributes. Writes are buffered by the loop's transport, so neither side ever blocks on a full
socket while the other is sending.

Commit hooks run in the child, next to the log. A hook cannot cross a process boundary as a
closure, so it is named by a :class:`HookSpec` (an importable installer and its arguments)
that the child builds and installs: :func:`consent_registry` and :func:`history_index` are
the two the gateway needs. :func:`install` puts a hook "where the log is written" for either
kind of ledger.

Failure is closed: if the child dies or the socket breaks, every call waiting for it fails
with :class:`~ledger.log.LedgerUnavailable` and ``writable`` turns false; the next call (an
append, a read, or a readiness probe through :meth:`LedgerProcess.healthy`) starts a new
child, at most once per ``restart_delay`` seconds. Closing asks the child to stop, waits for
its batches to finish, and kills it only after a timeout. The child ignores SIGINT (the
parent handles Ctrl-C and stops it), stops gracefully on SIGTERM, and exits by itself when
the parent goes away (end of file on its socket), so no child outlives its gateway.

Pseudonym secrets stay in the parent, over an engine of its own on the same store, as
``Ledger`` keeps them beside its writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import functools
import importlib
import io
import logging
import multiprocessing
import pickle
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ledger import keys, store
from ledger.entries import Entry, EntryError
from ledger.history import HistoryIndex
from ledger.log import (
    Deferred,
    Ledger,
    LedgerClosed,
    LedgerError,
    LedgerUnavailable,
    Receipt,
    open_ledger,
)
from ledger.pseudonym import SecretStore
from ledger.registry import Registry

log = logging.getLogger("accord.ledger")

# What the parent may call on the child's ledger: coroutine methods, and plain attributes
# read as they are. Anything else is refused, whatever a message asks for.
REMOTE_METHODS = frozenset(
    {
        "append",
        "append_all",
        "entries",
        "entry_bytes",
        "checkpoint",
        "checkpoint_at",
        "root",
        "inclusion_proof",
        "consistency_proof",
        "healthy",
        "settle",
        "add_cosignature",
        "cosignatures",
    }
)
REMOTE_ATTRIBUTES = frozenset({"size", "writable", "last_error", "batches"})
INSTALL = "install"  # the one call that is not the ledger's own: add a commit hook

STOP_TIMEOUT = 30.0  # how long closing waits for the child's last batches before killing it
RESTART_DELAY = 1.0  # at most one start of a child per this many seconds
_HEADER = 4  # each message: a 4-byte big-endian length, then the pickled message
_PICKLE = pickle.HIGHEST_PROTOCOL


# -- hooks the child builds --------------------------------------------------------------------


@dataclass(frozen=True)
class HookSpec:
    """A commit hook described so that another process can build it.

    ``installer`` names a function (``package.module:name``) called as
    ``installer(ledger, *args)`` in the process that writes the log, with the log open: it
    prepares what the hook needs and adds the hook to ``ledger.on_commit``.
    """

    installer: str
    args: tuple[Any, ...] = ()

    def install(self, ledger: Ledger) -> None:
        module, _, name = self.installer.partition(":")
        function = getattr(importlib.import_module(module), name)
        function(ledger, *self.args)


def consent_registry(approvals_required: int) -> HookSpec:
    """The consent registry's index staging (see :meth:`ledger.registry.Registry.on_commit`)."""
    return HookSpec(f"{__name__}:install_consent_registry", (approvals_required,))


def history_index() -> HookSpec:
    """The disclosure history index (see :class:`ledger.history.HistoryIndex`)."""
    return HookSpec(f"{__name__}:install_history_index")


def install_consent_registry(ledger: Ledger, approvals_required: int) -> None:
    """Load the registry (rebuilding its tables if they lag the log), then hook it in: a batch
    committed in between is folded by the hook's own catch-up."""
    registry = Registry(approvals_required)
    registry.load_from(ledger.url)
    ledger.on_commit.append(registry.on_commit)


def install_history_index(ledger: Ledger) -> HistoryIndex:
    """Hook the history index in, the deferred way, and bring it up to date; returns it. The
    catch-up holds the log's write lock (another replica may be appending), so no batch commits
    while it runs."""
    index = HistoryIndex()
    ledger.on_commit.append(index.defer)
    ledger.deferred.append(Deferred(index.pending, index.flush))
    writer = store.make_engine(ledger.url, writer=True)
    try:
        with writer.connect() as connection, connection.begin():
            store.head_size(connection, lock=True)
            index.sync(connection)
    finally:
        writer.dispose()
    return index


async def install(ledger: Ledger | LedgerProcess, hook: HookSpec) -> None:
    """Run ``hook`` where ``ledger`` is written: in this process for an in-process log, in the
    child (now and in every child started later) for a :class:`LedgerProcess`."""
    if isinstance(ledger, LedgerProcess):
        await ledger.install(hook)
    else:
        await asyncio.to_thread(hook.install, ledger)


# -- framing ------------------------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    """Entries and receipts as their constructor arguments: the frozen dataclasses' default
    pickling goes through a generic state function that costs twice as much, on every
    append, in the gateway's process."""

    dispatch_table = {
        **copyreg.dispatch_table,
        Entry: lambda e: (Entry, (e.v, e.type, e.ts, e.author, e.body, e.sig)),
        Receipt: lambda r: (Receipt, (r.index, r.leaf_hash, r.checkpoint)),
    }


def _dumps(message: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, _PICKLE).dump(message)
    return buffer.getvalue()


class _Channel(asyncio.Protocol):
    """One end of the socket: length-prefixed pickled messages in both directions."""

    def __init__(self, deliver: Callable[[Any], None]) -> None:
        self._deliver = deliver
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self.transport: Any = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.lost.done()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            self._buffer += data
            data = bytes(self._buffer)
            self._buffer.clear()
        view, offset, total = memoryview(data), 0, len(data)
        while total - offset >= _HEADER:
            end = offset + _HEADER + int.from_bytes(view[offset : offset + _HEADER], "big")
            if end > total:
                break
            message = pickle.loads(view[offset + _HEADER : end])
            offset = end
            try:
                self._deliver(message)
            except Exception:  # one bad message must not stop the others
                log.exception("ledger process message could not be handled")
        if offset < total:
            self._buffer += view[offset:]

    def eof_received(self) -> bool:
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, message: Any) -> None:
        """Queue ``message``; everything queued in one turn of the event loop leaves in one
        write (a batch's receipts, a burst of appends), not a system call each."""
        data = _dumps(message)
        assert self.transport is not None
        self._out.append(len(data).to_bytes(_HEADER, "big"))
        self._out.append(data)
        if len(self._out) == 2:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def close(self) -> None:
        if self.transport is not None:
            self._flush()
            self.transport.close()


def _portable(exc: BaseException) -> Exception:
    """``exc`` if it survives pickling with its type and message, else a LedgerError that
    names it."""
    if isinstance(exc, Exception):
        try:
            restored = pickle.loads(pickle.dumps(exc, _PICKLE))
            if type(restored) is type(exc) and str(restored) == str(exc):
                return exc
        except Exception:
            pass
    return LedgerError(f"{type(exc).__name__}: {exc}")


# -- the child ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Config:
    """What the child needs to open the log (picklable: keys travel in their text forms)."""

    url: str
    signer: str
    origin: str
    witnesses: tuple[str, ...]
    hooks: tuple[HookSpec, ...]


def _serve(sock: socket.socket, config: _Config) -> None:
    """The child's entry point: serve the log over ``sock`` until told to stop, or until the
    parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_main(sock, config))
    finally:
        sock.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it comes with uvicorn's standard extras):
    the child's main thread is mostly the loop's own work, reading appends and writing
    receipts, which uvloop does in C."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _main(sock: socket.socket, config: _Config) -> None:
    await _Server(config).run(sock)


class _Server:
    """The child's side: the open log, a queued append or a task per message."""

    def __init__(self, config: _Config) -> None:
        self.config = config
        self.ledger: Ledger | None = None
        self.installed: set[HookSpec] = set()
        self.tasks: set[asyncio.Future[Any]] = set()  # calls in progress
        self.stopping = asyncio.Event()
        self.channel = _Channel(self._received)

    async def run(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: self.channel, sock=sock)
        self.channel.lost.add_done_callback(lambda _: self.stopping.set())  # the parent is gone
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        config = self.config
        try:
            async with open_ledger(
                config.url,
                keys.parse_signer(config.signer),
                config.origin,
                witnesses=[keys.parse_verifier(w) for w in config.witnesses],
                inline_writer=True,
            ) as ledger:
                for hook in config.hooks:
                    await self._install(ledger, hook)
                self.ledger = ledger
                self._reply(0, True, None)  # started
                await self.stopping.wait()
                while self.tasks:  # let every call that arrived finish its batch
                    await asyncio.gather(*self.tasks, return_exceptions=True)
        except Exception as exc:
            self._reply(0, False, exc)
        finally:
            self.ledger = None
            self.channel.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.channel.lost), 5)

    async def _install(self, ledger: Ledger, hook: HookSpec) -> None:
        if hook not in self.installed:
            await asyncio.to_thread(hook.install, ledger)
            self.installed.add(hook)

    def _received(self, message: tuple[int, str | None, tuple[Any, ...]]) -> None:
        call, name, args = message
        if name is None:
            self.stopping.set()
            return
        if self.stopping.is_set():  # what arrived before the stop is still served
            self._reply(call, False, LedgerClosed("the ledger process is stopping"))
            return
        if name == "append_all" and self.ledger is not None:
            # The hot path, without a task: queue the entries and answer when they commit.
            try:
                (entries,) = args
                entries = list(entries)
                appended = self.ledger.submit(entries) if entries else None
            except Exception as exc:
                self._reply(call, False, exc)
                return
            if appended is None:
                self._reply(call, True, [])
                return
            self.tasks.add(appended)
            appended.add_done_callback(functools.partial(self._appended, call))
            return
        task = asyncio.get_running_loop().create_task(self._run(call, name, args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _appended(self, call: int, appended: asyncio.Future[Any]) -> None:
        self.tasks.discard(appended)
        if appended.cancelled():
            self._reply(call, False, LedgerClosed("the ledger is closed"))
            return
        error = appended.exception()
        self._reply(call, error is None, appended.result() if error is None else error)

    async def _run(self, call: int, name: str, args: tuple[Any, ...]) -> None:
        ledger = self.ledger
        try:
            if ledger is None:
                raise LedgerUnavailable("the ledger process has not opened the log yet")
            if name == INSTALL:
                (hook,) = args
                value = await self._install(ledger, hook)
            elif name in REMOTE_METHODS:
                value = await getattr(ledger, name)(*args)
            elif name in REMOTE_ATTRIBUTES:
                value = getattr(ledger, name)
            else:
                raise LedgerError(f"{name!r} is not something the ledger process answers")
        except Exception as exc:
            self._reply(call, False, exc)
        else:
            self._reply(call, True, value)

    def _reply(self, call: int, ok: bool, value: Any) -> None:
        if not self.channel.open:
            return
        ledger = self.ledger
        state = (ledger.size, ledger.writable, ledger.last_error) if ledger else (0, False, None)
        if not ok:
            value = _portable(value)
        try:
            self.channel.send((call, ok, value, state))
        except Exception as exc:  # a result that cannot be pickled: say so instead
            error = LedgerError(f"the ledger process cannot send its answer: {exc}")
            self.channel.send((call, False, error, state))


# -- the parent ---------------------------------------------------------------------------------


class _Child:
    """One started child process and the calls waiting for its answers."""

    def __init__(self, process: Any, on_state: Callable[[_Child, tuple | None], None]) -> None:
        self.process = process
        self.on_state = on_state
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.last_call = 0
        self.channel = _Channel(self._answer)
        self.channel.lost.add_done_callback(self._lost)
        self.started: asyncio.Future[Any] = self.channel.lost.get_loop().create_future()
        self.pending[0] = self.started  # the child answers call 0 once its log is open
        self.stopping = False

    @property
    def alive(self) -> bool:
        return self.channel.open

    def call(self, name: str, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if not self.channel.open:
            raise LedgerUnavailable("the ledger process stopped; the call was not sent")
        self.last_call += 1
        call = self.last_call
        future = self.started.get_loop().create_future()
        self.pending[call] = future
        try:
            self.channel.send((call, name, args))
        except Exception:
            del self.pending[call]
            raise
        return future

    def _answer(self, message: tuple[int, bool, Any, tuple]) -> None:
        call, ok, value, state = message
        self.on_state(self, state)
        future = self.pending.pop(call, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _lost(self, _: Any) -> None:
        try:
            code = self.process.exitcode
        except ValueError:  # already collected
            code = None
        how = f" (exit code {code})" if code is not None else ""
        pending, self.pending = self.pending, {}
        for call, future in pending.items():
            if future.done():
                continue
            if self.stopping:
                future.set_exception(LedgerClosed("the ledger is closed"))
            elif call == 0:
                future.set_exception(
                    LedgerUnavailable(f"the ledger process exited while opening the log{how}")
                )
            else:
                future.set_exception(
                    LedgerUnavailable(
                        f"the ledger process stopped{how} before confirming the call; "
                        "its outcome is unknown"
                    )
                )
        self.on_state(self, None)

    async def stop(self, timeout: float) -> None:
        """Ask the child to stop after its batches, wait for it, kill it if it does not go."""
        self.stopping = True
        if self.channel.open:
            with contextlib.suppress(Exception):
                self.channel.send((0, None, ()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.channel.lost), timeout)
        self.channel.close()
        await self.reap(timeout)

    async def reap(self, timeout: float) -> None:
        """Wait for the process to exit (killing it after ``timeout``) and collect it."""
        process = self.process
        if process.pid is None:
            return
        await asyncio.to_thread(process.join, timeout)
        if process.exitcode is None:
            log.warning("ledger process %s did not stop in %.0fs: killing it", process.pid, timeout)
            process.kill()
            await asyncio.to_thread(process.join)
        self.channel.close()
        with contextlib.suppress(AttributeError, ValueError):
            process.close()


@dataclass
class LedgerProcess:
    """A log served by a child process, with the surface of :class:`~ledger.log.Ledger` that
    the gateway uses. Use :func:`open_ledger_process`."""

    url: str
    signer: keys.Signer
    origin: str
    witnesses: list[keys.Verifier] = field(default_factory=list)
    hooks: list[HookSpec] = field(default_factory=list)
    restart_delay: float = RESTART_DELAY
    stop_timeout: float = STOP_TIMEOUT
    size: int = 0
    writable: bool = False
    last_error: str | None = None

    def __post_init__(self) -> None:
        self._engine: Engine | None = store.make_engine(self.url)
        self.secrets = SecretStore(self._engine)
        self._child: _Child | None = None
        self._starting: asyncio.Task[_Child] | None = None
        self._started_at = float("-inf")
        self._closing = False
        self._context = multiprocessing.get_context("spawn")

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the child and wait until its log is open; raises what opening raised."""
        await self._running(first=True)

    async def close(self) -> None:
        """Stop the child once it has answered every call that reached it; calls made from
        now on fail with :class:`~ledger.log.LedgerClosed`."""
        self._closing = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._starting)
        child, self._child = self._child, None
        if child is not None:
            await child.stop(self.stop_timeout)
        self.writable = False
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs (for operators, and tests that kill it)."""
        child = self._child
        return child.process.pid if child is not None and child.alive else None

    async def _running(self, first: bool = False) -> _Child:
        """The live child, starting one if there is none (at most once per restart delay)."""
        child = self._child
        if child is not None and child.alive:
            return child
        if self._closing:
            raise LedgerClosed("the ledger is closed")
        starting = self._starting
        if starting is None:
            if time.monotonic() - self._started_at < self.restart_delay:
                raise LedgerUnavailable(
                    self.last_error or "the ledger process is not running; retrying shortly"
                )
            self._started_at = time.monotonic()
            starting = self._starting = asyncio.get_running_loop().create_task(self._spawn())
            starting.add_done_callback(self._spawned)
        try:
            return await asyncio.shield(starting)
        except LedgerUnavailable:
            raise
        except Exception as exc:
            if first:
                raise
            raise LedgerUnavailable(f"the ledger process could not start: {exc}") from None

    def _spawned(self, task: asyncio.Task[_Child]) -> None:
        if self._starting is task:
            self._starting = None
        if not task.cancelled() and task.exception() is not None:
            self.writable = False
            self.last_error = f"the ledger process could not start: {task.exception()}"

    async def _spawn(self) -> _Child:
        old, self._child = self._child, None
        if old is not None:
            await old.reap(self.stop_timeout)
        config = _Config(
            self.url,
            self.signer.encode(),
            self.origin,
            tuple(w.encode() for w in self.witnesses),
            tuple(self.hooks),
        )
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=_serve, args=(theirs, config), name="accord-ledger", daemon=True
        )
        try:
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        child = _Child(process, self._state)
        try:
            loop = asyncio.get_running_loop()
            await loop.connect_accepted_socket(lambda: child.channel, sock=ours)
        except BaseException:
            ours.close()
            await child.reap(self.stop_timeout)
            raise
        try:
            await child.started
        except BaseException:
            await child.reap(self.stop_timeout)
            raise
        self._child = child
        log.info("ledger process %s serving %s", process.pid, store.normalize_url(self.url))
        return child

    def _state(self, child: _Child, state: tuple[int, bool, str | None] | None) -> None:
        if self._child is not None and child is not self._child:
            return  # a child already replaced
        if state is None:  # the child went away
            if self.writable and not self._closing:
                log.error("the ledger process stopped; appends fail until a new one starts")
            self.writable = False
            if not self._closing:
                self.last_error = "the ledger process stopped"
            return
        self.size, self.writable, self.last_error = state

    # -- calls ---------------------------------------------------------------------------

    async def call(self, name: str, *args: Any) -> Any:
        """Run ``ledger.<name>(*args)`` in the child (or read the attribute ``name``)."""
        child = self._child
        if child is None or not child.alive:
            child = await self._running()
        return await child.call(name, args)

    async def install(self, hook: HookSpec) -> None:
        """Add a commit hook to the log now and to every child started later."""
        await self.call(INSTALL, hook)
        if hook not in self.hooks:
            self.hooks.append(hook)

    async def append(self, entry: Entry) -> Receipt:
        """Record one entry; returns once it is durable."""
        return (await self.append_all([entry]))[0]

    async def append_all(self, entries: Iterable[Entry]) -> list[Receipt]:
        """Record entries atomically (same batch, consecutive indexes): all or none."""
        batch = list(entries)
        if not batch:
            return []
        for entry in batch:
            if not isinstance(entry, Entry):
                raise EntryError(f"expected an Entry, got {type(entry).__name__}")
        return await self.call("append_all", batch)

    async def entries(self, start: int, end: int | None = None) -> list[Entry]:
        return await self.call("entries", start, end)

    async def entry_bytes(self, start: int, end: int | None = None) -> list[bytes]:
        return await self.call("entry_bytes", start, end)

    async def checkpoint(self) -> str:
        return await self.call("checkpoint")

    async def checkpoint_at(self, size: int) -> str:
        return await self.call("checkpoint_at", size)

    async def root(self, tree_size: int | None = None) -> bytes:
        return await self.call("root", tree_size)

    async def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        return await self.call("inclusion_proof", index, tree_size)

    async def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return await self.call("consistency_proof", old, new)

    async def add_cosignature(self, note: str) -> int:
        return await self.call("add_cosignature", note)

    async def cosignatures(self, size: int) -> list[str]:
        return await self.call("cosignatures", size)

    async def settle(self) -> None:
        """Return once the child's deferred index work for what it committed is done (see
        :meth:`ledger.log.Ledger.settle`)."""
        await self.call("settle")

    async def healthy(self) -> bool:
        """True if the child's last batch committed and its store answers now; a readiness
        probe also starts a new child when the last one stopped."""
        if self._closing:
            return False
        try:
            return bool(await self.call("healthy"))
        except LedgerError:
            return False

    # -- subjects (in this process) ------------------------------------------------------

    async def pseudonym(self, subject_id: str) -> str:
        """The subject's pseudonym for ledger entries (its secret is created on first use)."""
        return await asyncio.to_thread(self.secrets.pseudonym, subject_id)

    async def erase_subject(self, subject_id: str) -> bool:
        """Crypto-shred a subject: forget its secret so no entry links back to it."""
        return await asyncio.to_thread(self.secrets.erase, subject_id)


@contextlib.asynccontextmanager
async def open_ledger_process(
    url: str,
    signer: keys.Signer,
    origin: str,
    hooks: Sequence[HookSpec] = (),
    witnesses: Sequence[keys.Verifier] = (),
    restart_delay: float = RESTART_DELAY,
) -> AsyncIterator[LedgerProcess]:
    """Start a child process that opens the log at ``url`` (as :func:`~ledger.log.open_ledger`
    does) with the commit hooks ``hooks``; the child is stopped on exit."""
    ledger = LedgerProcess(
        url,
        signer,
        origin,
        list(witnesses),
        list(hooks),
        restart_delay=restart_delay,
    )
    try:
        await ledger.start()
        yield ledger
    finally:
        await ledger.close()
