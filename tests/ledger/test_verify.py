"""Full verification names the first entry or checkpoint that does not match."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, delete, func, insert, select, update

from ledger import checkpoint as notes
from ledger import keys, merkle, store
from ledger.entries import decode_entry, sign_entry
from ledger.log import TreeState, open_ledger
from ledger.members import MemberKeys
from ledger.verify import VerificationError, verify_store
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import admission, consent, denial, disclosure

SIZE = 600
SIGNED_AT = 3  # index of a consent.granted entry signed by the member "health"


async def _fill(url: str, signer: keys.Signer) -> None:
    health = keys.generate("health")
    async with open_ledger(url, signer, ORIGIN) as ledger:
        await ledger.append_all([disclosure(0), admission("health", health), denial(2)])
        await ledger.append(consent("health", health, 3))
        number = 4
        while number < SIZE:
            count = min(97, SIZE - number)
            await asyncio.gather(*(ledger.append(disclosure(number + n)) for n in range(count)))
            number += count


@pytest.fixture
def filled(ledger_url: str, log_signer: keys.Signer) -> str:
    asyncio.run(_fill(ledger_url, log_signer))
    return ledger_url


def _tamper(url: str, change: Callable[[Connection], None]) -> None:
    engine = store.make_engine(url)
    with engine.begin() as connection:
        change(connection)
    engine.dispose()


def _data(connection: Connection, index: int) -> bytes:
    table = store.entries_table
    return bytes(connection.execute(select(table.c.data).where(table.c.idx == index)).scalar_one())


def _set_data(connection: Connection, index: int, data: bytes) -> None:
    table = store.entries_table
    connection.execute(update(table).where(table.c.idx == index).values(data=data))


def _checkpoint_sizes(connection: Connection) -> list[int]:
    table = store.checkpoints_table
    return list(connection.execute(select(table.c.size).order_by(table.c.size)).scalars())


def test_an_untouched_log_verifies(filled: str, log_signer: keys.Signer) -> None:
    report = verify_store(filled, log_signer.verifier, origin=ORIGIN)
    assert report.entries == SIZE
    assert report.checkpoints > 5
    assert report.members.keys() == {"health"}


def _expect(url: str, signer: keys.Signer, match: str, **where: int) -> None:
    with pytest.raises(VerificationError, match=match) as caught:
        verify_store(url, signer.verifier, origin=ORIGIN)
    for name, value in where.items():
        assert getattr(caught.value, name) == value, str(caught.value)


def test_an_edited_row_is_named(filled: str, log_signer: keys.Signer) -> None:
    def edit(connection: Connection) -> None:
        _set_data(connection, 5, _data(connection, 5).replace(b"req-5", b"req-6"))

    _tamper(filled, edit)
    _expect(filled, log_signer, "entry 5: its leaf hash does not match", index=5)


def test_a_row_edited_into_a_malformed_entry_is_named(filled: str, log_signer: keys.Signer) -> None:
    def edit(connection: Connection) -> None:
        _set_data(connection, 7, _data(connection, 7).replace(b'"v":1', b'"v": 1'))

    _tamper(filled, edit)
    _expect(filled, log_signer, "entry 7: entry is not canonical JSON", index=7)


def test_a_deleted_row_is_named(filled: str, log_signer: keys.Signer) -> None:
    _tamper(
        filled,
        lambda c: c.execute(delete(store.entries_table).where(store.entries_table.c.idx == 10)),
    )
    _expect(filled, log_signer, "entry 10 is missing", index=10)


def test_two_swapped_rows_are_named(filled: str, log_signer: keys.Signer) -> None:
    def swap(connection: Connection) -> None:
        first, second = _data(connection, 20), _data(connection, 30)
        _set_data(connection, 20, second)
        _set_data(connection, 30, first)

    _tamper(filled, swap)
    _expect(filled, log_signer, "entry 20: its leaf hash does not match", index=20)


def test_an_inserted_row_is_named(filled: str, log_signer: keys.Signer) -> None:
    def insert_at_40(connection: Connection) -> None:
        table = store.entries_table
        for index in range(SIZE - 1, 39, -1):  # shift later rows up by one, top first
            connection.execute(update(table).where(table.c.idx == index).values(idx=index + 1))
        row = {"idx": 40, "type": "disclosure", "data": disclosure(12345).encode()}
        connection.execute(insert(table), row)

    _tamper(filled, insert_at_40)
    _expect(filled, log_signer, "entry 40: its leaf hash does not match", index=40)


def test_a_row_appended_behind_the_log_is_named(filled: str, log_signer: keys.Signer) -> None:
    row = {"idx": SIZE, "type": "disclosure", "data": disclosure(12345).encode()}
    _tamper(filled, lambda c: c.execute(insert(store.entries_table), row))
    _expect(filled, log_signer, f"entry {SIZE}: its leaf hash does not match", index=SIZE)


def test_a_truncated_log_is_named(filled: str, log_signer: keys.Signer) -> None:
    table = store.entries_table
    _tamper(filled, lambda c: c.execute(delete(table).where(table.c.idx >= SIZE - 5)))
    _expect(filled, log_signer, f"log truncated: checkpoint at size {SIZE}", index=SIZE - 5)


def test_a_log_truncated_with_its_checkpoints_fails_against_a_trusted_checkpoint(
    filled: str, log_signer: keys.Signer
) -> None:
    """Whoever held a receipt's checkpoint can tell that the log was rolled back wholesale."""
    engine = store.make_engine(filled)
    with engine.connect() as connection:
        latest = connection.execute(
            select(store.checkpoints_table.c.note).where(store.checkpoints_table.c.size == SIZE)
        ).scalar_one()
    engine.dispose()

    def roll_back(connection: Connection) -> None:
        sizes = _checkpoint_sizes(connection)
        keep = sizes[-3]
        connection.execute(delete(store.entries_table).where(store.entries_table.c.idx >= keep))
        connection.execute(
            delete(store.checkpoints_table).where(store.checkpoints_table.c.size > keep)
        )
        # A thorough forger rebuilds the stored subtree hashes for the shorter log.
        connection.execute(delete(store.tiles_table))
        state = TreeState(0, merkle.Frontier(), [], MemberKeys(), "")
        dirty: dict[tuple[int, int], object] = {}
        for _, data in store.iter_entry_rows(connection):
            state.append(merkle.leaf_hash(data), dirty)
        store.upsert_tiles(connection, store.tile_rows(dirty))
        connection.execute(update(store.head_table).values(size=keep))

    _tamper(filled, roll_back)
    verify_store(filled, log_signer.verifier)  # consistent in itself...
    with pytest.raises(VerificationError, match=f"trusted checkpoint at size {SIZE}"):
        verify_store(filled, log_signer.verifier, trusted=[latest])


def test_a_replaced_checkpoint_is_named(filled: str, log_signer: keys.Signer) -> None:
    impostor = keys.generate(ORIGIN)

    def replace(connection: Connection) -> None:
        size = _checkpoint_sizes(connection)[4]
        table = store.checkpoints_table
        note = connection.execute(select(table.c.note).where(table.c.size == size)).scalar_one()
        body, _ = notes.split_note(note)
        forged = body + "\n" + notes.sign(body, impostor).line()
        connection.execute(update(table).where(table.c.size == size).values(note=forged))

    _tamper(filled, replace)
    engine = store.make_engine(filled)
    with engine.connect() as connection:
        size = _checkpoint_sizes(connection)[4]
    engine.dispose()
    _expect(
        filled,
        log_signer,
        f"checkpoint at size {size}: checkpoint is not signed by the log key",
        checkpoint=size,
    )


def test_a_checkpoint_moved_to_another_size_is_named(filled: str, log_signer: keys.Signer) -> None:
    def move(connection: Connection) -> None:
        table = store.checkpoints_table
        sizes = _checkpoint_sizes(connection)
        note = connection.execute(select(table.c.note).where(table.c.size == sizes[2])).scalar_one()
        connection.execute(update(table).where(table.c.size == sizes[3]).values(note=note))

    _tamper(filled, move)
    _expect(filled, log_signer, "is the log's checkpoint for size")


def test_a_forged_signature_is_named(filled: str, log_signer: keys.Signer) -> None:
    def forge(connection: Connection) -> None:
        entry = decode_entry(_data(connection, SIGNED_AT))
        assert entry.type == "consent.granted"
        forged = sign_entry(entry, keys.generate("health"))
        _set_data(connection, SIGNED_AT, forged.encode())

    _tamper(filled, forge)
    _expect(filled, log_signer, f"entry {SIGNED_AT}: consent.granted by health: signature", index=3)


def test_a_wrong_log_key_is_refused(filled: str) -> None:
    with pytest.raises(VerificationError, match="not signed by the log key"):
        verify_store(filled, keys.generate(ORIGIN).verifier)


def test_tampered_stored_subtree_hashes_are_named(filled: str, log_signer: keys.Signer) -> None:
    def corrupt(connection: Connection) -> None:
        table = store.tiles_table
        data = connection.execute(
            select(table.c.hashes).where((table.c.level == 0) & (table.c.idx == 1))
        ).scalar_one()
        changed = bytes(data[:32]) + bytes(32) + bytes(data[64:])
        connection.execute(
            update(table).where((table.c.level == 0) & (table.c.idx == 1)).values(hashes=changed)
        )

    _tamper(filled, corrupt)
    _expect(filled, log_signer, "entry 257: its leaf hash does not match", index=257)


def test_counts_agree(filled: str) -> None:
    engine = store.make_engine(filled)
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(store.entries_table)).scalar()
            == SIZE
        )
    engine.dispose()


def test_tampered_inner_subtree_hashes_are_named(filled: str, log_signer: keys.Signer) -> None:
    def corrupt(connection: Connection) -> None:
        table = store.tiles_table
        where = (table.c.level == 0) & (table.c.idx == 0)
        inner = bytes(connection.execute(select(table.c.inner).where(where)).scalar_one())
        connection.execute(update(table).where(where).values(inner=bytes(32) + inner[32:]))

    _tamper(filled, corrupt)
    _expect(filled, log_signer, "tile 0/0", index=0)
