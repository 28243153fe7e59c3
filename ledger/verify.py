"""Full verification of a stored log: every entry, signature, tile, checkpoint and cosignature.

Verification trusts nothing in the database except what the log key (and witness keys) sign.
It re-reads every entry in order, re-checks its canonical form, shape and author signature,
recomputes its leaf hash and every stored subtree hash, and recomputes the root at every
checkpoint size. The first discrepancy is reported by entry index or checkpoint size, so an
edited, deleted, reordered or inserted row, a truncated log, a replaced checkpoint and a forged
signature are all named precisely.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from ledger import checkpoint as notes
from ledger import keys, merkle, store
from ledger.entries import EntryError, decode_entry
from ledger.log import TreeState
from ledger.members import MemberKeys


class VerificationError(Exception):
    """The log does not verify; ``index`` or ``checkpoint`` names the first bad item."""

    def __init__(self, message: str, index: int | None = None, checkpoint: int | None = None):
        super().__init__(message)
        self.index = index
        self.checkpoint = checkpoint


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    root: bytes = merkle.EMPTY_ROOT
    seconds: float = 0.0
    members: dict[str, bytes] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


def verify_connection(
    connection: Connection,
    log_key: keys.Verifier,
    origin: str | None = None,
    witnesses: Sequence[keys.Verifier] = (),
    trusted: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Verify the store behind ``connection``; raise :class:`VerificationError` at the first fault.

    ``trusted`` are checkpoint notes obtained elsewhere (from a witness, an earlier receipt):
    the log must contain each of them, which catches a log rolled back wholesale.
    """
    started = time.perf_counter()
    store.check_schema(connection)
    head = store.head_size(connection)

    # Checkpoints are streamed alongside the entries (there is one per committed batch, so
    # there may be nearly as many as entries).
    checkpoints = _checkpoints(connection, log_key, origin)
    upcoming = next(checkpoints, None)
    if upcoming is None:
        raise VerificationError("the store holds no checkpoint", checkpoint=0)
    seen, last = 0, -1
    if upcoming[0] == 0:
        if upcoming[1] != merkle.EMPTY_ROOT:
            raise VerificationError(
                "checkpoint at size 0 does not carry the empty root", checkpoint=0
            )
        seen, last = 1, 0
        upcoming = next(checkpoints, None)

    state = TreeState(0, merkle.Frontier(), [], MemberKeys(), "")
    stored_tile: dict[tuple[int, int], store.TileData] = {}

    def tile(key: tuple[int, int]) -> store.TileData:
        if key not in stored_tile:
            stored_tile.clear()
            stored_tile.update(store.read_tile_rows(connection, [key]))
        return stored_tile.get(key, (b"", None))

    expected = 0
    dirty: dict[tuple[int, int], object] = {}
    for index, data in store.iter_entry_rows(connection):
        if index != expected:
            raise VerificationError(f"entry {expected} is missing", index=expected)
        try:
            entry = decode_entry(data)
            state.members.check(entry)
            state.members.apply(entry)
        except (EntryError, keys.KeyFormatError) as exc:
            raise VerificationError(f"entry {index}: {exc}", index=index) from None
        leaf = merkle.leaf_hash(data)
        level0 = tile((0, index >> store.TILE_HEIGHT))[0]
        offset = (index & (store.TILE_WIDTH - 1)) * merkle.HASH_SIZE
        if level0[offset : offset + merkle.HASH_SIZE] != leaf:
            raise VerificationError(
                f"entry {index}: its leaf hash does not match the stored tree (edited, moved or "
                "inserted row)",
                index=index,
            )
        state.append(leaf, dirty)
        for key, value in dirty.items():
            if isinstance(value, tuple):  # a tile just completed: check it whole
                _check_tile(connection, key, value, tile(key) if key[0] == 0 else None)
        dirty.clear()
        expected = index + 1
        if upcoming is not None and upcoming[0] == expected:
            if state.frontier.root() != upcoming[1]:
                raise VerificationError(
                    f"checkpoint at size {expected} does not match entries 0..{expected - 1}",
                    checkpoint=expected,
                )
            seen, last = seen + 1, expected
            upcoming = next(checkpoints, None)
        if progress is not None and expected % 100_000 == 0:
            progress(expected)

    count = expected
    if upcoming is not None:
        for upcoming in checkpoints:  # noqa: B007 - find the largest for the message
            pass
        raise VerificationError(
            f"log truncated: checkpoint at size {upcoming[0]} but only {count} entries are stored",
            index=count,
        )
    if last < count:
        raise VerificationError(
            f"entry {last} and later are not covered by any checkpoint (inserted rows?)",
            index=last,
        )
    if head != count:
        raise VerificationError(f"head says {head} entries but {count} are stored", index=count)
    for level, edge in enumerate(state.edges):
        if level > 0 and edge:
            key = (level, (count >> (store.TILE_HEIGHT * level)) >> store.TILE_HEIGHT)
            _check_tile(connection, key, (b"".join(edge), None))
    recorded = {m: bytes(k) for m, k in connection.execute(select(store.member_keys_table))}
    if recorded != state.members.current:
        raise VerificationError("member key index does not match the member entries")

    report = Report(count, seen, root=state.frontier.root())
    report.members = dict(state.members.current)
    for note in trusted:
        _check_trusted(connection, note, log_key, origin)
    report.cosignatures = _check_cosignatures(connection, witnesses)
    report.seconds = time.perf_counter() - started
    return report


def verify_store(url: str, log_key: keys.Verifier, **options: object) -> Report:
    """Open ``url`` read-only and verify it (see :func:`verify_connection`)."""
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            return verify_connection(connection, log_key, **options)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _check_tile(
    connection: Connection,
    key: tuple[int, int],
    computed: store.TileData,
    stored: store.TileData | None = None,
) -> None:
    if stored is None:
        stored = store.read_tile_rows(connection, [key]).get(key, (b"", None))
    if stored != computed:
        level, index = key
        first = index << (store.TILE_HEIGHT * (level + 1))
        raise VerificationError(
            f"stored subtree hashes (tile {level}/{index}) do not match entries from {first}",
            index=first,
        )


def _checkpoints(
    connection: Connection, log_key: keys.Verifier, origin: str | None
) -> Iterator[tuple[int, bytes]]:
    """Stored checkpoints in size order, each checked against the log key: (size, root)."""
    table = store.checkpoints_table
    position = -1
    while True:
        rows = connection.execute(
            select(table.c.size, table.c.note)
            .where(table.c.size > position)
            .order_by(table.c.size)
            .limit(2000)
        ).all()
        if not rows:
            return
        for size, note in rows:
            yield size, _open(size, note, log_key, origin).root
        position = rows[-1][0]


def _open(size: int, note: str, log_key: keys.Verifier, origin: str | None) -> notes.Checkpoint:
    try:
        cp = notes.open_checkpoint(note, log_key, origin)
    except notes.CheckpointError as exc:
        raise VerificationError(f"checkpoint at size {size}: {exc}", checkpoint=size) from None
    if cp.size != size:
        raise VerificationError(
            f"checkpoint stored at size {size} is the log's checkpoint for size {cp.size}",
            checkpoint=size,
        )
    return cp


def _stored_note(connection: Connection, size: int) -> str | None:
    table = store.checkpoints_table
    return connection.execute(select(table.c.note).where(table.c.size == size)).scalar_one_or_none()


def _check_trusted(
    connection: Connection, note: str, log_key: keys.Verifier, origin: str | None
) -> None:
    try:
        cp = notes.open_checkpoint(note, log_key, origin)
    except notes.CheckpointError as exc:
        raise VerificationError(f"trusted checkpoint: {exc}") from None
    stored = _stored_note(connection, cp.size)
    if stored is None:
        raise VerificationError(
            f"trusted checkpoint at size {cp.size} is not in this log (rolled back?)",
            checkpoint=cp.size,
        )
    if _open(cp.size, stored, log_key, origin).root != cp.root:
        raise VerificationError(
            f"trusted checkpoint at size {cp.size} has a different root (split view)",
            checkpoint=cp.size,
        )


def _check_cosignatures(connection: Connection, witnesses: Sequence[keys.Verifier]) -> int:
    by_name = {w.name: w for w in witnesses}
    count = 0
    for size, witness, line in connection.execute(
        select(
            store.cosignatures_table.c.size,
            store.cosignatures_table.c.witness,
            store.cosignatures_table.c.line,
        )
    ).all():
        key = by_name.get(witness)
        if key is None:
            continue
        note = _stored_note(connection, size)
        try:
            if note is None:
                raise notes.CheckpointError("no checkpoint of that size")
            body = notes.split_note(note)[0]
            _, signatures = notes.split_note(body + "\n" + line)
            notes.verify_cosignature(body, signatures[0], key)
        except notes.CheckpointError as exc:
            raise VerificationError(
                f"cosignature by {witness} on checkpoint {size}: {exc}", checkpoint=size
            ) from None
        count += 1
    return count
