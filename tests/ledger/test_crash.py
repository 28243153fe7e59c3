"""Crash safety: a writer killed with SIGKILL mid-load loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import keys, merkle
from ledger.log import open_ledger
from ledger.verify import verify_store
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import disclosure
from tests.support import ROOT

RECEIPTS_BEFORE_KILL = 3000


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_entry(
    ledger_url: str, log_signer: keys.Signer, tmp_path: Path
) -> None:
    keys.save(log_signer, tmp_path, "log")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_child", ledger_url, str(tmp_path / "log.key")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    receipts: dict[int, str] = {}
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", (
            child.stderr.read() if child.stderr else ""
        )
        while len(receipts) < RECEIPTS_BEFORE_KILL:
            line = child.stdout.readline()
            assert line, f"child exited early: {child.stderr.read() if child.stderr else ''}"
            index, leaf = line.split()
            receipts[int(index)] = leaf
        os.kill(child.pid, signal.SIGKILL)  # mid-load: hundreds of appends are in flight
        child.wait(timeout=30)
        for line in child.stdout.read().splitlines():  # receipts printed before the kill
            parts = line.split()
            if len(parts) == 2 and len(parts[1]) == 64:
                receipts[int(parts[0])] = parts[1]
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL

    report = verify_store(ledger_url, log_signer.verifier, origin=ORIGIN)
    assert report.entries >= max(receipts) + 1

    async def reopen_and_check() -> None:
        async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
            stored = await ledger.entry_bytes(0)
            for index, leaf in receipts.items():
                assert merkle.leaf_hash(stored[index]).hex() == leaf, f"entry {index} changed"
            size = ledger.size
            receipt = await ledger.append(disclosure(-1))
            assert receipt.index == size

    asyncio.run(reopen_and_check())
    assert verify_store(ledger_url, log_signer.verifier).entries == report.entries + 1
