"""The history index: fed by the commit hook, equal to a rebuild, queried by index."""

from __future__ import annotations

import asyncio
import time

import pytest

from ledger import history, keys, store
from ledger.entries import EntryError
from ledger.history import HistoryError, HistoryFilter
from ledger.log import Deferred, LedgerUnavailable, open_ledger
from ledger.process import install_history_index
from tests.audit import world

ORIGIN = "accord.example/ledger"


def _read(url, function):
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            return function(connection)
    finally:
        engine.dispose()


async def _fill(ledger) -> dict[str, int]:
    """A small history across two people, four agencies and three days."""
    at = {}
    entries = [
        ("a1", world.disclosure("alice", ts=world.T0)),
        (
            "a2",
            world.disclosure(
                "alice",
                "human_services",
                "health",
                "CAREMGT",
                ("health.mental",),
                consents=("c-9",),
                policies=(),
                ts=world.T0 + world.DAY,
            ),
        ),
        ("b1", world.disclosure("bob", "courts", "education", "HLEGAL", ts=world.T0 + world.DAY)),
        ("d1", world.denial("alice", ts=world.T0 + 2 * world.DAY)),
        ("g1", world.break_glass("bob", ts=world.T0 + 2 * world.DAY)),
    ]
    for name, entry in entries:
        at[name] = (await ledger.append(entry)).index
    return at


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.anyio
async def test_hook_index_equals_rebuild_and_filters_use_it(url):
    index = history.HistoryIndex()
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, [index.on_commit]) as ledger:
        at = await _fill(ledger)
        review_at = (await ledger.append(world.review(at["g1"], "unjustified"))).index

    def check(connection):
        live = history.snapshot(connection)
        history.rebuild(connection)
        assert history.snapshot(connection) == live
        return live

    live = _read(url, check)
    assert len(live["history_events"]) == 5

    def query(**filters):
        spec = HistoryFilter(**filters)
        return _read(url, lambda c: [i.index for i in history.page(c, spec).items])

    assert query(subject="alice") == [at["d1"], at["a2"], at["a1"]]
    assert query(subject="alice", types=("disclosure",)) == [at["a2"], at["a1"]]
    assert query(requester="courts") == [at["d1"], at["b1"]]
    assert query(provider="health") == [at["d1"], at["a2"]]
    assert query(agency="human_services") == [at["g1"], at["a2"]]
    assert query(category="health.mental") == [at["d1"], at["a2"]]
    assert query(basis="c-9") == [at["a2"]]
    assert query(category="health.mental", basis="c-9") == [at["a2"]]
    assert query(category="health.mental", basis="treatment") == []
    assert query(category="health.mental", agency="human_services") == [at["a2"]]
    assert query(category="identity.basic", agency="courts") == [at["b1"]]
    assert query(basis="treatment", agency="courts", purpose="HLEGAL") == [at["b1"]]
    assert query(basis="treatment") == [at["b1"], at["a1"]]
    assert query(purpose="HLEGAL") == [at["d1"], at["b1"]]
    assert query(since=world.T0 + world.DAY, until=world.T0 + 2 * world.DAY) == [
        at["b1"],
        at["a2"],
    ]
    reviewed = _read(url, lambda c: history.page(c, HistoryFilter(types=("break_glass",))).items)
    assert [(i.index, i.review_index, i.review_outcome) for i in reviewed] == [
        (at["g1"], review_at, "unjustified")
    ]
    assert query(types=("break_glass",), reviewed=False) == []
    days = _read(url, lambda c: history.per_day(c, HistoryFilter(types=("disclosure",))))
    assert [(d - world.T0 // world.DAY * world.DAY) // world.DAY for d, _, _ in days] == [0, 1]
    assert [n for _, _, n in days] == [1, 2]


@pytest.mark.anyio
async def test_cursor_pages_cover_everything_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index = history.HistoryIndex()
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, [index.on_commit]) as ledger:
        receipts = await ledger.append_all(
            world.disclosure("carol", ts=world.T0 + i) for i in range(23)
        )
    expected = sorted((r.index for r in receipts), reverse=True)
    seen, before = [], None
    while True:
        result = _read(url, lambda c, b=before: history.page(c, HistoryFilter(), b, limit=5))
        seen += [item.index for item in result.items]
        if result.next_before is None:
            break
        before = result.next_before
    assert seen == expected
    with pytest.raises(HistoryError, match="page size"):
        _read(url, lambda c: history.page(c, HistoryFilter(), None, limit=0))
    with pytest.raises(HistoryError, match="cursor"):
        _read(url, lambda c: history.page(c, HistoryFilter(), -1))
    with pytest.raises(HistoryError, match="time range is empty"):
        _read(url, lambda c: history.page(c, HistoryFilter(since=5, until=5)))


@pytest.mark.anyio
async def test_review_of_anything_but_an_unreviewed_emergency_access_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index = history.HistoryIndex()
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, [index.on_commit]) as ledger:
        at = await _fill(ledger)
        size = ledger.size
        with pytest.raises(EntryError, match="not an emergency"):
            await ledger.append(world.review(at["a1"]))
        with pytest.raises(EntryError, match="not an emergency"):
            await ledger.append(world.review(10_000))
        assert ledger.size == size
        await ledger.append(world.review(at["g1"]))
        with pytest.raises(EntryError, match="already reviewed"):
            await ledger.append(world.review(at["g1"], "unjustified"))
        assert ledger.size == size + 1


@pytest.mark.anyio
async def test_index_catches_up_with_entries_appended_without_the_hook(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    signer = keys.generate(ORIGIN)
    async with open_ledger(url, signer, ORIGIN) as ledger:
        await _fill(ledger)
    index = history.HistoryIndex()
    async with open_ledger(url, signer, ORIGIN, [index.on_commit]) as ledger:
        await ledger.append(world.disclosure("dave"))
    rows = _read(url, lambda c: history.count(c, HistoryFilter()))
    assert rows == 6
    live = _read(url, history.snapshot)
    assert _read(url, lambda c: (history.rebuild(c), history.snapshot(c))[1]) == live


@pytest.mark.anyio
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"subject": "alice"},
        {"requester": "courts"},
        {"provider": "health"},
        {"agency": "health"},
        {"category": "health.mental"},
        {"basis": "c-9"},
        {"category": "health.mental", "basis": "c-9", "agency": "health"},
        {"purpose": "COC", "subject": "alice"},
    ],
)
async def test_pages_walk_indexes_never_whole_tables(tmp_path, filters):
    """SQLite's plan for every filter searches an index from the cursor; none scans a table."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index = history.HistoryIndex()
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, [index.on_commit]) as ledger:
        await _fill(ledger)

    def plan(connection):
        from sqlalchemy.dialects import sqlite

        statement = history.page_query(HistoryFilter(**filters), before=4, limit=20)
        sql = str(
            statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
        )
        return [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]

    steps = _read(url, plan)
    scans = [s for s in steps if s.startswith("SCAN") and not s.startswith("SCAN anon_")]
    assert scans == [], steps
    assert any(s.startswith("SEARCH") for s in steps)


@pytest.mark.anyio
async def test_a_first_batch_rolled_back_by_another_hook_leaves_no_gap(tmp_path):
    """The tables created in a batch that does not commit are created again, and nothing the
    log commits is missing from the index."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index = history.HistoryIndex()
    hooks = [index.on_commit, _refusing_batch(1)]
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN, hooks) as ledger:
        with pytest.raises(LedgerUnavailable):
            await ledger.append(world.disclosure("erin"))
        receipt = await ledger.append(world.disclosure("erin"))
        again = await ledger.append(world.disclosure("erin"))
    found = _read(url, lambda c: [i.index for i in history.page(c, HistoryFilter()).items])
    assert found == [again.index, receipt.index]
    assert _read(url, history.snapshot) == _rebuilt(url)


def _refusing_batch(number: int):
    """A commit hook of another index that fails the ``number``-th batch it sees."""
    calls = {"n": 0}

    def hook(connection, committed):
        calls["n"] += 1
        if calls["n"] == number:
            raise RuntimeError("the other index is not ready")

    return hook


def _rebuilt(url):
    return _read(url, lambda c: (history.rebuild(c), history.snapshot(c))[1])


# -- the deferred way: indexed while the writer is idle --------------------------------------


@pytest.mark.anyio
async def test_settle_returns_only_once_the_deferred_work_is_done(tmp_path):
    done: list[int] = []

    def slow(connection):
        time.sleep(0.2)  # on the writer's thread: settle must wait it out
        done.append(1)

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN) as ledger:
        ledger.deferred.append(Deferred(lambda: not done, slow))
        await ledger.settle()
        assert done == [1]
        await ledger.settle()  # nothing pending: returns at once, runs nothing again
        assert done == [1]


@pytest.mark.anyio
async def test_deferred_index_catches_up_on_settle_and_equals_a_rebuild(url):
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN) as ledger:
        index = install_history_index(ledger)
        # Appended together, so several batches are noted before the writer is idle.
        receipts = await asyncio.gather(
            *(ledger.append(world.disclosure(f"p{n}", ts=world.T0 + n)) for n in range(40))
        )
        await ledger.settle()
        assert not index.pending()
        assert _read(url, history.indexed_size) == ledger.size
        found = _read(url, lambda c: history.count(c, HistoryFilter()))
        assert found == 40
        at = await _fill(ledger)
        # The emergency access was only noted when its review arrived: the review's batch
        # indexes what waits first, so the review finds it, and a second one is refused.
        await ledger.append(world.review(at["g1"], "justified"))
        with pytest.raises(EntryError, match="already reviewed"):
            await ledger.append(world.review(at["g1"], "unjustified"))
        with pytest.raises(EntryError, match="not an emergency"):
            await ledger.append(world.review(receipts[0].index, "justified"))
        await ledger.settle()
        live = _read(url, history.snapshot)
    assert _rebuilt(url) == live
    reviewed = _read(url, lambda c: history.page(c, HistoryFilter(reviewed=True)).items)
    assert [i.index for i in reviewed] == [at["g1"]]


@pytest.mark.anyio
async def test_a_batch_that_fails_is_never_noted(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN) as ledger:
        install_history_index(ledger)
        ledger.on_commit.append(_refusing_batch(2))
        first = await ledger.append(world.disclosure("erin"))
        with pytest.raises(LedgerUnavailable):
            await ledger.append(world.disclosure("frank"))
        third = await ledger.append(world.disclosure("gail"))
        await ledger.settle()
    found = _read(url, lambda c: [i.index for i in history.page(c, HistoryFilter()).items])
    assert found == [third.index, first.index] == [1, 0]
    assert _read(url, history.snapshot) == _rebuilt(url)


@pytest.mark.anyio
async def test_replicas_on_one_store_leave_one_complete_index(url):
    """Two logs appending to one store, each indexing its own batches when idle: whichever
    flushes first indexes the other's entries before its own from the log, and the other
    skips what is already there."""
    signer = keys.generate(ORIGIN)
    async with (
        open_ledger(url, signer, ORIGIN) as one,
        open_ledger(url, signer, ORIGIN) as two,
    ):
        first, second = install_history_index(one), install_history_index(two)
        for n in range(12):
            writer = one if n % 3 else two
            await writer.append(world.disclosure(f"p{n}", ts=world.T0 + n))
        await asyncio.gather(two.settle(), one.settle())
        await one.append(world.disclosure("last", ts=world.T0 + 99))
        await one.settle()
        assert not first.pending() and not second.pending()
    live = _read(url, history.snapshot)
    assert len(live["history_events"]) == 13
    assert _read(url, history.indexed_size) == 13
    assert _rebuilt(url) == live


@pytest.mark.anyio
async def test_noted_entries_lost_in_a_crash_are_indexed_when_the_log_opens(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    signer = keys.generate(ORIGIN)
    async with open_ledger(url, signer, ORIGIN) as ledger:
        install_history_index(ledger)
        await ledger.append(world.disclosure("alice"))
        await ledger.settle()
        # Noted, then the process dies before the writer is idle again: nothing flushes them.
        ledger.deferred.clear()
        await ledger.append(world.disclosure("bob"))
        await ledger.append(world.disclosure("carol"))
    assert _read(url, history.indexed_size) == 1
    _write(url, history.HistoryIndex().sync)  # what opening the log does
    assert _read(url, history.indexed_size) == 3
    assert _read(url, history.snapshot) == _rebuilt(url)


@pytest.mark.anyio
async def test_a_failing_flush_fails_settle_and_the_next_batch_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with open_ledger(url, keys.generate(ORIGIN), ORIGIN) as ledger:
        index = install_history_index(ledger)
        await ledger.append(world.disclosure("alice"))
        await ledger.settle()
        _write(url, "DROP TABLE history_tags")
        kept = await ledger.append(world.disclosure("bob"))  # durable: only its index waits
        with pytest.raises(LedgerUnavailable, match="could not catch up.*history_tags"):
            await ledger.settle()
        assert ledger.size == kept.index + 1
        with pytest.raises(LedgerUnavailable, match="history index tables cannot be written"):
            await ledger.append(world.disclosure("carol"))
        assert ledger.size == kept.index + 1
        # With the tables gone altogether, the next batch rebuilds them from the log.
        for table in ("history_events", "history_head", "history_layout"):
            _write(url, f"DROP TABLE {table}")
        await ledger.append(world.disclosure("dave"))
        await ledger.settle()
        assert not index.pending()
    assert _read(url, lambda c: history.count(c, HistoryFilter())) == 3
    assert _read(url, history.snapshot) == _rebuilt(url)


def _write(url, change) -> None:
    """Run ``change`` (an SQL statement, or a function of the connection) in a write
    transaction of its own on the store."""
    engine = store.make_engine(url, writer=True)
    try:
        with engine.connect() as connection, connection.begin():
            if isinstance(change, str):
                connection.exec_driver_sql(change)
            else:
                change(connection)
    finally:
        engine.dispose()
