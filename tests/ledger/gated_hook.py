"""A commit hook the ledger's child process installs by name in tests: it leaves idle-time
work that waits for a gate file the test creates, and writes down whether the gate opened."""

from __future__ import annotations

import time
from pathlib import Path

from ledger.log import Deferred, Ledger

GATE_TIMEOUT = 20.0


def install(ledger: Ledger, gate: str, outcome: str) -> None:
    noted: list[int] = []

    def note(connection, committed):
        return lambda: noted.extend(c.index for c in committed)

    def wait_for_gate(connection) -> None:
        deadline = time.monotonic() + GATE_TIMEOUT
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(outcome, "a") as out:
            out.write(f"{'opened' if Path(gate).exists() else 'timed out'} {len(noted)}\n")
        noted.clear()

    ledger.on_commit.append(note)
    ledger.deferred.append(Deferred(lambda: bool(noted), wait_for_gate))
