"""Bad input to ``accord demo``: one line that says what to do, a non-zero exit, nothing left.

"Nothing left" is checked three ways: no process of the run is alive, none of the demo's
ports accepts connections, and where the check comes before any state is written, the data
directory was never created.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.demo.harness import DemoRun, free_ports, listening

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for child processes")


def refused(demo: DemoRun, code: int = 1, started: bool = False) -> str:
    """The demo's error line, after checking it exited with ``code`` and left nothing.

    Refused before it started anything, the error is its only output; refused later
    (``started``), it is the last line and the only error, after the progress lines."""
    assert demo.finish() == code, demo.output
    lines = demo.output.strip().splitlines()
    if not started:
        assert len(lines) == 1, demo.output
    errors = [line for line in lines if "error" in line]
    assert errors == [lines[-1]], demo.output
    assert lines[-1].startswith("accord: error: ")
    assert all(line.startswith("accord: ") for line in lines), demo.output
    assert demo.leftovers() == []
    assert not any(listening(port) for port in demo.ports.values())
    return lines[-1]


@pytest.mark.parametrize("service", ["gateway", "human_services"])
def test_port_in_use(tmp_path: Path, service: str):
    ports = free_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[service]))
        holder.listen()
        with DemoRun(tmp_path / "accord", ports=ports) as demo:
            assert demo.finish() == 1
            line = demo.output.strip()
            assert line.count("\n") == 0, demo.output
            assert f"{ports[service]} ({service})" in line and "already in use" in line
            assert "--port" in line and "--agency-port" in line
            assert demo.leftovers() == []
            others = [port for name, port in ports.items() if name != service]
            assert not any(listening(port) for port in others)
    assert not (tmp_path / "accord").exists()


def test_same_port_twice(tmp_path: Path):
    ports = free_ports()
    ports["courts"] = ports["health"]
    with DemoRun(tmp_path / "accord", ports=ports) as demo:
        line = refused(demo)
    assert "health and courts both use port" in line
    assert not (tmp_path / "accord").exists()


def test_unwritable_data_directory(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with DemoRun(blocker / "accord") as demo:
        line = refused(demo)
    assert f"data directory {blocker / 'accord'} is not writable" in line
    assert "ACCORD_DATA_DIR" in line
    assert blocker.read_text() == "not a directory"


def test_missing_configuration_file(tmp_path: Path):
    missing = tmp_path / "nowhere.toml"
    with DemoRun(tmp_path / "accord", global_args=("--config", str(missing))) as demo:
        line = refused(demo, code=2)
    assert f"configuration file {missing} does not exist" in line
    assert not (tmp_path / "accord").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = [\n", "is not valid TOML"),
        ('port = "four thousand"\n', "invalid configuration"),
        ("contract_approvals_required = 9\n", "contract_approvals_required is 9"),
    ],
)
def test_corrupt_configuration(tmp_path: Path, text: str, message: str):
    config = tmp_path / "accord.toml"
    config.write_text(text)
    with DemoRun(tmp_path / "accord", global_args=("--config", str(config))) as demo:
        approvals = "approvals" in message  # checked once the data directory is in use
        line = refused(demo, code=1 if approvals else 2, started=approvals)
    assert message in line


def test_environment_overrides_are_checked_too(tmp_path: Path):
    with DemoRun(tmp_path / "accord", env={"ACCORD_SUBGRAPH_TIMEOUT_SECONDS": "-1"}) as demo:
        line = refused(demo, code=2)
    assert "subgraph_timeout_seconds" in line
    assert not (tmp_path / "accord").exists()


def test_damaged_ledger_key(tmp_path: Path):
    data_dir = tmp_path / "accord"
    (data_dir / "keys").mkdir(parents=True)
    (data_dir / "keys" / "log.key").write_text("garbage\n")
    with DemoRun(data_dir) as demo:
        line = refused(demo, started=True)
    assert "--reset" in line
    assert (data_dir / "keys" / "log.key").read_text() == "garbage\n"


def test_agencies_that_cannot_start_are_all_stopped(tmp_path: Path):
    """The gateway's public key is damaged: the agencies refuse to start; none survives."""
    data_dir = tmp_path / "accord"
    with DemoRun(data_dir) as demo:
        demo.wait_ready()
        demo.stop()
    (data_dir / "keys" / "gateway.pub.pem").write_text("damaged\n")
    with DemoRun(data_dir) as demo:
        line = refused(demo, started=True)
    assert "stopped while starting" in line and "gateway.pub.pem" in line
    assert "--reset" in line


def test_a_second_demo_on_the_same_data_directory_is_refused(tmp_path: Path):
    data_dir = tmp_path / "accord"
    with DemoRun(data_dir) as first:
        url = first.wait_ready()
        with DemoRun(data_dir, "--reset") as second:  # would pull the ledger from under it
            assert second.finish() == 1
            line = second.output.strip()
            assert "\n" not in line
            assert f"another accord demo (pid {first.process.pid})" in line
            assert "ACCORD_DATA_DIR" in line
            assert not any(listening(port) for port in second.ports.values())
        assert first.process.poll() is None
        assert (data_dir / "ledger.db").exists() and (data_dir / "keys").exists()
        assert len(first.servers()) == 6
        assert listening(int(url.rsplit(":", 1)[1].split("/")[0]))
        assert first.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--agency-port", "police=4100"), "--agency-port takes NAME=PORT"),
        (("--agency-port", "health=99999"), "health port must be between 1 and 65535"),
        (("--people", "5"), "--people must be between 100 and 999999"),
        (("--timeout", "0"), "--timeout must be positive"),
    ],
)
def test_bad_options(tmp_path: Path, args: tuple[str, ...], message: str):
    with DemoRun(tmp_path / "accord", *args) as demo:
        line = refused(demo)
    assert message in line
    assert not (tmp_path / "accord").exists()
