"""``accord keys``: key material in the data directory, demo tokens on standard output."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.cli import main
from app.demo_idp import DEMO_AGENCIES, DemoIdentityProvider
from app.identity import Authenticator, gateway_key_path, load_signing_key
from app.settings import load_settings
from tests.support import accord_process, stop_process


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("ACCORD_DATA_DIR", str(path))
    monkeypatch.chdir(tmp_path)  # no stray accord.toml
    return path


def verify(data_dir: Path, token: str, purpose: str | None = None):
    authenticator = Authenticator(DemoIdentityProvider(data_dir).issuers())
    authenticator.load_keys()
    return authenticator.authenticate_sync(f"Bearer {token}", purpose)


def test_init_creates_the_gateway_key_and_demo_issuers_once(
    data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["keys", "init"]) == 0
    out = capsys.readouterr().out
    key_path = gateway_key_path(data_dir)
    assert f"{key_path} (created)" in out
    assert "[[issuers]]" in out and 'agency = "health"' in out
    key = load_signing_key(key_path)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert (key_path.parent / "gateway.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY")
    before = key_path.read_bytes()

    assert main(["keys", "init"]) == 0
    assert f"{key_path} (kept)" in capsys.readouterr().out
    assert key_path.read_bytes() == before


def test_token_prints_a_token_the_demo_issuers_vouch_for(
    data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["keys", "token", "--agency", "health", "--purpose", "TREAT"]) == 0
    token = capsys.readouterr().out.strip()
    principal = verify(data_dir, token)
    assert (principal.agency, principal.purpose, principal.roles) == (
        "health",
        "TREAT",
        frozenset({"case_worker"}),
    )


def test_token_options_for_citizens_auditors_and_several_purposes(
    data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["keys", "token", "--role", "citizen", "--subject", "P000007"]) == 0
    citizen = verify(data_dir, capsys.readouterr().out.strip())
    assert (citizen.subject, citizen.roles) == ("P000007", frozenset({"citizen"}))

    assert main(["keys", "token", "--role", "auditor", "--hours", "1"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify(data_dir, token).roles == frozenset({"auditor"})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600

    args = ["keys", "token", "--agency", "human_services", "--purpose", "coc"]
    assert main([*args, "--purpose", "CAREMGT", "--user", "jo"]) == 0
    worker = verify(data_dir, capsys.readouterr().out.strip(), "CAREMGT")
    assert (worker.user, worker.purpose, worker.purposes) == (
        "jo",
        "CAREMGT",
        frozenset({"COC", "CAREMGT"}),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "health"], "needs --purpose"),
        (["--agency", "health", "--purpose", "FISHING"], "unknown purpose"),
        (["--agency", "atlantis", "--purpose", "TREAT"], "no demo issuer"),
        (["--role", "citizen"], "needs --subject"),
        (["--role", "agency_admin"], "--agency is required"),
        (["--agency", "health", "--purpose", "TREAT", "--hours", "0"], "must be positive"),
    ],
)
def test_bad_token_requests_get_a_one_line_error(
    data_dir: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["keys", "token", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_unwritable_data_directory_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ACCORD_DATA_DIR", str(blocker / "data"))
    monkeypatch.chdir(tmp_path)

    assert main(["keys", "init"]) == 1
    err = capsys.readouterr().err
    assert "data directory" in err and "ACCORD_DATA_DIR" in err
    assert err.count("\n") == 1

    assert main(["keys", "token", "--agency", "health", "--purpose", "TREAT"]) == 1
    assert "ACCORD_DATA_DIR" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_data_directory_is_refused(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        assert main(["keys", "init"]) == 1
        assert "not writable" in capsys.readouterr().err
    finally:
        data_dir.chmod(0o700)


def test_the_installed_command_line_prints_a_token(tmp_path: Path) -> None:
    proc = accord_process(
        ["keys", "token", "--agency", "courts", "--purpose", "HLEGAL"],
        env={"ACCORD_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
    )
    proc.wait(timeout=60)
    output = stop_process(proc).strip()
    assert proc.returncode == 0, output
    assert verify(tmp_path / "data", output.splitlines()[-1]).agency == "courts"


def test_the_printed_issuer_settings_are_a_working_configuration(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["keys", "init"]) == 0
    out = capsys.readouterr().out
    snippet = out[out.index("[[issuers]]") :]
    config = tmp_path / "accord.toml"
    config.write_text(snippet, encoding="utf-8")

    settings = load_settings(config)
    assert {issuer.agency for issuer in settings.issuers} == set(DEMO_AGENCIES)
    authenticator = Authenticator.from_settings(settings)
    token = DemoIdentityProvider(data_dir).case_worker_token("education", "COC")
    assert authenticator.authenticate_sync(f"Bearer {token}").agency == "education"
