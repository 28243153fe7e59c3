"""A union whose members differ between subgraphs, below a shareable field of an entity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.federation.gateway import Gateway
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import Subgraph, SubgraphServer, supergraph_sdl

pytestmark = pytest.mark.anyio

BODY = """
type Query @join__type(graph: A) @join__type(graph: B) {
  fromA: Box @join__field(graph: A)
}
type Box @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  inner: Inner
  onlyB: Inner @join__field(graph: B)
}
type Inner @join__type(graph: A) @join__type(graph: B) { items: [Item!]! }
union Item
  @join__type(graph: A) @join__type(graph: B)
  @join__unionMember(graph: A, member: "Shared") @join__unionMember(graph: B, member: "Shared")
  @join__unionMember(graph: A, member: "Left") @join__unionMember(graph: B, member: "Right")
  = Shared | Left | Right
type Shared @join__type(graph: A) @join__type(graph: B) { label: String }
type Left @join__type(graph: A) { left: String }
type Right @join__type(graph: B) { right: String }
"""

SDL_A = """
type Query { fromA: Box }
type Box { id: ID! inner: Inner }
type Inner { items: [Item!]! }
union Item = Shared | Left
type Shared { label: String }
type Left { left: String }
"""
SDL_B = """
type Query { _unused: Int }
type Box { id: ID! inner: Inner onlyB: Inner }
type Inner { items: [Item!]! }
union Item = Shared | Right
type Shared { label: String }
type Right { right: String }
"""


def items(*extra):
    return {"items": [{"__typename": "Shared", "label": "shared"}, *extra]}


@pytest.fixture(scope="module")
def server() -> Iterator[SubgraphServer]:
    a = Subgraph(
        "a",
        SDL_A,
        resolvers={
            "Query": {
                "fromA": lambda _r, _i: {
                    "id": "1",
                    "inner": items({"__typename": "Left", "left": "from a"}),
                }
            }
        },
        entities={"Box": lambda rep: {"id": rep["id"]}},
    )
    b = Subgraph(
        "b",
        SDL_B,
        entities={
            "Box": lambda rep: {
                "id": rep["id"],
                "inner": items({"__typename": "Right", "right": "from b"}),
                "onlyB": items({"__typename": "Right", "right": "from b"}),
            }
        },
    )
    running = SubgraphServer([a, b]).start()
    try:
        yield running
    finally:
        running.stop()


QUERY = (
    "{ fromA { %s { items { __typename "
    "...on Shared { label } ...on Left { left } ...on Right { right } } } } }"
)


async def run(server, field):
    gw = Gateway(load_supergraph(supergraph_sdl({n: server.url(n) for n in "ab"}, BODY)))
    try:
        return await gw.execute(QUERY % field)
    finally:
        await gw.aclose()


async def test_only_members_every_candidate_subgraph_knows_are_selected(server):
    # Box.inner could come from a or b: only Shared is safe, so Left's field is not asked for
    # and answers null.
    result = await run(server, "inner")
    assert result == {
        "data": {
            "fromA": {
                "inner": {
                    "items": [
                        {"__typename": "Shared", "label": "shared"},
                        {"__typename": "Left", "left": None},
                    ]
                }
            }
        }
    }


async def test_after_a_forced_hop_the_target_subgraphs_members_are_used(server):
    result = await run(server, "onlyB")
    assert result == {
        "data": {
            "fromA": {
                "onlyB": {
                    "items": [
                        {"__typename": "Shared", "label": "shared"},
                        {"__typename": "Right", "right": "from b"},
                    ]
                }
            }
        }
    }
