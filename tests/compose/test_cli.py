"""``accord compose``: files, live subgraphs over HTTP, the configuration file, and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.cli import main
from app.federation.compose_compare import canonical
from tests.compose.cases import ERROR_CASES, HINTED
from tests.support import ROOT, free_port

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("cases", "people", "staff")


def _subgraph_args(url_of: dict[str, str], with_files: bool = True) -> list[str]:
    args: list[str] = []
    for name in NAMES:
        args += ["--subgraph", name, url_of[name]]
        if with_files:
            args.append(str(FIXTURES / "fed2" / f"{name}.graphql"))
    return args


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def live_subgraphs() -> Iterator[tuple[dict[str, str], list[dict]]]:
    """The fed2 fixtures served over HTTP, answering ``{ _service { sdl } }`` like a subgraph."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            request = json.loads(self.rfile.read(length))
            received.append(request)
            name = self.path.strip("/")
            if name == "broken":
                body = json.dumps({"errors": [{"message": "Cannot query field _service"}]})
            else:
                sdl = (FIXTURES / "fed2" / f"{name}.graphql").read_text()
                body = json.dumps({"data": {"_service": {"sdl": sdl}}})
            payload = body.encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {name: f"{base}/{name}" for name in (*NAMES, "broken")}, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_compose_files_to_output(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    urls = {name: f"http://127.0.0.1:4100/{name}" for name in NAMES}
    output = workdir / "supergraph.graphql"
    assert main(["compose", *_subgraph_args(urls), "--output", str(output)]) == 0
    supergraph = output.read_text()
    assert 'PEOPLE @join__graph(name: "people", url: "http://127.0.0.1:4100/people")' in supergraph
    expected = canonical((FIXTURES / "fed2" / "expected.graphql").read_text())
    ours = canonical(supergraph)
    # The gateway may add its own API subgraph; the agencies' types must mean the same.
    for name in ("Person", "Case", "Office", "Worker", "Node", "SearchResult", "Status"):
        assert ours[name] == expected[name], name
    assert "wrote supergraph of 3 subgraphs" in capsys.readouterr().err


def test_compose_fetches_sdl_from_running_subgraphs(
    workdir: Path, live_subgraphs: tuple[dict[str, str], list[dict]], capsys
) -> None:
    urls, received = live_subgraphs
    assert main(["compose", *_subgraph_args(urls, with_files=False)]) == 0
    supergraph = capsys.readouterr().out
    assert f'url: "{urls["staff"]}"' in supergraph
    assert len(received) == 3
    assert all(r["query"].replace(" ", "") == "{_service{sdl}}" for r in received)


def test_compose_from_configuration_file(
    workdir: Path, live_subgraphs: tuple[dict[str, str], list[dict]], capsys
) -> None:
    urls, received = live_subgraphs
    people = FIXTURES / "fed2" / "people.graphql"
    (workdir / "accord.toml").write_text(
        f'[[subgraphs]]\nname = "people"\nurl = "{urls["people"]}"\nsdl_file = "{people}"\n'
        f'[[subgraphs]]\nname = "cases"\nurl = "{urls["cases"]}"\n'
        f'[[subgraphs]]\nname = "staff"\nurl = "{urls["staff"]}"\n'
    )
    assert main(["compose"]) == 0
    supergraph = capsys.readouterr().out
    assert "type Person implements Node" in supergraph
    assert len(received) == 2  # people came from its file


def test_composition_errors_exit_non_zero_and_write_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, subgraphs = ERROR_CASES["incompatible field types"]
    args = []
    for name, sdl in subgraphs.items():
        (workdir / f"{name}.graphql").write_text(sdl)
        args += ["-s", name, f"http://127.0.0.1:1/{name}", str(workdir / f"{name}.graphql")]
    output = workdir / "out.graphql"
    assert main(["compose", *args, "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "composition failed with 1 error" in err
    assert "FIELD_TYPE_MISMATCH" in err and '"Query.count"' in err
    assert not output.exists()
    assert list(workdir.glob(".out.graphql*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "a"], "--subgraph takes NAME URL [SDL_FILE]"),
        (["-s", "a", "ftp://x/a"], "URL must start with http:// or https://"),
        (["-s", "a", "http://127.0.0.1:1/a", "missing.graphql"], "does not exist"),
        ([], "no subgraphs"),
    ],
)
def test_bad_arguments(workdir: Path, capsys, args: list[str], message: str) -> None:
    assert main(["compose", *args]) == 1
    assert message in capsys.readouterr().err


def test_unreachable_and_non_federation_subgraphs(
    workdir: Path, live_subgraphs: tuple[dict[str, str], list[dict]], capsys
) -> None:
    urls, _ = live_subgraphs
    port = free_port()
    assert main(["compose", "-s", "gone", f"http://127.0.0.1:{port}/graphql"]) == 1
    assert "subgraph gone: cannot reach" in capsys.readouterr().err
    assert main(["compose", "-s", "broken", urls["broken"]]) == 1
    err = capsys.readouterr().err
    assert "not a federation subgraph" in err and "Cannot query field _service" in err


def test_installed_command_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.graphql"
    bad.write_text("type Query { broken")
    result = subprocess.run(
        [sys.executable, "-m", "app", "compose", "-s", "a", "http://127.0.0.1:1/a", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "INVALID_GRAPHQL: [a] Syntax Error" in result.stderr
    assert result.stdout == ""


def test_hints_on_stderr_unless_quiet(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = []
    for name, sdl in HINTED.items():
        (workdir / f"{name}.graphql").write_text(sdl)
        args += ["-s", name, f"http://127.0.0.1:1/{name}", str(workdir / f"{name}.graphql")]
    assert main(["compose", *args]) == 0
    captured = capsys.readouterr()
    assert "accord: hint: INCONSISTENT_ARGUMENT_PRESENCE" in captured.err
    assert captured.out.startswith("schema")
    assert main(["compose", *args, "--quiet"]) == 0
    assert "hint" not in capsys.readouterr().err


def test_wait_for_subgraphs_that_start_later(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdl = (FIXTURES / "fed2" / "people.graphql").read_text()
    port = free_port()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            payload = json.dumps({"data": {"_service": {"sdl": sdl}}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    holder: dict[str, ThreadingHTTPServer] = {}

    def start_late() -> None:
        time.sleep(1.0)
        holder["server"] = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        holder["server"].serve_forever()

    starter = threading.Thread(target=start_late, daemon=True)
    starter.start()
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        assert main(["compose", "-s", "people", url, "--wait", "20"]) == 0
        assert f'PEOPLE @join__graph(name: "people", url: "{url}")' in capsys.readouterr().out
    finally:
        starter.join(timeout=0.1)
        for _ in range(200):
            if "server" in holder or not starter.is_alive():
                break
            time.sleep(0.05)
        if "server" in holder:
            holder["server"].shutdown()
            holder["server"].server_close()
        starter.join(timeout=10)
