"""Fixtures: the agencies once per module, a fresh ledger and gateway per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.enforcement.world import (
    Agencies,
    Gateway,
    Ledgered,
    start_agencies,
    start_gateway,
    stop,
)


@pytest.fixture(scope="module")
def agencies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agencies]:
    world = start_agencies(tmp_path_factory.mktemp("agencies"))
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture
def data_dir(tmp_path: Path, agencies: Agencies) -> Path:
    """A data directory holding the gateway key the agencies trust."""
    return agencies.data_dir(tmp_path)


@pytest.fixture
def ledgered(data_dir: Path) -> Ledgered:
    ledger = Ledgered(data_dir)
    ledger.start_network()
    return ledger


@pytest.fixture
def start(data_dir: Path, agencies: Agencies, ledgered: Ledgered) -> Iterator:
    """Start the gateway (with optional setting overrides); stopped after the test."""
    started: list[Gateway] = []

    def run(**overrides) -> Gateway:
        gateway = start_gateway(data_dir, agencies.supergraph, **overrides)
        started.append(gateway)
        return gateway

    yield run
    for gateway in started:
        stop(gateway)
