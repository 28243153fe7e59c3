"""Interfaces, unions, @interfaceObject and @override across subgraphs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from app.federation.gateway import Gateway
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import Subgraph, SubgraphServer, supergraph_sdl

pytestmark = pytest.mark.anyio

ACCOUNTS = {
    "u1": {"__typename": "User", "id": "u1", "name": "registry name"},
    "o1": {"__typename": "Org", "id": "o1", "title": "Food Bank"},
}
SCORES = {"u1": 7, "o1": 3}

BODY = """
type Query @join__type(graph: REG) @join__type(graph: EXTRA) @join__type(graph: DOCS) {
  accounts: [Account!]! @join__field(graph: REG)
  topAccounts: [Account!]! @join__field(graph: EXTRA)
  search: [Result!]! @join__field(graph: REG)
}
interface Account
  @join__type(graph: REG, key: "id")
  @join__type(graph: EXTRA, key: "id", isInterfaceObject: true)
{
  id: ID!
  score: Int @join__field(graph: EXTRA)
}
type User implements Account
  @join__implements(graph: REG, interface: "Account")
  @join__type(graph: REG, key: "id")
  @join__type(graph: DOCS, key: "id")
{
  id: ID!
  name: String
    @join__field(graph: REG, usedOverridden: true)
    @join__field(graph: DOCS, override: "reg")
  score: Int @join__field
}
type Org implements Account
  @join__implements(graph: REG, interface: "Account")
  @join__type(graph: REG, key: "id")
{
  id: ID!
  title: String @join__field(graph: REG)
  score: Int @join__field
}
union Result
  @join__type(graph: REG)
  @join__unionMember(graph: REG, member: "User")
  @join__unionMember(graph: REG, member: "Doc")
  = User | Doc
type Doc @join__type(graph: REG) { title: String }
"""


def subgraphs() -> list[Subgraph]:
    reg = Subgraph(
        "reg",
        """
        type Query { accounts: [Account!]! search: [Result!]! }
        interface Account { id: ID! }
        type User implements Account { id: ID! name: String }
        type Org implements Account { id: ID! title: String }
        union Result = User | Doc
        type Doc { title: String }
        """,
        resolvers={
            "Query": {
                "accounts": lambda _r, _i: list(ACCOUNTS.values()),
                "search": lambda _r, _i: [
                    {"__typename": "Doc", "title": "Consent form"},
                    ACCOUNTS["u1"],
                ],
            }
        },
        entities={
            # The interface entity: the registry knows each account's concrete type.
            "Account": lambda rep: ACCOUNTS.get(rep["id"]),
            "User": lambda rep: ACCOUNTS.get(rep["id"]),
            "Org": lambda rep: ACCOUNTS.get(rep["id"]),
        },
    )
    extra = Subgraph(
        "extra",
        "type Query { topAccounts: [Account!]! }\ntype Account { id: ID! score: Int }",
        resolvers={
            "Query": {
                "topAccounts": lambda _r, _i: [
                    {"__typename": "Account", "id": "o1", "score": 3},
                    {"__typename": "Account", "id": "u1", "score": 7},
                ]
            }
        },
        entities={"Account": lambda rep: {"id": rep["id"], "score": SCORES.get(rep["id"])}},
    )
    docs = Subgraph(
        "docs",
        "type Query { _unused: Int }\ntype User { id: ID! name: String }",
        entities={"User": lambda rep: {"id": rep["id"], "name": f"docs name {rep['id']}"}},
    )
    return [reg, extra, docs]


@pytest.fixture(scope="module")
def server() -> Iterator[SubgraphServer]:
    running = SubgraphServer(subgraphs()).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def gateway(server) -> AsyncIterator[Gateway]:
    server.reset()
    sdl = supergraph_sdl({n: server.url(n) for n in ("reg", "extra", "docs")}, BODY)
    gw = Gateway(load_supergraph(sdl))
    try:
        yield gw
    finally:
        await gw.aclose()


async def test_interface_fields_from_an_interface_object_and_an_override(gateway, server):
    result = await gateway.execute(
        "{ accounts { __typename id score ... on User { name } ... on Org { title } } }"
    )
    assert result == {
        "data": {
            "accounts": [
                {"__typename": "User", "id": "u1", "score": 7, "name": "docs name u1"},
                {"__typename": "Org", "id": "o1", "score": 3, "title": "Food Bank"},
            ]
        }
    }
    (extra,) = server.subgraphs["extra"].requests
    # The interface object is asked with the interface's name, not the concrete type.
    assert extra["variables"]["representations"] == [
        {"__typename": "Account", "id": "u1"},
        {"__typename": "Account", "id": "o1"},
    ]


async def test_interface_object_results_learn_their_concrete_type(gateway, server):
    result = await gateway.execute(
        "{ topAccounts { id score __typename ... on Org { title } ... on User { name } } }"
    )
    assert result == {
        "data": {
            "topAccounts": [
                {"id": "o1", "score": 3, "__typename": "Org", "title": "Food Bank"},
                {"id": "u1", "score": 7, "__typename": "User", "name": "docs name u1"},
            ]
        }
    }


async def test_union_members_and_typename(gateway):
    result = await gateway.execute(
        "{ search { __typename ... on Doc { title } ... on User { id name } } }"
    )
    assert result == {
        "data": {
            "search": [
                {"__typename": "Doc", "title": "Consent form"},
                {"__typename": "User", "id": "u1", "name": "docs name u1"},
            ]
        }
    }


async def test_fields_not_selected_for_a_type_are_absent(gateway):
    result = await gateway.execute("{ accounts { ... on Org { title } } }")
    assert result == {"data": {"accounts": [{}, {"title": "Food Bank"}]}}
