"""A partner agency's ledger peer: follow the log over HTTP, keep a verified copy, cosign.

The peer trusts nothing the log serves except what the log key signs, and cosigns a checkpoint
(C2SP ``tlog-cosignature``) only after it has

1. checked the log's signature on the checkpoint (and its origin);
2. checked that it extends the last checkpoint this peer cosigned (a consistency proof from
   the log) and the peer's own copy (a consistency proof from the log against the copy's root);
3. fetched every new entry, checked its canonical encoding and shape, hashed it into the copy's
   tree and shown, before storing anything, that the entries lead to the checkpoint's root;
4. appended the entries to its own copy through the ledger's own append path (which re-checks
   member signatures exactly as the log's writer and verifier do), recomputed the root from
   that copy, and checked the consistency proof from the last cosigned checkpoint against the
   copy as well.

The last cosigned checkpoint is written to disk before the cosignature is released, so a peer
never cosigns two checkpoints that contradict each other, even across restarts. When the log
misbehaves (a forged or replaced checkpoint, rewritten or rolled-back history, entries that do
not hash to the signed root), the peer refuses, keeps both signed checkpoints as evidence in
its state directory, and cosigns nothing until the log serves something consistent again.

The local copy is an ordinary ledger store: ``accord ledger verify`` and the read path work on
it. Its own checkpoints are signed by a local key (``copy.key``) since the peer never holds the
log's private key; the log's signed checkpoints it checked are kept as notes beside it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.exc import SQLAlchemyError

from ledger import checkpoint as notes
from ledger import keys, merkle, store, view
from ledger.entries import Entry, EntryError, decode_entry
from ledger.log import Ledger, LedgerError, open_ledger

COSIGNED_NOTE = "cosigned.note"
LOCK_FILE = "peer.lock"
EVIDENCE_DIR = "evidence"
PAGE = 1000  # the read path's limit per entries request
VERIFY_EVERY = 5000  # entries fetched between two checks against the signed root


class PeerError(Exception):
    """The peer cannot do its job right now (log unreachable, bad configuration, local store)."""


class Refusal(Exception):
    """The log served something a peer must not cosign; ``evidence`` is where the proof is."""

    def __init__(self, reason: str, evidence: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


@dataclass(frozen=True)
class PeerConfig:
    log_url: str
    origin: str
    log_key: keys.Verifier
    witness: keys.Signer
    store_url: str
    state_dir: Path  # cosigned.note, copy.key and evidence/
    # Other peers' published cosigned checkpoints (http(s) URLs or files), compared with this
    # peer's own after every round: how a split view between peers is caught.
    compare_with: tuple[str, ...] = ()

    def copy_signer(self) -> keys.Signer:
        """The key that signs the local copy's own checkpoints (created on first use)."""
        try:
            return keys.load_or_create(self.state_dir, "copy", self.origin)
        except keys.KeyFormatError as exc:
            raise PeerError(f"local copy key: {exc}") from None


@dataclass(frozen=True)
class Outcome:
    """What one round did."""

    size: int
    fetched: int
    cosigned: bool
    accepted: int  # cosignatures the log reported taking (0 if nothing was sent)
    note: str  # the log's checkpoint as served


# -- the log over HTTP ---------------------------------------------------------------------


class LogClient:
    """The log's plain HTTP read path; every answer is treated as untrusted."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def _get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            response = await self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach the log at {url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise PeerError(f"GET {url}: HTTP {response.status_code} {_error_text(response)}")
        return response

    async def checkpoint(self) -> str:
        return (await self._get("/ledger/checkpoint")).text

    async def entries(self, start: int, end: int) -> list[bytes]:
        body = (await self._get("/ledger/entries", {"start": start, "end": end})).content
        if not body:
            return []
        return body.split(b"\n")[:-1] if body.endswith(b"\n") else body.split(b"\n")

    async def consistency(self, old: int, new: int) -> list[bytes]:
        """The log's consistency proof; a malformed one raises :class:`merkle.ProofError`."""
        response = await self._get("/ledger/proof/consistency", {"from": old, "to": new})
        try:
            hashes = response.json()["hashes"]
            return [base64.b64decode(h, validate=True) for h in hashes]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise merkle.ProofError("the log's consistency proof is malformed") from None

    async def cosign(self, note: str) -> int:
        url = f"{self.base_url}/ledger/cosign"
        try:
            response = await self.client.post(url, content=note.encode())
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach the log at {url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise PeerError(
                f"the log did not take the cosignature: HTTP {response.status_code} "
                f"{_error_text(response)}"
            )
        try:
            return int(response.json()["accepted"])
        except (ValueError, KeyError, TypeError):
            return 0


def _error_text(response: httpx.Response) -> str:
    try:
        value = response.json()
    except ValueError:
        return response.text[:200]
    return str(value.get("error", "") if isinstance(value, dict) else value)[:200]


# -- the local copy ------------------------------------------------------------------------


@dataclass
class Copy:
    """The peer's own store and the right edge of its tree (to check entries before storing)."""

    ledger: Ledger
    frontier: merkle.Frontier

    @property
    def size(self) -> int:
        return self.frontier.size


@contextlib.asynccontextmanager
async def open_copy(config: PeerConfig) -> AsyncIterator[Copy]:
    """Open (creating if needed) the peer's copy of the log, as the only peer on its state
    directory: a second one would append from a stale tree edge and store entries twice."""
    with _exclusive(config.state_dir):
        try:
            async with open_ledger(config.store_url, config.copy_signer(), config.origin) as ledger:
                frontier = await asyncio.to_thread(_frontier, config.store_url, ledger.size)
                yield Copy(ledger, frontier)
        except (store.StoreError, SQLAlchemyError) as exc:
            raise PeerError(f"local copy at {config.store_url}: {exc}") from None


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_FILE
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PeerError(f"another peer is running on {state_dir} (it holds {path})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _frontier(url: str, size: int) -> merkle.Frontier:
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            return view.prove(connection, size, lambda r: merkle.Frontier.from_reader(r, size))
    finally:
        engine.dispose()


# -- state and evidence --------------------------------------------------------------------


def read_cosigned(state_dir: Path) -> str | None:
    """The last checkpoint this peer cosigned (the log's note plus this peer's line)."""
    path = state_dir / COSIGNED_NOTE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PeerError(f"cannot read {path}: {exc}") from None


def write_cosigned(state_dir: Path, note: str) -> None:
    """Replace the cosigned note atomically and durably (before the cosignature is released)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / COSIGNED_NOTE
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(note)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a crash
    finally:
        os.close(directory)


def keep_evidence(state_dir: Path, reason: str, offered: str, trusted: str | None) -> Path:
    """Store the offending checkpoint beside the last one cosigned; one directory per offence,
    however often a running peer is shown it."""
    digest = hashlib.sha256(offered.encode()).hexdigest()[:16]
    root = state_dir / EVIDENCE_DIR
    existing = sorted(root.glob(f"*-{digest}"))
    if existing:
        return existing[0]
    directory = root / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{digest}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "offered.note").write_text(offered, encoding="utf-8")
    if trusted is not None:
        (directory / "trusted.note").write_text(trusted, encoding="utf-8")
    (directory / "reason.txt").write_text(reason + "\n", encoding="utf-8")
    return directory


# -- one round -----------------------------------------------------------------------------


async def follow_once(config: PeerConfig, client: LogClient, copy: Copy) -> Outcome:
    """Fetch, verify, copy and cosign the log's latest checkpoint (see the module docstring).

    Raises :class:`Refusal` (with evidence kept) when the log misbehaves, :class:`PeerError`
    when the round cannot be completed for an ordinary reason.
    """
    offered = await client.checkpoint()
    trusted_note = read_cosigned(config.state_dir)

    def refuse(reason: str) -> Refusal:
        return Refusal(reason, keep_evidence(config.state_dir, reason, offered, trusted_note))

    trusted = None
    if trusted_note is not None:
        try:
            trusted = notes.open_checkpoint(trusted_note, config.log_key, config.origin)
        except notes.CheckpointError as exc:
            raise PeerError(f"{config.state_dir / COSIGNED_NOTE} is not the log's: {exc}") from None
    try:
        checkpoint = notes.open_checkpoint(offered, config.log_key, config.origin)
        body, signatures = notes.split_note(offered)
    except notes.CheckpointError as exc:
        raise refuse(f"checkpoint refused: {exc}") from None

    if trusted is not None:
        await _check_successor(client, trusted, checkpoint, refuse)
    await _check_extends_copy(client, copy, checkpoint, refuse)
    fetched = await _copy_entries(client, copy, checkpoint, refuse)

    root = await copy.ledger.root(checkpoint.size)
    if root != checkpoint.root:
        raise refuse(
            f"root mismatch at size {checkpoint.size}: this peer's copy gives {_b64(root)}, "
            f"the checkpoint says {_b64(checkpoint.root)}"
        )
    if trusted is not None:
        own = await copy.ledger.consistency_proof(trusted.size, checkpoint.size)
        try:
            notes.verify_successor(trusted, checkpoint, own)
        except notes.CheckpointError as exc:
            raise refuse(f"inconsistent with this peer's own copy: {exc}") from None

    mine = (config.witness.name, config.witness.key_id)
    if trusted_note is not None and notes.split_note(trusted_note)[0] == body:
        # Already cosigned: hand the saved cosignature back if the log does not show it (a
        # restart after a failed POST), but never sign the same checkpoint twice.
        if any((s.name, s.key_id) == mine for s in signatures):
            return Outcome(checkpoint.size, fetched, False, 0, offered)
        accepted = await client.cosign(trusted_note)
        return Outcome(checkpoint.size, fetched, True, accepted, offered)

    log_lines = "".join(
        s.line()
        for s in signatures
        if (s.name, s.key_id) == (config.log_key.name, config.log_key.key_id)
    )
    line = notes.cosign(body, config.witness, _timestamp(config, trusted_note)).line()
    cosigned = body + "\n" + log_lines + line
    write_cosigned(config.state_dir, cosigned)
    accepted = await client.cosign(cosigned)
    return Outcome(checkpoint.size, fetched, True, accepted, offered)


def _timestamp(config: PeerConfig, trusted_note: str | None) -> int:
    """Now, but never before this peer's previous cosignature (a clock stepped back)."""
    now = int(time.time())
    if trusted_note is None:
        return now
    body, signatures = notes.split_note(trusted_note)
    for signature in signatures:
        if (signature.name, signature.key_id) == (config.witness.name, config.witness.key_id):
            with contextlib.suppress(notes.CheckpointError):
                now = max(now, notes.verify_cosignature(body, signature, config.witness.verifier))
    return now


async def _check_successor(
    client: LogClient,
    trusted: notes.Checkpoint,
    checkpoint: notes.Checkpoint,
    refuse: Callable[[str], Refusal],
) -> None:
    if checkpoint.size < trusted.size:
        raise refuse(
            f"log rolled back: checkpoint size {checkpoint.size} is smaller than the "
            f"{trusted.size} this peer cosigned"
        )
    if checkpoint.size == trusted.size:
        if checkpoint.root != trusted.root:
            raise refuse(
                f"split view: the log signed two different roots for size {checkpoint.size}"
            )
        return
    try:
        proof = await client.consistency(trusted.size, checkpoint.size)
        notes.verify_successor(trusted, checkpoint, proof)
    except (notes.CheckpointError, merkle.ProofError) as exc:
        raise refuse(f"inconsistent checkpoint (log's proof): {exc}") from None


async def _check_extends_copy(
    client: LogClient, copy: Copy, checkpoint: notes.Checkpoint, refuse: Callable[[str], Refusal]
) -> None:
    size, root = copy.size, copy.frontier.root()
    if checkpoint.size < size:
        raise refuse(
            f"log rolled back: checkpoint size {checkpoint.size} is smaller than this peer's "
            f"copy of {size} entries"
        )
    if size == 0:
        return
    if checkpoint.size == size:
        if checkpoint.root != root:
            raise refuse(
                f"rewritten history: the checkpoint's root for size {size} differs from this "
                "peer's copy"
            )
        return
    try:
        proof = await client.consistency(size, checkpoint.size)
        merkle.verify_consistency(size, checkpoint.size, root, checkpoint.root, proof)
    except merkle.ProofError as exc:
        raise refuse(
            f"rewritten history: checkpoint at size {checkpoint.size} does not extend this "
            f"peer's copy of {size} entries: {exc}"
        ) from None


async def _copy_entries(
    client: LogClient, copy: Copy, checkpoint: notes.Checkpoint, refuse: Callable[[str], Refusal]
) -> int:
    """Fetch entries up to the checkpoint; store each run only once it is proven to lead to the
    signed root, so the copy never holds an entry the log did not commit to."""
    target = checkpoint.size
    frontier = copy.frontier.copy()
    pending: list[Entry] = []
    first = position = copy.size
    fetched = 0
    while position < target:
        end = min(position + PAGE, target)
        lines = await client.entries(position, end)
        if len(lines) != end - position:
            raise refuse(f"the log served {len(lines)} entries for [{position}, {end})")
        for offset, data in enumerate(lines):
            try:
                entry = decode_entry(data)
                if entry.encode() != data:
                    raise EntryError("entry is not in canonical form")
            except (EntryError, ValueError) as exc:
                raise refuse(f"entry {position + offset}: {exc}") from None
            frontier.append(merkle.leaf_hash(data))
            pending.append(entry)
        position = end
        fetched += len(lines)
        if len(pending) < VERIFY_EVERY and position < target:
            continue
        root = frontier.root()
        if position < target:
            try:
                proof = await client.consistency(position, target)
                merkle.verify_consistency(position, target, root, checkpoint.root, proof)
            except merkle.ProofError as exc:
                raise refuse(
                    f"root mismatch: entries {first}..{position - 1} as served do not lead to "
                    f"the checkpoint at size {target}: {exc}"
                ) from None
        elif root != checkpoint.root:
            raise refuse(
                f"root mismatch: entries 0..{target - 1} as served hash to {_b64(root)}, "
                f"the checkpoint says {_b64(checkpoint.root)}"
            )
        try:
            await copy.ledger.append_all(pending)
        except EntryError as exc:
            raise refuse(f"entries {first}..{position - 1}: {exc}") from None
        except LedgerError as exc:
            raise PeerError(f"cannot store entries in the local copy: {exc}") from None
        copy.frontier = frontier.copy()
        pending = []
        first = position
    return fetched


# -- the loop ------------------------------------------------------------------------------


async def run(
    config: PeerConfig,
    interval: float,
    once: bool,
    say: Callable[[str], None],
    rounds: int | None = None,
) -> int:
    """Follow the log: exit status 0 when a ``once`` round succeeded, 3 on a refusal, 1 on an
    error. Without ``once`` the peer keeps going (and keeps refusing) until cancelled."""
    count = 0
    async with (
        open_copy(config) as copy,
        httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http,
    ):
        client = LogClient(config.log_url, http)
        while True:
            status = await _round(config, client, copy, say)
            count += 1
            if once or (rounds is not None and count >= rounds):
                return status
            await asyncio.sleep(interval)


async def _round(
    config: PeerConfig, client: LogClient, copy: Copy, say: Callable[[str], None]
) -> int:
    try:
        outcome = await follow_once(config, client, copy)
    except Refusal as refusal:
        say(f"refused: {refusal.reason} (evidence: {refusal.evidence})")
        return 3
    except PeerError as exc:
        say(f"error: {exc}")
        return 1
    action = f"cosigned (log took {outcome.accepted})" if outcome.cosigned else "already cosigned"
    say(f"size {outcome.size}: {outcome.fetched} new entries verified and copied; {action}")
    status = 0
    for source in config.compare_with:
        status = max(status, await _compare_with(config, client, copy, source, say))
    return status


async def _compare_with(
    config: PeerConfig, client: LogClient, copy: Copy, source: str, say: Callable[[str], None]
) -> int:
    """Compare this peer's cosigned checkpoint with another peer's: 3 and evidence on a
    conflict, 1 when the other note cannot be had or is not the log's."""
    own = read_cosigned(config.state_dir)
    if own is None:
        return 0
    try:
        other = await _fetch_note(client.client, source)
    except (OSError, UnicodeDecodeError, httpx.HTTPError, PeerError) as exc:
        say(f"error: cannot read the checkpoint at {source}: {exc}")
        return 1

    async def proof(old: int, new: int) -> list[bytes]:
        if new <= copy.size:  # this peer's own copy proves it, whatever the log says
            return await copy.ledger.consistency_proof(old, new)
        return await client.consistency(old, new)

    try:
        result = await compare(own, other, config.log_key, config.origin, proof)
    except (notes.CheckpointError, merkle.ProofError, PeerError) as exc:
        say(f"error: checkpoint at {source}: {exc}")
        return 1
    if result.consistent:
        return 0
    message = f"{result.message} (this peer's cosigned checkpoint against {source})"
    evidence = keep_evidence(config.state_dir, message, other, own)
    say(f"refused: {message} (evidence: {evidence})")
    return 3


async def _fetch_note(http: httpx.AsyncClient, source: str) -> str:
    if source.startswith(("http://", "https://")):
        response = await http.get(source)
        if response.status_code != 200:
            raise PeerError(f"HTTP {response.status_code}")
        return response.text
    return await asyncio.to_thread(Path(source).read_text, encoding="utf-8")


# -- comparing checkpoints (split view) ----------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    consistent: bool
    message: str
    a: notes.Checkpoint
    b: notes.Checkpoint
    cosigners_a: tuple[str, ...]
    cosigners_b: tuple[str, ...]


def cosigners(note: str, witnesses: Sequence[keys.Verifier]) -> tuple[str, ...]:
    """Names of the known witnesses whose cosignature on ``note`` verifies."""
    body, signatures = notes.split_note(note)
    by_key = {(w.name, w.key_id): w for w in witnesses}
    names = []
    for signature in signatures:
        witness = by_key.get((signature.name, signature.key_id))
        if witness is None:
            continue
        with contextlib.suppress(notes.CheckpointError):
            notes.verify_cosignature(body, signature, witness)
            names.append(witness.name)
    return tuple(names)


async def compare(
    note_a: str,
    note_b: str,
    log_key: keys.Verifier,
    origin: str | None,
    proof: Callable[[int, int], Awaitable[list[bytes]]] | None,
    witnesses: Sequence[keys.Verifier] = (),
) -> Comparison:
    """Are two signed checkpoints of the same log consistent? ``proof(old, new)`` returns a
    consistency proof (from the log, or from a peer's own copy).

    Both notes must carry the log's signature: two validly signed checkpoints that cannot be
    reconciled are the log's own proof that it showed different histories (a split view).
    """
    a = notes.open_checkpoint(note_a, log_key, origin)
    b = notes.open_checkpoint(note_b, log_key, origin)
    if a.origin != b.origin:
        raise notes.CheckpointError(f"different origins: {a.origin!r} and {b.origin!r}")
    who_a, who_b = cosigners(note_a, witnesses), cosigners(note_b, witnesses)

    def result(consistent: bool, message: str) -> Comparison:
        return Comparison(consistent, message, a, b, who_a, who_b)

    old, new = (a, b) if a.size <= b.size else (b, a)
    if old.size == new.size:
        if old.root == new.root:
            return result(True, f"consistent: the same checkpoint at size {old.size}")
        return result(
            False,
            f"split view: the log signed two different roots for size {old.size} "
            f"({_b64(a.root)} and {_b64(b.root)})",
        )
    if proof is None:
        raise PeerError("checkpoints of different sizes need a consistency proof (pass --log)")
    hashes = await proof(old.size, new.size)
    try:
        merkle.verify_consistency(old.size, new.size, old.root, new.root, hashes)
    except merkle.ProofError as exc:
        return result(
            False,
            f"split view: checkpoint at size {old.size} is not a prefix of the one at size "
            f"{new.size} ({exc})",
        )
    return result(
        True, f"consistent: size {old.size} is a prefix of size {new.size} ({len(hashes)} hashes)"
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
