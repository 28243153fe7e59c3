"""@requires with arguments, conflicting requirements, and variables inside entity fetches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.federation.gateway import Gateway
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import Subgraph, SubgraphServer, supergraph_sdl

pytestmark = pytest.mark.anyio

PRODUCTS = {"p1": {"upc": "p1", "usd": 10, "eur": 9, "weight": 3}}

BODY = """
type Query @join__type(graph: CATALOG) @join__type(graph: SHIPPING) {
  products: [Product!]! @join__field(graph: CATALOG)
}
type Product @join__type(graph: CATALOG, key: "upc") @join__type(graph: SHIPPING, key: "upc") {
  upc: String!
  price(currency: String!): Int
    @join__field(graph: CATALOG) @join__field(graph: SHIPPING, external: true)
  weight: Int @join__field(graph: CATALOG) @join__field(graph: SHIPPING, external: true)
  costUSD: Int @join__field(graph: SHIPPING, requires: "price(currency: \\"USD\\") weight")
  costEUR: Int @join__field(graph: SHIPPING, requires: "price(currency: \\"EUR\\")")
  estimate(days: Int = 3): String @join__field(graph: SHIPPING)
}
"""


def subgraphs() -> list[Subgraph]:
    def price(product):
        return lambda _info, currency: product[currency.lower()]

    catalog = Subgraph(
        "catalog",
        "type Query { products: [Product!]! }\n"
        "type Product { upc: String! price(currency: String!): Int weight: Int }",
        resolvers={
            "Query": {
                "products": lambda _r, _i: [{**p, "price": price(p)} for p in PRODUCTS.values()]
            }
        },
        entities={"Product": lambda rep: {**PRODUCTS[rep["upc"]], "price": price(PRODUCTS["p1"])}},
    )

    def shipping_product(rep):
        found = {"upc": rep["upc"], "estimate": lambda _info, days=3: f"{days} days"}
        if "weight" in rep:  # the USD requirement: price in dollars and weight
            found["costUSD"] = rep["price"] * rep["weight"]
        elif "price" in rep:  # the EUR requirement: price in euros only
            found["costEUR"] = rep["price"] * 2
        return found

    shipping = Subgraph(
        "shipping",
        "type Query { _unused: Int }\n"
        "type Product { upc: String! price(currency: String!): Int weight: Int "
        "costUSD: Int costEUR: Int estimate(days: Int = 3): String }",
        entities={"Product": shipping_product},
    )
    return [catalog, shipping]


@pytest.fixture(scope="module")
def server() -> Iterator[SubgraphServer]:
    running = SubgraphServer(subgraphs()).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def gateway(server):
    server.reset()
    sdl = supergraph_sdl({n: server.url(n) for n in ("catalog", "shipping")}, BODY)
    gw = Gateway(load_supergraph(sdl))
    try:
        yield gw
    finally:
        await gw.aclose()


async def test_requirements_with_different_arguments_get_their_own_representations(gateway, server):
    result = await gateway.execute(
        '{ products { upc costUSD costEUR eur: price(currency: "EUR") } }'
    )
    assert result == {"data": {"products": [{"upc": "p1", "costUSD": 30, "costEUR": 18, "eur": 9}]}}
    sent = sorted(
        (
            rep
            for r in server.subgraphs["shipping"].requests
            for batch in _rep_lists(r)
            for rep in batch
        ),
        key=len,
    )
    assert sent == [
        {"__typename": "Product", "upc": "p1", "price": 9},
        {"__typename": "Product", "upc": "p1", "price": 10, "weight": 3},
    ]


async def test_variables_reach_entity_fetches_and_defaults_apply(gateway):
    query = "query($d: Int) { products { estimate(days: $d) } }"
    assert await gateway.execute(query, variables={"d": 5}) == {
        "data": {"products": [{"estimate": "5 days"}]}
    }
    assert await gateway.execute(query) == {"data": {"products": [{"estimate": "3 days"}]}}
    with_default = "query($d: Int = 7) { products { estimate(days: $d) } }"
    assert await gateway.execute(with_default) == {"data": {"products": [{"estimate": "7 days"}]}}


def _rep_lists(request: dict) -> list[list[dict]]:
    return [v for k, v in request["variables"].items() if isinstance(v, list)]
