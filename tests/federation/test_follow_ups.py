"""A root field that finds an entity by its key arguments, followed by an ``_entities`` fetch to
the same subgraph, costs one request when an entity preview says what the follow-up may select,
and the ``_entities`` fetches of other subgraphs for that object start beside it; the answer
must be exactly the one the planned requests would give."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from graphql import GraphQLError

from app.federation.compose import SubgraphSource, compose
from app.federation.executor import EntityDecision, EntityRequest
from app.federation.gateway import Gateway
from app.federation.planner import Options
from app.federation.supergraph import load_supergraph
from tests.federation.subgraphs import Subgraph, SubgraphServer

PEOPLE = {"p1": {"id": "p1", "name": "Ada"}, "p2": {"id": "p2", "name": "Grace"}}
# People health cannot answer for: one field fails (p3), or its whole answer (p4).
PATIENTS = {"p3": {"id": "p3", "name": "Mary"}, "p4": {"id": "p4", "name": "Edith"}}
# A retired id the registry's root field still answers, with the current record; its entity
# resolver knows the retired record, so a follow-up asked for the argument would be wrong.
RETIRED = {"old-p1": {"id": "old-p1", "name": "Ada (archived)"}}
CURRENT = {"old-p1": "p1"}

pytestmark = pytest.mark.anyio

FEDERATED = """extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { person(id: ID!): Person people: [Person!]! }
type Person @key(fields: "id") { id: ID! name: String }
"""


def _unreadable(_info) -> str:
    raise GraphQLError("the registry cannot read this name")


def _entity(rep: dict) -> dict | None:
    if rep["id"] == "broken":  # an error in one field of this entity only
        return {"id": "broken", "name": _unreadable}
    if rep["id"] == "crash":  # an error for the whole _entities field, nulling the answer
        raise GraphQLError("the registry is failing")
    return PEOPLE.get(rep["id"]) or RETIRED.get(rep["id"]) or PATIENTS.get(rep["id"])


def _person(_root, _info, id):
    if id in ("broken", "crash"):
        return {"__typename": "Person", "id": id}
    found = PEOPLE.get(CURRENT.get(id, id)) or PATIENTS.get(id)
    return {"__typename": "Person", **found} if found else None


HEALTH = """extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Person @key(fields: "id") { id: ID! diagnosis: String }
"""
DIAGNOSES = {"p1": "E11.9", "p2": "J45.909", "old-p1": "archived"}


def _health_entity(rep: dict) -> dict | None:
    if rep["id"] == "p3":
        return {"id": "p3", "diagnosis": _unreadable}
    if rep["id"] == "p4":
        raise GraphQLError("health is failing")
    found = DIAGNOSES.get(rep["id"])
    return {"id": rep["id"], "diagnosis": found} if found else None


def health() -> Subgraph:
    return Subgraph(
        "health",
        "type Query { _unused: String } type Person { id: ID! diagnosis: String }",
        entities={"Person": _health_entity},
    )


def registry() -> Subgraph:
    return Subgraph(
        "registry",
        """type Query { person(id: ID!): Person people: [Person!]! }
           type Person { id: ID! name: String }""",
        resolvers={
            "Query": {
                "person": _person,
                "people": lambda _r, _i: [{"__typename": "Person", **p} for p in PEOPLE.values()],
            }
        },
        entities={"Person": _entity},
    )


@pytest.fixture(scope="module")
def server() -> Iterator[SubgraphServer]:
    served = SubgraphServer([registry(), health()]).start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
async def gateway(server: SubgraphServer) -> AsyncIterator[Gateway]:
    """A gateway that fetches ``Person.name`` by key only (as enforcement plans it)."""
    server.reset()
    supergraph = load_supergraph(
        compose(
            [
                SubgraphSource("registry", server.url("registry"), FEDERATED),
                SubgraphSource("health", server.url("health"), HEALTH),
            ]
        )
    )
    gw = Gateway(supergraph, options=Options(entity_only=frozenset({("Person", "name")})))
    try:
        yield gw
    finally:
        await gw.aclose()


def _allow_everything(seen: list) -> object:
    async def preview(request: EntityRequest) -> EntityDecision:
        seen.append(request.representations)
        return EntityDecision([None] * len(request.representations))

    return preview


async def _twice(gateway: Gateway, server: SubgraphServer, query: str, variables=None):
    """The answer and the requests made, without and then with a preview."""
    requests = server.subgraphs["registry"].requests
    gateway.executor.entity_preview = None
    planned = await gateway.execute(query, variables=variables)
    planned_requests = list(requests)
    requests.clear()
    gateway.executor.entity_preview = _allow_everything([])
    shared = await gateway.execute(query, variables=variables)
    return planned, planned_requests, shared, list(requests)


async def test_a_key_argument_lets_the_follow_up_share_the_root_request(gateway, server):
    seen: list = []
    gateway.executor.entity_preview = _allow_everything(seen)
    query = "query($id: ID!) { person(id: $id) { name } }"
    body = await gateway.execute(query, variables={"id": "p1"})
    assert body == {"data": {"person": {"name": "Ada"}}}
    (request,) = server.subgraphs["registry"].requests
    assert "person(" in request["query"] and "_entities" in request["query"]
    assert request["variables"]["representations"] == [{"__typename": "Person", "id": "p1"}]
    assert seen == [[{"__typename": "Person", "id": "p1"}]]
    # A literal argument is predicted the same way.
    server.reset()
    assert await gateway.execute('{ person(id: "p2") { name } }') == {
        "data": {"person": {"name": "Grace"}}
    }
    assert len(server.subgraphs["registry"].requests) == 1


@pytest.mark.parametrize(
    ("query", "variables", "requests_planned", "requests_shared"),
    [
        ("query($id: ID!) { person(id: $id) { name } }", {"id": "p1"}, 2, 1),
        ("query($id: ID!) { person(id: $id) { id name } }", {"id": "nobody"}, 1, 1),
        # The root field answers another object than its argument names: the speculative
        # answer is dropped and the follow-up asks for the object that was found.
        ("query($id: ID!) { person(id: $id) { id name } }", {"id": "old-p1"}, 2, 2),
        # An error in the follow-up's part lands where the follow-up would have put it.
        ("query($id: ID!) { person(id: $id) { name } }", {"id": "broken"}, 2, 1),
        # An error that nulls the whole shared answer: both parts are asked again, apart.
        ("query($id: ID!) { person(id: $id) { name } }", {"id": "crash"}, 2, 3),
        # Not one field finding one object by key: planned as usual.
        ("{ people { name } }", None, 2, 2),
        ('{ a: person(id: "p1") { name } b: person(id: "p2") { name } }', None, 2, 2),
    ],
)
async def test_the_shared_request_answers_exactly_as_the_planned_ones(
    gateway, server, query, variables, requests_planned, requests_shared
):
    planned, planned_requests, shared, shared_requests = await _twice(
        gateway, server, query, variables
    )
    assert shared == planned
    assert len(planned_requests) == requests_planned
    assert len(shared_requests) == requests_shared


async def test_the_follow_up_for_another_object_asks_for_that_object(gateway, server):
    gateway.executor.entity_preview = _allow_everything([])
    body = await gateway.execute(
        "query($id: ID!) { person(id: $id) { id name } }", variables={"id": "old-p1"}
    )
    assert body == {"data": {"person": {"id": "p1", "name": "Ada"}}}  # not the archived one
    shared, follow_up = server.subgraphs["registry"].requests
    assert shared["variables"]["representations"] == [{"__typename": "Person", "id": "old-p1"}]
    assert follow_up["variables"]["representations"] == [{"__typename": "Person", "id": "p1"}]


async def test_without_a_preview_answer_the_follow_up_waits_for_the_key(gateway, server):
    async def cannot_say(request: EntityRequest) -> None:
        return None

    gateway.executor.entity_preview = cannot_say
    body = await gateway.execute(
        "query($id: ID!) { person(id: $id) { name } }", variables={"id": "p1"}
    )
    assert body == {"data": {"person": {"name": "Ada"}}}
    root, follow_up = server.subgraphs["registry"].requests
    assert "_entities" not in root["query"] and not re.search(r"\bname\b", root["query"])
    assert follow_up["variables"]["representations"] == [{"__typename": "Person", "id": "p1"}]


def _in_order(body: dict) -> dict:
    """``body`` with its errors sorted by path (GraphQL gives errors no order)."""
    errors = sorted(body.get("errors", []), key=lambda e: (e.get("path") or [], e["message"]))
    return {**body, "errors": errors} if errors else body


def _sent(server: SubgraphServer) -> dict[str, list[list]]:
    """Per subgraph, the representations each request carried ([] for a root request)."""
    return {
        name: [(r.get("variables") or {}).get("representations", []) for r in sub.requests]
        for name, sub in server.subgraphs.items()
    }


@pytest.mark.parametrize(
    ("person", "planned_requests", "previewed_requests"),
    [
        # Everyone asked at once: the registry's shared request and health's beside it.
        (
            "p1",
            {"registry": [[], ["p1"]], "health": [["p1"]]},
            {"registry": [["p1"]], "health": [["p1"]]},
        ),
        # Nobody found: health's early answer is dropped, nothing of it reaches the client.
        (
            "nobody",
            {"registry": [[]], "health": []},
            {"registry": [["nobody"]], "health": [["nobody"]]},
        ),
        # The root field finds another object than its argument names: health's early answer
        # (for the argument) is dropped and health is asked about the object found.
        (
            "old-p1",
            {"registry": [[], ["p1"]], "health": [["p1"]]},
            {"registry": [["old-p1"], ["p1"]], "health": [["old-p1"], ["p1"]]},
        ),
        # An error in health's part lands where the planned request would have put it.
        (
            "p3",
            {"registry": [[], ["p3"]], "health": [["p3"]]},
            {"registry": [["p3"]], "health": [["p3"]]},
        ),
        # An error that nulls health's whole answer: health is asked again, as planned, so the
        # failure is reported once.
        (
            "p4",
            {"registry": [[], ["p4"]], "health": [["p4"]]},
            {"registry": [["p4"]], "health": [["p4"], ["p4"]]},
        ),
    ],
)
async def test_other_subgraphs_follow_ups_start_beside_the_root_request(
    gateway, server, person, planned_requests, previewed_requests
):
    query = "query($id: ID!) { person(id: $id) { name diagnosis } }"
    gateway.executor.entity_preview = None
    planned = await gateway.execute(query, variables={"id": person})
    planned_sent = _sent(server)
    server.reset()
    gateway.executor.entity_preview = _allow_everything([])
    previewed = await gateway.execute(query, variables={"id": person})
    assert _in_order(previewed) == _in_order(planned)
    ids = {
        name: [[rep["id"] for rep in reps] for reps in sent] for name, sent in _sent(server).items()
    }
    assert ids == previewed_requests
    assert {
        name: [[rep["id"] for rep in reps] for reps in sent] for name, sent in planned_sent.items()
    } == planned_requests


async def test_a_follow_up_the_preview_cannot_answer_for_waits_for_the_key(gateway, server):
    async def only_the_registry(request: EntityRequest) -> EntityDecision | None:
        if "diagnosis" in {node.name for node in request.fetch.sel.fields.values()}:
            return None
        return EntityDecision([None] * len(request.representations))

    gateway.executor.entity_preview = only_the_registry
    body = await gateway.execute(
        "query($id: ID!) { person(id: $id) { id name diagnosis } }", variables={"id": "old-p1"}
    )
    assert body == {"data": {"person": {"id": "p1", "name": "Ada", "diagnosis": "E11.9"}}}
    # Health is asked once, after the root field, about the object it found.
    assert [r["variables"]["representations"] for r in server.subgraphs["health"].requests] == [
        [{"__typename": "Person", "id": "p1"}]
    ]


async def test_a_failed_call_beside_the_root_is_reported_once_and_not_repeated(server):
    server.reset()
    supergraph = load_supergraph(
        compose(
            [
                SubgraphSource("registry", server.url("registry"), FEDERATED),
                SubgraphSource("health", "http://127.0.0.1:1/graphql", HEALTH),  # refused
            ]
        )
    )
    gateway = Gateway(supergraph, options=Options(entity_only=frozenset({("Person", "name")})))
    try:
        query = "query($id: ID!) { person(id: $id) { name diagnosis } }"
        planned = await gateway.execute(query, variables={"id": "p1"})
        planned_calls = gateway.executor.subgraph_requests
        gateway.executor.entity_preview = _allow_everything([])
        previewed = await gateway.execute(query, variables={"id": "p1"})
    finally:
        await gateway.aclose()
    assert _in_order(previewed) == _in_order(planned)
    (error,) = previewed["errors"]
    assert error["path"] == ["person"]  # where the object health was to complete is
    assert error["extensions"]["service"] == "health"
    # Planned: root, registry's follow-up, health. Previewed: the shared request and health.
    assert planned_calls == 3 and gateway.executor.subgraph_requests - planned_calls == 2


@pytest.mark.parametrize(
    ("person", "decided"),
    [("p1", [["p1"]]), ("nobody", []), ("old-p1", [["p1"]])],
)
async def test_the_entity_hook_only_decides_on_objects_the_root_field_found(
    gateway, server, person, decided
):
    """The hook is where enforcement decides and records a disclosure: an early answer for
    an object the root field did not return must never reach it (nor the client)."""
    seen: list = []

    async def hook(request: EntityRequest) -> EntityDecision:
        if request.fetch.service == "health":
            seen.append([rep["id"] for rep in request.representations])
        return EntityDecision([None] * len(request.representations))

    gateway.executor.entity_preview = _allow_everything([])
    gateway.executor.entity_hook = hook
    body = await gateway.execute(
        "query($id: ID!) { person(id: $id) { id diagnosis } }", variables={"id": person}
    )
    assert seen == decided
    assert "archived" not in str(body)  # old-p1's own diagnosis is never released
