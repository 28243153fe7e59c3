"""Start, watch and stop the demo's servers: each one an ``accord`` child process.

Each agency and the gateway run as their own ``accord agency`` / ``accord serve`` process,
exactly the commands a deployment runs, so the demo exercises the same start-up, key loading
and shutdown paths. Children get their own session, so a Ctrl-C in the terminal reaches only
the demo, which then stops them in order; on Linux a child also receives SIGTERM if the demo
itself dies, so nothing is left behind even after a ``kill -9``. Each child's output goes to a
log file under the data directory, and its last line becomes the demo's one-line error when
it fails to start.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.demo.network import DemoError


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the demo was starting."""


@dataclass
class Service:
    """One server of the demo network and the ``accord`` arguments that run it."""

    name: str
    args: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last_words(self) -> str:
        """The most telling line of the child's output: its error, else its last line."""
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
        except OSError:
            return "no output"
        lines = [line for line in lines if line]
        for line in reversed(lines):
            if "error" in line.lower():
                return line.removeprefix("accord: error: ")
        return lines[-1] if lines else "no output"


def ports_in_use(ports: dict[str, int], host: str = "127.0.0.1") -> list[tuple[str, int]]:
    """The (service, port) pairs whose port cannot be bound on ``host`` right now."""
    taken = []
    for name, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    taken.append((name, port))
                else:
                    raise
    return taken


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when the demo process goes away."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    """The demo's children: started in order, watched, stopped in reverse order."""

    def __init__(self, global_args: Sequence[str], stop: threading.Event) -> None:
        self.global_args = list(global_args)
        self.stop = stop
        self.services: list[Service] = []

    def start(self, service: Service) -> None:
        service.log.parent.mkdir(parents=True, exist_ok=True)
        with open(service.log, "wb") as log:
            service.process = subprocess.Popen(
                [sys.executable, "-m", "app", *self.global_args, *service.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **service.env},
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.services.append(service)

    def wait_ready(
        self, service: Service, paths: Sequence[str], timeout: float, optional: Sequence[str] = ()
    ) -> None:
        """Wait until each of ``paths`` answers 2xx, then each of ``optional`` answers 2xx or
        404 (a server that lacks it)."""
        deadline = time.monotonic() + timeout
        pending = [(path, False) for path in paths] + [(path, True) for path in optional]
        said = ""
        while pending:
            if self.stop.is_set():
                raise Interrupted
            if service.process is not None and service.process.poll() is not None:
                raise DemoError(
                    f"{service.name} stopped while starting: {service.last_words()} "
                    f"(log: {service.log}; or start fresh with --reset)"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{service.name} did not become ready at {service.url}{pending[0][0]} within "
                    f"{timeout:.0f}s{f' (it said {said})' if said else ''}; see {service.log} "
                    "or raise --timeout"
                )
            path, missing_ok = pending[0]
            ready, said = _answers(service.url + path, missing_ok)
            if ready:
                pending.pop(0)
            else:
                self.stop.wait(0.1)

    def exited(self) -> Service | None:
        """A child that stopped on its own, if any."""
        for service in self.services:
            if service.process is not None and service.process.poll() is not None:
                return service
        return None

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every child (gateway first), wait, and SIGKILL what does not stop in time."""
        running = [s for s in reversed(self.services) if s.process and s.process.poll() is None]
        for service in running:
            service.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for service in running:
            process = service.process
            assert process is not None
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for service in self.services:
            if service.process is not None:
                service.process.wait()


def _answers(url: str, missing_ok: bool = False) -> tuple[bool, str]:
    """(ready, what a server that is not ready said: status and the start of its body)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300, ""
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return True, ""
        body = exc.read(300).decode("utf-8", "replace").replace("\n", " ").strip()
        return False, f"{exc.code} {body}".strip()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False, ""
