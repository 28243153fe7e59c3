"""Query plans, plan caching, the `accord plan` command and the consent-enforcement seams."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.federation.executor import EntityDecision, EntityRequest
from app.federation.gateway import Gateway
from app.federation.planner import Options
from app.federation.response import materialize
from app.federation.supergraph import load_supergraph
from tests.federation.world import world_supergraph
from tests.support import ROOT

URLS = {n: f"http://127.0.0.1:9/{n}" for n in ("people", "health", "cases")}


@pytest.fixture
def offline() -> Gateway:
    """A gateway for planning only (its subgraph URLs are never called)."""
    return Gateway(load_supergraph(world_supergraph(URLS)))


def test_requires_plan_fetches_the_required_field_first(offline):
    plan = offline.plan('{ person(id: "p1") { riskScore } }', None)
    root, entity = plan.fetches
    assert (root.service, root.kind) == ("people", "root")
    assert "birthYear" in root.query and "__typename" in root.query
    assert (entity.service, entity.kind, entity.deps) == ("health", "entity", (root.id,))
    assert "...on Person{riskScore}" in entity.query
    assert [n.name for n in entity.inputs.fields.values()] == ["__typename", "id", "birthYear"]


def test_provided_fields_stay_in_the_providing_subgraph(offline):
    plan = offline.plan('{ case(agency: "HS", number: 1) { person { name } } }', None)
    assert [f.service for f in plan.fetches] == ["cases"]


def test_independent_fetches_share_a_level_and_same_subgraph_fetches_are_batched(offline):
    plan = offline.plan(
        "{ people { conditions { code } cases { urgent } } topPatients { id } }", None
    )
    levels = [[[f.service for f in batch] for batch in level] for level in plan.schedule]
    assert sorted(levels[0]) == [["health"], ["people"]]
    # conditions (health) and cases (cases) run side by side after the people fetch.
    assert sorted(levels[1]) == [["cases"], ["health"]]
    assert levels[2] == [["health"]]


def test_mutation_fields_are_planned_as_serial_stages(offline):
    plan = offline.plan(
        'mutation { a: closeCase(agency: "HS", number: 1) { status } '
        'b: closeCase(agency: "HS", number: 2) { urgent } }',
        None,
    )
    stages = [f.stage for f in plan.fetches]
    assert stages == sorted(stages) and len(set(stages)) == 2
    assert [f.kind for f in plan.fetches] == ["root", "entity", "root"] or [
        f.kind for f in plan.fetches
    ] == ["root", "root", "entity"]


def test_plans_are_cached_per_operation_and_conditions(offline):
    query = "query($x: Boolean!) { person(id: 1) { name riskScore @include(if: $x) } }"
    first = offline.plan(query, None, {"x": True})
    assert offline.plan(query, None, {"x": True}) is first
    other = offline.plan(query, None, {"x": False})
    assert other is not first
    assert len(other.fetches) == 1 and len(first.fetches) == 2


def test_describe_renders_sequence_parallel_flatten(offline):
    text = offline.plan('{ person(id: "p1") { riskScore cases { urgent } } }', None).describe()
    assert text.startswith("QueryPlan {")
    assert 'Flatten(path: "person")' in text and "Parallel {" in text
    assert 'Fetch(service: "health")' in text


def test_entity_only_forces_fields_through_entities(offline):
    plain = offline.plan('{ person(id: "p1") { name } }', None)
    assert len(plain.fetches) == 1
    guarded = Gateway(
        offline.supergraph, options=Options(entity_only=frozenset({("Person", "name")}))
    )
    root, entity = guarded.plan('{ person(id: "p1") { name } }', None).fetches
    assert root.query == 'query{person(id: "p1"){id __typename}}'
    assert (entity.service, entity.kind) == ("people", "entity")
    assert "...on Person{name}" in entity.query


@pytest.mark.anyio
async def test_entity_hook_limits_fields_per_representation(world_sdl, world):
    seen: list[EntityRequest] = []

    async def hook(request: EntityRequest) -> EntityDecision:
        seen.append(request)
        allowed = []
        errors = []
        for rep, owned in zip(request.representations, request.owners, strict=True):
            if rep["id"] == "p2":
                allowed.append(frozenset({"name"}))
                for _, chain in owned:
                    errors.append(
                        {
                            "message": "withheld",
                            "path": [*materialize(chain), "birthYear"],
                            "extensions": {"code": "CONSENT_REQUIRED"},
                        }
                    )
            else:
                allowed.append(None)
        return EntityDecision(allowed, errors)

    gw = Gateway(
        load_supergraph(world_sdl),
        options=Options(entity_only=frozenset({("Person", "name"), ("Person", "birthYear")})),
        entity_hook=hook,
    )
    try:
        result = await gw.execute("{ people { id name birthYear } }")
    finally:
        await gw.aclose()
    assert result["data"]["people"] == [
        {"id": "p1", "name": "Ada", "birthYear": 1980},
        {"id": "p2", "name": "Grace", "birthYear": None},
        {"id": "p3", "name": "Linus", "birthYear": None},
    ]
    (request,) = seen
    assert [f.name for f in request.fetch.sel.fields.values()] == ["name", "birthYear"]
    assert [r["id"] for r in request.representations] == ["p1", "p2", "p3"]
    assert result["errors"] == [
        {
            "message": "withheld",
            "path": ["people", 1, "birthYear"],
            "extensions": {"code": "CONSENT_REQUIRED"},
        }
    ]
    # p2 went to the subgraph in its own call that does not select the withheld field.
    calls = world.subgraphs["people"].requests[1:]
    assert len(calls) == 2
    for call in calls:
        ids = [rep["id"] for rep in call["variables"]["representations"]]
        assert ("p2" in ids) == ("birthYear" not in call["query"])


def test_plan_command_prints_a_plan(tmp_path):
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(world_supergraph(URLS))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "plan",
            "--supergraph",
            str(supergraph),
            '{ person(id: "p1") { riskScore } }',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert 'Fetch(service: "people")' in done.stdout
    assert 'Flatten(path: "person")' in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "app", "plan", "--supergraph", str(supergraph), "{ nope }"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "GRAPHQL_VALIDATION_FAILED" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.anyio
async def test_entity_fetches_of_one_level_share_a_request_with_or_without_a_hook(world_sdl, world):
    query = '{ person(id: "p1") { conditions { code } } openCases { urgent } }'
    calls: list[str] = []

    async def hook(request: EntityRequest) -> None:
        calls.append(request.fetch.rep_type)
        return None

    for entity_hook in (None, hook):
        world.reset()
        gw = Gateway(load_supergraph(world_sdl), entity_hook=entity_hook)
        try:
            result = await gw.execute(query)
        finally:
            await gw.aclose()
        assert result["data"]["openCases"] == [{"urgent": True}, {"urgent": False}]
        (request,) = world.subgraphs["health"].requests
        assert "_0:_entities" in request["query"] and "_1:_entities" in request["query"]
    assert sorted(calls) == ["Case", "Person"]


def test_entity_only_fields_are_not_taken_from_provides(offline):
    query = '{ case(agency: "HS", number: 1) { person { name } } }'
    assert [f.service for f in offline.plan(query, None).fetches] == ["cases"]
    guarded = Gateway(
        offline.supergraph, options=Options(entity_only=frozenset({("Person", "name")}))
    )
    root, entity = guarded.plan(query, None).fetches
    assert root.service == "cases" and "name" not in root.query.replace("__typename", "")
    assert (entity.service, entity.kind) == ("people", "entity")
