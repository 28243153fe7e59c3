"""Fixtures: the four agencies once per module; per test a fresh ledger with the member
network, and a gateway whose supergraph includes Accord's own API subgraph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.federation.compose import compose
from ledger import keys
from tests.enforcement.world import Agencies, Ledgered, start_agencies, start_gateway, stop

RECORDER = "human_services"


@pytest.fixture(scope="module")
def agencies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agencies]:
    world = start_agencies(tmp_path_factory.mktemp("agencies"))
    world.supergraph = compose(world.sources, include_accord=True)
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture
def data_dir(tmp_path: Path, agencies: Agencies) -> Path:
    return agencies.data_dir(tmp_path)


@pytest.fixture
def ledgered(data_dir: Path) -> Ledgered:
    ledger = Ledgered(data_dir)
    ledger.start_network()
    # The member that records consents people give in the citizen view keeps its key here.
    keys.save(ledger.network.signers[RECORDER], data_dir / "keys" / "members", RECORDER)
    return ledger


class Audit:
    """The running gateway plus helpers for the gateway's own API."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.idp = gateway.idp
        self.url = gateway.server.url

    def token(self, who: str) -> str:
        kind, _, rest = who.partition(":")
        if kind == "auditor":
            return self.idp.auditor_token()
        if kind == "citizen":
            return self.idp.citizen_token(rest)
        if kind == "admin":
            return self.idp.admin_token(rest)
        agency, _, purpose = rest.partition("/")
        return self.idp.case_worker_token(agency, purpose)

    def api(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        """POST to the API's own endpoint as ``who`` (auditor, citizen:P1, admin:health,
        worker:human_services/COC)."""
        response = self.gateway.client.post(
            f"{self.url}/accord/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token(who)}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def federated(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        """The same through the federated endpoint (the supergraph's ``accord`` field)."""
        response = self.gateway.client.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token(who)}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.gateway.client.get(f"{self.url}{path}", params=params)


@pytest.fixture
def audit(data_dir: Path, agencies: Agencies, ledgered: Ledgered) -> Iterator[Audit]:
    gateway = start_gateway(data_dir, agencies.supergraph, consent_recorder=RECORDER)
    try:
        yield Audit(gateway)
    finally:
        stop(gateway)
