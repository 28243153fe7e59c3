"""Real agency servers on loopback, and the gateway key pair that signs their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from examples.agencies import AGENCY_NAMES, create_agency_app
from examples.people import Population
from schema.subgraph_auth import GatewayClaims, make_gateway_token
from tests.support import ServerThread

TEST_PEOPLE = 400
TEST_SEED = 7


@pytest.fixture(scope="session")
def gateway_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def people() -> Population:
    return Population(count=TEST_PEOPLE, seed=TEST_SEED)


@dataclass
class Agencies:
    servers: dict[str, ServerThread]
    key: Ed25519PrivateKey
    client: httpx.Client

    def token(self, agency: str, fields: tuple[str, ...] = (), **changes: Any) -> str:
        claims = GatewayClaims(
            agency="human_services",
            user="u-3f9a",
            purpose="COC",
            request_id="req-1",
            audience=agency,
            fields=fields,
        )
        key = changes.pop("key", self.key)
        for name, value in changes.items():
            claims = GatewayClaims(**{**claims.__dict__, name: value})
        return make_gateway_token(claims, key)

    def post(
        self, agency: str, query: str, variables: dict | None = None, token: str | None = None
    ) -> httpx.Response:
        token = self.token(agency) if token is None else token
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.client.post(
            f"{self.servers[agency].url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )

    def query(self, agency: str, query: str, variables: dict | None = None) -> dict:
        response = self.post(agency, query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="module")
def agencies(gateway_key: Ed25519PrivateKey, people: Population) -> Iterator[Agencies]:
    """The four demo agencies, each a real HTTP server, trusting ``gateway_key``."""
    servers: dict[str, ServerThread] = {}
    try:
        for name in AGENCY_NAMES:
            app = create_agency_app(name, people=people, gateway_keys=[gateway_key.public_key()])
            servers[name] = ServerThread(app).start()
        with httpx.Client(timeout=10) as client:
            yield Agencies(servers, gateway_key, client)
    finally:
        for server in servers.values():
            server.stop()
