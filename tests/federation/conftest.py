"""Fixtures: the three-agency test world served on 127.0.0.1, and a gateway over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from app.federation.gateway import Gateway
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import SubgraphServer
from tests.federation.world import (
    cases_subgraph,
    health_subgraph,
    new_cases,
    people_subgraph,
    world_supergraph,
)


@pytest.fixture(scope="module")
def world() -> Iterator[SubgraphServer]:
    server = SubgraphServer([people_subgraph(), health_subgraph(), cases_subgraph(new_cases())])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world_sdl(world: SubgraphServer) -> str:
    world.reset()
    return world_supergraph({name: world.url(name) for name in ("people", "health", "cases")})


@pytest.fixture
async def gateway(world_sdl: str) -> AsyncIterator[Gateway]:
    gw = Gateway(load_supergraph(world_sdl))
    try:
        yield gw
    finally:
        await gw.aclose()
