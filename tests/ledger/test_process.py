"""The log served by a child process: durability, group commit, refusals, hooks, failure and
shutdown, against real stores and real child processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger import checkpoint as notes
from ledger import history, keys, merkle, registry, store
from ledger.entries import Entry, EntryError, operator_entry
from ledger.log import LedgerError, LedgerUnavailable, open_ledger
from ledger.process import (
    HookSpec,
    LedgerProcess,
    consent_registry,
    history_index,
    install,
    open_ledger_process,
)
from ledger.registry import StateError
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import admission, consent, disclosure
from tests.support import ROOT

pytestmark = pytest.mark.anyio


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has stopped running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def read(url: str, function: Callable) -> object:
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection:
            return function(connection)
    finally:
        engine.dispose()


async def test_a_receipt_means_the_entry_is_durable(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger_process(ledger_url, log_signer, ORIGIN) as ledger:
        pid = ledger.pid
        assert pid is not None and pid != os.getpid()
        receipts = await ledger.append_all([disclosure(n) for n in range(3)])
        receipt = await ledger.append(disclosure(3))
        assert [r.index for r in receipts] + [receipt.index] == [0, 1, 2, 3]
        assert ledger.size == 4 and ledger.writable and ledger.last_error is None
        os.kill(pid, signal.SIGKILL)  # no chance to flush anything after the receipt
        assert await eventually(lambda: not running(pid))

    async with open_ledger(ledger_url, log_signer, ORIGIN) as reopened:
        assert reopened.size == 4
        assert await reopened.entries(3, 4) == [disclosure(3)]
        assert await reopened.checkpoint_at(4) == receipt.checkpoint
        checkpoint = notes.open_checkpoint(receipt.checkpoint, log_signer.verifier, ORIGIN)
        proof = await reopened.inclusion_proof(3, 4)
        merkle.verify_inclusion(3, 4, receipt.leaf_hash, proof, checkpoint.root)


async def test_reads_and_proofs_come_from_the_child(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger_process(ledger_url, log_signer, ORIGIN) as ledger:
        receipts = await ledger.append_all([disclosure(n) for n in range(10)])
        latest = notes.open_checkpoint(await ledger.checkpoint(), log_signer.verifier, ORIGIN)
        assert latest.size == 10 and await ledger.root() == latest.root
        assert await ledger.entries(2, 4) == [disclosure(2), disclosure(3)]
        assert await ledger.entry_bytes(5, 6) == [disclosure(5).encode()]
        proof = await ledger.inclusion_proof(7)
        merkle.verify_inclusion(7, 10, receipts[7].leaf_hash, proof, latest.root)
        first = notes.open_checkpoint(receipts[2].checkpoint, log_signer.verifier)
        proof = await ledger.consistency_proof(first.size)
        merkle.verify_consistency(first.size, 10, first.root, latest.root, proof)
        assert await ledger.cosignatures(10) == []
        assert await ledger.healthy()
        # Errors keep their type and message across the process boundary.
        with pytest.raises(LedgerError, match=r"bad entry range \[5, 2\)"):
            await ledger.entries(5, 2)
        with pytest.raises(notes.CheckpointError):
            await ledger.add_cosignature(await ledger.checkpoint())
        with pytest.raises(LedgerError, match="not something the ledger process answers"):
            await ledger.call("close")


async def test_concurrent_appends_share_group_commits(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger_process(ledger_url, log_signer, ORIGIN) as ledger:
        before = await ledger.call("batches")
        receipts = await asyncio.gather(*(ledger.append(disclosure(n)) for n in range(200)))
        assert sorted(r.index for r in receipts) == list(range(200))
        batches = await ledger.call("batches") - before
        assert 1 <= batches < 200
        assert ledger.size == 200


async def test_a_batch_is_answered_before_the_child_turns_to_idle_time_work(
    sqlite_url: str, log_signer: keys.Signer, tmp_path: Path
) -> None:
    """The child commits on its event loop's thread; the receipts of a batch leave before the
    loop blocks again for the work hooks leave for idle moments (here, work that waits until
    the test has its receipt: were the receipt held behind it, the work would time out)."""
    gate, outcome = tmp_path / "gate", tmp_path / "outcome"
    hook = HookSpec("tests.ledger.gated_hook:install", (str(gate), str(outcome)))
    async with open_ledger_process(sqlite_url, log_signer, ORIGIN, [hook]) as ledger:
        receipt = await ledger.append(disclosure(1))
        gate.touch()
        await ledger.settle()
    assert receipt.index == 0
    assert outcome.read_text().split() == ["opened", "1"]


async def test_a_refused_entry_raises_its_error_and_changes_nothing(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    health = keys.generate("health")
    hooks = [consent_registry(2), history_index()]
    async with open_ledger_process(sqlite_url, log_signer, ORIGIN, hooks) as ledger:
        await ledger.append(admission("health", health))
        size, batches = ledger.size, await ledger.call("batches")
        checkpoint = await ledger.checkpoint()

        malformed = Entry(1, "disclosure", 0, "operator", {"request_id": "r"})
        with pytest.raises(EntryError, match="disclosure"):
            await ledger.append(malformed)
        with pytest.raises(EntryError, match="expected an Entry"):
            await ledger.append_all([disclosure(1), "not an entry"])  # type: ignore[list-item]
        # Refused by the registry's hook in the child (the consent artefact does not verify):
        # the subclass crosses over, and the disclosure sent with it is not recorded either.
        with pytest.raises(StateError):
            await ledger.append_all([disclosure(2), consent("health", health)])
        # Refused by the history index's hook: no such emergency access to review.
        review = operator_entry(
            "break_glass.reviewed",
            {"entry": 0, "reviewer": "auditor", "outcome": "justified", "note": "checked"},
        )
        with pytest.raises(EntryError, match="not an emergency"):
            await ledger.append(review)

        assert ledger.size == size and ledger.writable
        assert await ledger.checkpoint() == checkpoint
        assert len(await ledger.entries(0)) == size
        # A refusal is not a failure of the log: the next append is recorded.
        assert (await ledger.append(disclosure(3))).index == size
        assert await ledger.call("batches") > batches


async def test_hooks_run_in_the_child_and_are_reinstalled_after_a_restart(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    health = keys.generate("health")
    async with open_ledger_process(
        sqlite_url, log_signer, ORIGIN, [consent_registry(2)], restart_delay=0
    ) as ledger:
        await install(ledger, history_index())  # added while the child runs
        await ledger.append(admission("health", health))
        await ledger.append(disclosure(1))
        await ledger.settle()  # the history index is written while the writer is idle
        assert read(sqlite_url, registry.indexed_size) == 2
        assert read(sqlite_url, lambda c: c.execute(select(registry.members_table.c.member)).all())
        assert read(sqlite_url, history.indexed_size) == 2
        assert [r.idx for r in read(sqlite_url, _events)] == [1]

        first = ledger.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert await eventually(lambda: not ledger.writable)
        receipt = await ledger.append(disclosure(2))  # a new child, with both hooks
        assert ledger.pid not in (None, first)
        assert receipt.index == 2
        await ledger.settle()
        assert read(sqlite_url, registry.indexed_size) == 3
        assert read(sqlite_url, history.indexed_size) == 3
        assert [r.idx for r in read(sqlite_url, _events)] == [1, 2]


def _events(connection):
    return connection.execute(select(history.events_table).order_by("idx")).all()


async def test_a_dead_child_fails_its_calls_and_the_next_call_starts_another(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger_process(sqlite_url, log_signer, ORIGIN, restart_delay=0) as ledger:
        await ledger.append(disclosure(0))
        pid = ledger.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the append below stays pending
        try:
            pending = asyncio.ensure_future(ledger.append(disclosure(1)))
            await asyncio.sleep(0.05)
            assert not pending.done()
        finally:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(LedgerUnavailable, match="ledger process stopped"):
            await pending
        assert not ledger.writable
        assert ledger.last_error == "the ledger process stopped"

        receipt = await ledger.append(disclosure(2))
        assert receipt.index == 1 and ledger.writable
        assert ledger.pid not in (None, pid) and not running(pid)
        assert await ledger.healthy()


async def test_restarts_wait_for_the_restart_delay_then_a_health_check_starts_one(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger_process(sqlite_url, log_signer, ORIGIN, restart_delay=3600) as ledger:
        await ledger.append(disclosure(0))
        pid = ledger.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert await eventually(lambda: not ledger.writable)
        # Within the delay every append fails at once, and readiness says not ready.
        with pytest.raises(LedgerUnavailable, match="ledger process stopped"):
            await ledger.append(disclosure(1))
        assert not await ledger.healthy()
        assert ledger.pid is None

        ledger.restart_delay = 0
        assert await ledger.healthy()  # the probe started a new child
        assert ledger.pid not in (None, pid)
        assert (await ledger.append(disclosure(2))).index == 1


async def test_the_child_ignores_ctrl_c(sqlite_url: str, log_signer: keys.Signer) -> None:
    async with open_ledger_process(sqlite_url, log_signer, ORIGIN) as ledger:
        pid = ledger.pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        for n in range(3):  # each round trip runs the child's Python code, signal handlers too
            await ledger.append(disclosure(n))
        assert ledger.pid == pid and running(pid) and ledger.writable


async def test_closing_finishes_the_calls_in_flight_and_leaves_no_child(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    ledger = LedgerProcess(sqlite_url, log_signer, ORIGIN)
    await ledger.start()
    pid = ledger.pid
    assert pid is not None and running(pid)
    calls = [asyncio.ensure_future(ledger.append(disclosure(n))) for n in range(50)]
    await asyncio.sleep(0)  # every append is on its way before the stop
    await ledger.close()
    receipts = await asyncio.gather(*calls)
    assert sorted(r.index for r in receipts) == list(range(50))
    assert not running(pid) and ledger.pid is None and not ledger.writable
    with pytest.raises(LedgerUnavailable, match="closed"):
        await ledger.append(disclosure(99))
    assert not await ledger.healthy()
    assert read(sqlite_url, store.head_size) == 50


async def test_a_failed_start_raises_what_opening_raised(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        await ledger.append(disclosure(0))
    other = keys.generate(ORIGIN)  # not the key that signed the store's checkpoints
    with pytest.raises(store.StoreError, match="not this log's"):
        async with open_ledger_process(sqlite_url, other, ORIGIN):
            pass


PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from ledger import keys
    from ledger.process import open_ledger_process

    async def main():
        signer = keys.generate("accord.test/ledger")
        async with open_ledger_process(sys.argv[1], signer, "accord.test/ledger") as ledger:
            print(ledger.pid, flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_the_child_exits_when_its_parent_dies(sqlite_url: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, sqlite_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert running(child)
        parent.kill()  # SIGKILL: the parent cannot stop its child
        parent.wait(30)
        deadline = time.monotonic() + 30
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        if parent.stdout is not None:
            parent.stdout.close()
        if child is not None and running(child):
            os.kill(child, signal.SIGKILL)
