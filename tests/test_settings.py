from pathlib import Path

import pytest

from app.cli import main
from app.settings import SettingsError, load_settings


def test_defaults_put_the_ledger_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == Path(".accord")
    assert settings.ledger_dsn == f"sqlite:///{tmp_path / '.accord' / 'ledger.db'}"


def test_environment_overrides_file_and_flags_override_both(tmp_path, monkeypatch):
    config = tmp_path / "accord.toml"
    config.write_text('port = 5000\nlog_origin = "file.example/log"\n')
    monkeypatch.setenv("ACCORD_PORT", "6000")
    settings = load_settings(config)
    assert (settings.port, settings.log_origin) == (6000, "file.example/log")
    assert load_settings(config, port=7000).port == 7000


def test_ledger_url_from_environment(monkeypatch):
    monkeypatch.setenv("ACCORD_LEDGER_URL", "postgresql+psycopg://db/ledger")
    assert load_settings().ledger_dsn == "postgresql+psycopg://db/ledger"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = [", "not valid TOML"),
        ("port = 99999", "port"),
        ("colour = 'blue'", "colour"),
    ],
)
def test_bad_configuration_is_one_clear_error(tmp_path, text, message):
    config = tmp_path / "accord.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config)


def test_missing_explicit_configuration(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_cli_reports_configuration_errors_in_one_line(tmp_path, capsys):
    config = tmp_path / "accord.toml"
    config.write_text("port = 'many'")
    assert main(["--config", str(config), "config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accord: error: invalid configuration") and err.count("\n") == 1


def test_one_command_loads_only_its_own_module():
    """`accord agency` must start fast: it should not import the ledger's database layer."""
    import subprocess
    import sys

    probe = (
        "import sys; from app.cli import build_parser; build_parser('agency'); "
        "print('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_lists_every_command(capsys):
    from app.cli import COMMAND_MODULES

    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert all(name in listing for name in COMMAND_MODULES)
