"""The demo owns its servers: none outlives it, however it ends."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.demo.harness import DemoRun, listening

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for child processes")


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_server_that_dies_stops_the_whole_demo(tmp_path: Path):
    with DemoRun(tmp_path / "accord") as demo:
        demo.wait_ready()
        victim = demo.ports["education"]
        servers = demo.servers()
        assert len(servers) == 6  # four agencies, the gateway, the witness
        # The education agency is the child listening on its port; kill it as an OOM would.
        pid = next(p for p in servers if f"education\0--port\0{victim}".encode() in _cmdline(p))
        os.kill(pid, signal.SIGKILL)
        assert demo.finish(timeout=60) == 1
        assert "education stopped unexpectedly" in demo.output
        assert demo.children() == []
        assert not any(listening(port) for port in demo.ports.values())


def test_killing_the_demo_takes_its_servers_along(tmp_path: Path):
    with DemoRun(tmp_path / "accord") as demo:
        demo.wait_ready()
        assert len(demo.servers()) == 6
        assert len(demo.children()) > 6  # the gateway's ledger process too
        demo.process.kill()  # SIGKILL: the demo gets no chance to clean up
        demo.process.wait()
        assert wait_until(lambda: demo.children() == [])
        assert wait_until(lambda: not any(listening(p) for p in demo.ports.values()))


def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path):
    with DemoRun(tmp_path / "accord") as demo:
        assert wait_until(lambda: len(demo.children()) >= 1, timeout=120)
        demo.process.send_signal(signal.SIGINT)
        assert demo.finish(timeout=60) == 130
        assert "demo ready" not in demo.output
        assert "interrupted while starting" in demo.output
        assert demo.children() == []
        assert not any(listening(port) for port in demo.ports.values())


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
