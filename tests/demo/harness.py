"""Run ``accord demo`` as a user would, and look at what it leaves behind.

A :class:`DemoRun` is the demo as a child process on free ports with its own data directory;
it collects the demo's output as it comes, finds the tokens it printed, and knows which
processes belong to it: each run puts a unique marker in the demo's environment, and the
demo's servers inherit it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from examples.agencies.registry import AGENCY_NAMES
from tests.support import ROOT, accord_process, free_port

README = ROOT / "README.md"
MARKER = "ACCORD_DEMO_TEST_RUN"
READY = re.compile(r"accord: demo ready at (http://\S+/graphql)")
START_TIMEOUT = 180.0


def free_ports() -> dict[str, int]:
    """A distinct free port for the gateway and each agency."""
    ports: dict[str, int] = {}
    while len(set(ports.values())) < 1 + len(AGENCY_NAMES):
        ports = {"gateway": free_port(), **{name: free_port() for name in AGENCY_NAMES}}
    return ports


def port_args(ports: dict[str, int]) -> list[str]:
    args = ["--port", str(ports["gateway"])]
    for name in AGENCY_NAMES:
        args += ["--agency-port", f"{name}={ports[name]}"]
    return args


def listening(port: int) -> bool:
    """True if something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_marked(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``marker`` (a ``NAME=value``)."""
    wanted = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if wanted in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def readme_query() -> str:
    """The first query as the README shows it, between its two marker comments."""
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- first-query -->\s*```graphql\n(.*?)```\s*<!-- /first-query -->", text, re.S
    )
    assert match, "README.md has no first-query block"
    return match.group(1)


def readme_answer() -> dict[str, Any]:
    """The answer to the first query as the README shows it."""
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- first-answer -->\s*```json\n(.*?)```\s*<!-- /first-answer -->", text, re.S
    )
    assert match, "README.md has no first-answer block"
    return json.loads(match.group(1))


class DemoRun:
    """``accord demo`` on free ports with ``data_dir``; use as a context manager."""

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        ports: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
        global_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.ports = ports or free_ports()
        self.marker = f"{MARKER}={uuid.uuid4().hex}"
        self.process = accord_process(
            [*global_args, "demo", *port_args(self.ports), *extra],
            env={
                "ACCORD_DATA_DIR": str(data_dir),
                MARKER: self.marker.split("=", 1)[1],
                **(env or {}),
            },
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """The gateway URL the demo printed once ready; fails if the demo exits first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    match = READY.search(line)
                    if match:
                        return match.group(1)
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"demo exited with {self.process.returncode}:\n{self.output}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"demo not ready after {timeout}s:\n{self.output}")
                self._changed.wait(min(remaining, 1.0))

    def token(self, key: str) -> str:
        """The token the demo printed under ``[key]`` (on the line after the label)."""
        lines = self.output.splitlines()
        for index, line in enumerate(lines):
            if line.strip().endswith(f"[{key}]"):
                return lines[index + 1].strip()
        raise AssertionError(f"no token {key!r} in the demo's output")

    def children(self) -> list[int]:
        """Live processes this run started (the demo's servers), not the demo itself."""
        return [pid for pid in processes_marked(self.marker) if pid != self.process.pid]

    def servers(self) -> list[int]:
        """The demo's own servers (its direct children); the gateway's ledger process and
        other helpers of a server are not counted here, but are among :meth:`children`."""
        return [pid for pid in self.children() if _parent_of(pid) == self.process.pid]

    def leftovers(self) -> list[int]:
        """Every live process of this run, the demo included."""
        return processes_marked(self.marker)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(10)
        return code

    def kill(self) -> None:
        """Last resort for a test that failed half-way: nothing may outlive the test."""
        for pid in [self.process.pid, *self.children()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for a demo that stops by itself (bad input)."""
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code

    def __enter__(self) -> DemoRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None or self.children():
            self.kill()


def post(url: str, query: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST a GraphQL query; returns (status, JSON body)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps({"query": query}).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def banner_value(output: str, pattern: str) -> str:
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in the demo's output:\n{output}"
    return match.group(1)
