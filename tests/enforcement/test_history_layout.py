"""The history index's table layout: checked once when the index opens, an older layout
rebuilt from the log, a newer one refused, and a batch that cannot be indexed because of the
tables themselves makes the log say why it cannot record."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger import history, keys, store
from ledger.log import LedgerUnavailable, open_ledger
from tests.audit import world

pytestmark = pytest.mark.anyio

ORIGIN = "accord.example/ledger"


def _with_writer(url, function):
    engine = store.make_engine(url, writer=True)
    try:
        with engine.connect() as connection, connection.begin():
            return function(connection)
    finally:
        engine.dispose()


async def _record(url, signer, count: int) -> None:
    """Disclosures appended by a log without the history hook."""
    async with open_ledger(url, signer, ORIGIN) as ledger:
        for n in range(count):
            await ledger.append(world.disclosure(f"person-{n}", ts=world.T0 + n))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.db'}"


async def test_tables_of_an_older_layout_are_rebuilt_from_the_log(url):
    signer = keys.generate(ORIGIN)
    await _record(url, signer, 3)

    def old_layout(connection):
        # The first layout: no subject digest column, no layout table.
        connection.execute(
            text(
                "CREATE TABLE history_events (idx INTEGER PRIMARY KEY, type VARCHAR(32), "
                "ts BIGINT, subject VARCHAR(128), requester VARCHAR(255), "
                "provider VARCHAR(255), purpose VARCHAR(32))"
            )
        )
        connection.execute(text("CREATE TABLE history_head (id BIGINT PRIMARY KEY, size BIGINT)"))
        connection.execute(text("INSERT INTO history_head VALUES (1, 3)"))

    _with_writer(url, old_layout)
    index = history.HistoryIndex()
    _with_writer(url, index.sync)

    def read(connection):
        spec = history.HistoryFilter(subject="person-1")
        return history.layout_of(connection), [
            i.index for i in history.page(connection, spec).items
        ]

    layout, found = _with_writer(url, read)
    assert layout == history.LAYOUT
    assert len(found) == 1
    # Batches after the open are indexed without checking the tables again.
    async with open_ledger(url, signer, ORIGIN, [index.on_commit]) as ledger:
        receipt = await ledger.append(world.disclosure("person-9", ts=world.T0 + 9))
    snapshot = _with_writer(url, history.snapshot)
    assert receipt.index in {row[0] for row in snapshot["history_events"]}
    rebuilt = _with_writer(url, lambda c: (history.rebuild(c), history.snapshot(c))[1])
    assert rebuilt == snapshot


async def test_tables_of_a_newer_layout_are_refused_and_left_alone(url):
    signer = keys.generate(ORIGIN)
    await _record(url, signer, 2)
    _with_writer(url, history.HistoryIndex().sync)
    _with_writer(url, lambda c: c.execute(text("UPDATE history_layout SET version = 99")))
    before = _with_writer(url, history.snapshot)

    with pytest.raises(history.HistoryLayoutError, match="layout 99.*newer version"):
        _with_writer(url, history.HistoryIndex().sync)
    assert _with_writer(url, history.snapshot) == before

    # A log whose history hook meets those tables records nothing and says why.
    index = history.HistoryIndex()
    async with open_ledger(url, signer, ORIGIN, [index.on_commit]) as ledger:
        with pytest.raises(LedgerUnavailable, match="layout 99"):
            await ledger.append(world.disclosure("someone", ts=world.T0))
        assert not ledger.writable
        assert "layout 99" in ledger.last_error
        assert not await ledger.healthy()
        assert ledger.size == 2


async def test_tables_changed_behind_the_index_fail_the_batch_with_the_reason(url):
    signer = keys.generate(ORIGIN)
    index = history.HistoryIndex()
    async with open_ledger(url, signer, ORIGIN, [index.on_commit]) as ledger:
        _with_writer(url, index.sync)
        await ledger.append(world.disclosure("alice", ts=world.T0))
        _with_writer(url, lambda c: c.execute(text("DROP TABLE history_tags")))
        with pytest.raises(LedgerUnavailable, match="history index tables cannot be written"):
            await ledger.append(world.disclosure("bob", ts=world.T0))
        assert not ledger.writable
        assert "no such table" in ledger.last_error
        assert ledger.size == 1
