"""Multiple keys, a nested composite key and `resolvable: false`, chained across subgraphs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.federation.gateway import Gateway
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import Subgraph, SubgraphServer, supergraph_sdl

pytestmark = pytest.mark.anyio

ACCOUNTS = {
    "a1": {"id": "a1", "org": {"code": "HS"}, "number": 10},
    "a2": {"id": "a2", "org": {"code": "ED"}, "number": 20},
}
BALANCES = {("HS", 10): 125, ("ED", 20): -5}

BODY = """
type Query @join__type(graph: CORE) @join__type(graph: LEDGER) @join__type(graph: FRONT) {
  featured: [Account!]! @join__field(graph: FRONT)
}
type Account
  @join__type(graph: CORE, key: "id")
  @join__type(graph: CORE, key: "org { code } number")
  @join__type(graph: LEDGER, key: "org { code } number")
  @join__type(graph: FRONT, key: "id", resolvable: false)
{
  id: ID! @join__field(graph: CORE) @join__field(graph: FRONT)
  org: Org! @join__field(graph: CORE) @join__field(graph: LEDGER)
  number: Int! @join__field(graph: CORE) @join__field(graph: LEDGER)
  balance: Int @join__field(graph: LEDGER)
}
type Org @join__type(graph: CORE) @join__type(graph: LEDGER) { code: String! }
"""


def subgraphs() -> list[Subgraph]:
    core = Subgraph(
        "core",
        "type Query { _unused: Int }\n"
        "type Account { id: ID! org: Org! number: Int! }\ntype Org { code: String! }",
        entities={"Account": lambda rep: ACCOUNTS.get(rep.get("id"))},
    )
    ledger = Subgraph(
        "ledger",
        "type Query { _unused: Int }\n"
        "type Account { org: Org! number: Int! balance: Int }\ntype Org { code: String! }",
        entities={
            "Account": lambda rep: {
                **rep,
                "balance": BALANCES.get((rep["org"]["code"], rep["number"])),
            }
        },
    )
    front = Subgraph(
        "front",
        "type Query { featured: [Account!]! }\ntype Account { id: ID! }",
        resolvers={
            "Query": {
                "featured": lambda _r, _i: [
                    {"id": "a2"},
                    {"id": "a1"},
                    {"id": "a2"},
                ]
            }
        },
    )
    return [core, ledger, front]


@pytest.fixture(scope="module")
def server() -> Iterator[SubgraphServer]:
    running = SubgraphServer(subgraphs()).start()
    try:
        yield running
    finally:
        running.stop()


async def test_keys_chain_through_a_subgraph_that_knows_both(server):
    server.reset()
    names = ("core", "ledger", "front")
    gw = Gateway(load_supergraph(supergraph_sdl({n: server.url(n) for n in names}, BODY)))
    try:
        result = await gw.execute("{ featured { id balance } }")
    finally:
        await gw.aclose()
    assert result == {
        "data": {
            "featured": [
                {"id": "a2", "balance": -5},
                {"id": "a1", "balance": 125},
                {"id": "a2", "balance": -5},
            ]
        }
    }
    (core,) = server.subgraphs["core"].requests
    assert core["variables"]["representations"] == [
        {"__typename": "Account", "id": "a2"},
        {"__typename": "Account", "id": "a1"},
    ]
    (ledger,) = server.subgraphs["ledger"].requests
    # The nested composite key, fetched from core, is what ledger receives.
    assert ledger["variables"]["representations"] == [
        {"__typename": "Account", "org": {"code": "ED"}, "number": 20},
        {"__typename": "Account", "org": {"code": "HS"}, "number": 10},
    ]
    # front's key is not resolvable: it is never asked for entities.
    assert all("_entities" not in r["query"] for r in server.subgraphs["front"].requests)
