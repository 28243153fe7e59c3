"""Executing federated operations against real subgraphs on 127.0.0.1."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.federation.compose import SubgraphSource, compose
from app.federation.errors import RequestError
from app.federation.gateway import Gateway, Limits
from app.federation.http import HTTPClient
from app.federation.supergraph import load_supergraph
from tests.federation.world import world_supergraph
from tests.support import ServerThread, free_port

pytestmark = pytest.mark.anyio


def entity_requests(subgraph) -> list[dict]:
    return [r for r in subgraph.requests if "_entities" in r["query"]]


async def test_simple_key_jump_merges_fields_from_two_subgraphs(gateway, world):
    result = await gateway.execute('{ person(id: "p1") { name conditions { code since } } }')
    assert result == {
        "data": {
            "person": {
                "name": "Ada",
                "conditions": [{"code": "E11", "since": 2010}, {"code": "I10", "since": 2015}],
            }
        }
    }
    (request,) = entity_requests(world.subgraphs["health"])
    assert request["variables"]["representations"] == [{"__typename": "Person", "id": "p1"}]


async def test_requires_sends_the_required_field_in_the_representation(gateway, world):
    result = await gateway.execute('{ person(id: "p2") { riskScore } }')
    assert result == {"data": {"person": {"riskScore": 25}}}
    (request,) = entity_requests(world.subgraphs["health"])
    assert request["variables"]["representations"] == [
        {"__typename": "Person", "id": "p2", "birthYear": 2001}
    ]
    # birthYear was fetched for the representation only: it does not leak into the response.
    assert "birthYear" not in result["data"]["person"]


async def test_provides_answers_external_fields_without_another_fetch(gateway, world):
    result = await gateway.execute('{ case(agency: "HS", number: 1) { status person { name } } }')
    assert result == {"data": {"case": {"status": "open", "person": {"name": "provided"}}}}
    assert world.subgraphs["people"].requests == []


async def test_external_field_without_provides_comes_from_its_owner(gateway, world):
    result = await gateway.execute(
        '{ openCases { person { id } } case(agency: "HS", number: 2) '
        "{ person { name birthYear } } }"
    )
    assert result["data"]["case"]["person"] == {"name": "provided", "birthYear": 2001}
    assert len(world.subgraphs["people"].requests) == 1


async def test_composite_key_representation(gateway, world):
    result = await gateway.execute("{ openCases { agency number urgent } }")
    assert result == {
        "data": {
            "openCases": [
                {"agency": "HS", "number": 1, "urgent": True},
                {"agency": "ED", "number": 7, "urgent": False},
            ]
        }
    }
    (request,) = entity_requests(world.subgraphs["health"])
    assert request["variables"]["representations"] == [
        {"__typename": "Case", "agency": "HS", "number": 1},
        {"__typename": "Case", "agency": "ED", "number": 7},
    ]


async def test_representations_are_deduplicated_and_batched(gateway, world):
    result = await gateway.execute("{ topPatients { id name } }")
    assert result == {
        "data": {
            "topPatients": [
                {"id": "p2", "name": "Grace"},
                {"id": "p1", "name": "Ada"},
                {"id": "p2", "name": "Grace"},
            ]
        }
    }
    (request,) = world.subgraphs["people"].requests
    assert request["variables"]["representations"] == [
        {"__typename": "Person", "id": "p2"},
        {"__typename": "Person", "id": "p1"},
    ]


async def test_one_entities_request_per_subgraph_per_step(gateway, world):
    await gateway.execute("{ people { name cases { status urgent } conditions { code } } }")
    assert len(world.subgraphs["people"].requests) == 1
    assert len(world.subgraphs["cases"].requests) == 1
    # One for people.conditions, one for people.cases.urgent (a later step).
    assert len(world.subgraphs["health"].requests) == 2


async def test_aliases_and_internal_keys_never_leak(gateway):
    result = await gateway.execute(
        '{ who: person(id: "p1") { fullName: name, id: name, risk: riskScore } }'
    )
    assert result == {"data": {"who": {"fullName": "Ada", "id": "Ada", "risk": 46}}}


async def test_fragments_typename_and_interfaces(gateway):
    query = """
      query Q { a: node(id: "p1") { __typename ...P } b: node(id: "o1") { __typename id ...O } }
      fragment P on Person { name riskScore }
      fragment O on Office { city }
    """
    result = await gateway.execute(query)
    assert result == {
        "data": {
            "a": {"__typename": "Person", "name": "Ada", "riskScore": 46},
            "b": {"__typename": "Office", "id": "o1", "city": "Wellington"},
        }
    }


async def test_variables_with_defaults_and_skip_include(gateway):
    query = """
      query Q($id: ID! = "p2", $withRisk: Boolean = false, $noName: Boolean!) {
        person(id: $id) { id name @skip(if: $noName) riskScore @include(if: $withRisk) }
      }
    """
    assert await gateway.execute(query, variables={"noName": False}) == {
        "data": {"person": {"id": "p2", "name": "Grace"}}
    }
    assert await gateway.execute(query, variables={"noName": True, "withRisk": True}) == {
        "data": {"person": {"id": "p2", "riskScore": 25}}
    }
    assert await gateway.execute(query, variables={"noName": True, "id": "p1"}) == {
        "data": {"person": {"id": "p1"}}
    }


async def test_shareable_root_field_resolves_from_one_subgraph(gateway, world):
    result = await gateway.execute("{ agencyName }")
    assert result["data"]["agencyName"] in ("Registry", "Cases")
    requests = sum(len(s.requests) for s in world.subgraphs.values())
    assert requests == 1


async def test_mutations_run_serially_in_document_order(world_sdl, world):
    gw = Gateway(load_supergraph(world_sdl))
    try:
        result = await gw.execute(
            """mutation {
                 first: openCase(agency: "CW", number: 1, personId: "p2") { status }
                 closed: closeCase(agency: "CW", number: 1) { status person { id } }
                 again: openCase(agency: "CW", number: 2, personId: "p1") { number }
               }"""
        )
    finally:
        await gw.aclose()
    assert result == {
        "data": {
            "first": {"status": "open"},
            "closed": {"status": "closed", "person": {"id": "p2"}},
            "again": {"number": 2},
        }
    }
    mutations = [r["query"] for r in world.subgraphs["cases"].requests]
    assert len(mutations) == 3
    assert ["openCase" in m for m in mutations] == [True, False, True]


async def test_subgraph_errors_are_placed_at_the_client_path(gateway):
    result = await gateway.execute('{ person(id: "p3") { name conditions { code } } }')
    # conditions is non-null: its error nulls the nearest nullable parent, the person.
    assert result["data"] == {"person": None}
    (error,) = result["errors"]
    assert error["message"] == "health record sealed"
    assert error["path"] == ["person", "conditions"]
    assert error["extensions"]["service"] == "health"


PEOPLE_SDL = """extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { person(id: ID!): Person }
type Person @key(fields: "id") { id: ID! name: String }
"""


@pytest.mark.parametrize(
    "sent",
    [
        ["a bare string"],
        "not a list",
        {"message": "an object, not a list"},
        [None],
        [{"message": "bad path", "path": "person"}],
        [{"message": "bad path", "path": [{"step": 1}]}],
        [{"message": "bad extensions", "extensions": "x"}],
    ],
)
async def test_malformed_subgraph_errors_become_plain_errors(sent):
    async def answer(_request):
        return JSONResponse({"data": {"person": {"id": "p1", "name": "Ada"}}, "errors": sent})

    server = ServerThread(Starlette(routes=[Route("/graphql", answer, methods=["POST"])]))
    server.start()
    gw = Gateway(
        load_supergraph(compose([SubgraphSource("people", f"{server.url}/graphql", PEOPLE_SDL)]))
    )
    try:
        result = await gw.execute('{ person(id: "p1") { name } }')
    finally:
        await gw.aclose()
        server.stop()
    assert result["data"] == {"person": {"name": "Ada"}}
    (error,) = result["errors"]
    assert isinstance(error["message"], str) and error["message"]
    assert "path" not in error  # a path the subgraph did not send as a list is not passed on
    assert error["extensions"] == {"code": "DOWNSTREAM_SERVICE_ERROR", "service": "people"}


async def test_null_propagation_stops_at_nullable_field(gateway):
    result = await gateway.execute('{ person(id: "nobody") { name } }')
    assert result == {"data": {"person": None}}


async def test_unreachable_subgraph_gives_partial_data(world):
    urls = {name: world.url(name) for name in ("people", "cases")}
    urls["health"] = f"http://127.0.0.1:{free_port()}/graphql"
    gw = Gateway(load_supergraph(world_supergraph(urls)))
    try:
        result = await gw.execute('{ person(id: "p1") { name riskScore } }')
    finally:
        await gw.aclose()
    assert result["data"] == {"person": {"name": "Ada", "riskScore": None}}
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"
    assert error["path"] == ["person"]


async def test_slow_subgraph_times_out(world_sdl, world):
    world.subgraphs["health"].delay = 1.0
    gw = Gateway(load_supergraph(world_sdl), HTTPClient(timeout=0.2))
    try:
        result = await gw.execute('{ person(id: "p1") { name riskScore } }')
    finally:
        world.subgraphs["health"].delay = 0.0
        await gw.aclose()
    assert result["data"] == {"person": {"name": "Ada", "riskScore": None}}
    assert "no answer within" in result["errors"][0]["message"]


async def test_timeouts_can_be_set_per_subgraph(world_sdl, world):
    world.subgraphs["health"].delay = 0.5
    gw = Gateway(load_supergraph(world_sdl), HTTPClient(timeout=5), timeouts={"health": 0.1})
    try:
        result = await gw.execute(
            '{ person(id: "p1") { name riskScore } case(agency: "HS", number: 1) { status } }'
        )
    finally:
        world.subgraphs["health"].delay = 0.0
        await gw.aclose()
    assert result["data"] == {
        "person": {"name": "Ada", "riskScore": None},
        "case": {"status": "open"},
    }
    (error,) = result["errors"]
    assert "no answer within 0.1s" in error["message"]
    assert error["extensions"]["service"] == "health"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ person(id: ", "GRAPHQL_PARSE_FAILED"),
        ("{ person(id: 1) { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ person(id: "p1") { secret } }', "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { people { id } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_bad_operations_are_refused_with_a_code(gateway, world, query, code):
    with pytest.raises(RequestError) as caught:
        await gateway.execute(query)
    assert caught.value.code == code
    assert all(s.requests == [] for s in world.subgraphs.values())


async def test_invalid_variables_are_bad_user_input(gateway):
    with pytest.raises(RequestError) as caught:
        await gateway.execute("query($id: ID!) { person(id: $id) { name } }", variables={})
    assert caught.value.code == "BAD_USER_INPUT"


async def test_introspection_is_answered_from_the_api_schema(gateway, world):
    result = await gateway.execute('{ __type(name: "Person") { fields { name } } }')
    names = {f["name"] for f in result["data"]["__type"]["fields"]}
    assert {"name", "riskScore", "cases"} <= names
    assert "secret" not in names
    assert all(s.requests == [] for s in world.subgraphs.values())


@pytest.mark.parametrize(
    ("query", "name", "message"),
    [
        ("query A { agencyName } query B { agencyName }", None, "Must provide operation name"),
        ("query A { agencyName }", "B", "Unknown operation named 'B'"),
    ],
)
async def test_operation_selection_errors(gateway, query, name, message):
    with pytest.raises(RequestError, match=message) as caught:
        await gateway.execute(query, name)
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"


async def test_named_operation_is_selected(gateway):
    result = await gateway.execute(
        'query A { agencyName } query B { person(id: "p2") { name } }', "B"
    )
    assert result == {"data": {"person": {"name": "Grace"}}}


@pytest.mark.parametrize(
    ("limits", "query", "message"),
    [
        (Limits(max_depth=3), "{ people { cases { person { id } } } }", "deeper than 3"),
        (
            Limits(max_aliases=2),
            "{ a: agencyName b: agencyName c: agencyName }",
            "more than 2 aliases",
        ),
        (
            Limits(max_fields=4),
            "query { ...F ...F } fragment F on Query { people { id name } agencyName }",
            "more than 4 fields",
        ),
    ],
)
async def test_operation_limits_apply_before_planning(world_sdl, world, limits, query, message):
    gw = Gateway(load_supergraph(world_sdl), limits=limits)
    try:
        with pytest.raises(RequestError, match=message) as caught:
            await gw.execute(query)
        assert caught.value.code == "QUERY_TOO_COMPLEX"
        assert (await gw.execute("{ agencyName }"))["data"]["agencyName"]
    finally:
        await gw.aclose()
    assert sum(len(s.requests) for s in world.subgraphs.values()) == 1


async def test_introspection_beside_federated_fields(gateway):
    result = await gateway.execute(
        '{ person(id: "p1") { name } t: __type(name: "Case") { name } __typename }'
    )
    assert result == {
        "data": {"person": {"name": "Ada"}, "t": {"name": "Case"}, "__typename": "Query"}
    }
    assert list(result["data"]) == ["person", "t", "__typename"]
