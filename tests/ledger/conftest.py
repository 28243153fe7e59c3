"""Fixtures for the ledger tests: a store on each backend, keys, and sample entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import keys

ORIGIN = "accord.test/ledger"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty ledger store, on SQLite and (when configured) on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(scope="session")
def log_signer() -> keys.Signer:
    return keys.generate(ORIGIN)
