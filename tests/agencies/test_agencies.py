"""The four demo agencies as real HTTP servers: SDL, joins by shared id, the token gate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from graphql import get_named_type

from app.federation.compose import SubgraphSource, compose
from examples.agencies import AGENCY_NAMES, create_agency_app
from examples.agencies.base import agency_schema
from examples.people import Population
from schema.directives import SPEC_URL, read_all, read_annotations
from tests.agencies.conftest import Agencies, ServerThread
from tests.support import ROOT

SERVICE = "{ _service { sdl } }"
ENTITIES = """
query ($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Person { id %s } }
}
"""


def entities(agencies: Agencies, agency: str, ids: list[str], fields: str) -> list[dict | None]:
    representations = [{"__typename": "Person", "id": pid} for pid in ids]
    data = agencies.query(agency, ENTITIES % fields, {"representations": representations})
    return data["_entities"]


def service_sdl(agencies: Agencies, agency: str) -> str:
    return agencies.query(agency, SERVICE)["_service"]["sdl"]


EXPECTED_CATEGORIES = {
    "health": {
        "encounters": "health.encounter",
        "diagnoses": "health.diagnosis",
        "medications": "health.medication",
        "behavioralHealth": "health.behavioral",
        "substanceUseTreatment": "health.substance_use",
        "psychotherapyNotes": "health.psychotherapy_notes",
    },
    "education": {
        "enrolment": "education.enrolment",
        "attendance": "education.attendance",
        "grades": "education.grades",
        "specialEducationPlan": "education.special_education",
        "dateOfBirth": "identity.basic",
    },
    "human_services": {
        "givenName": "identity.basic",
        "address": "identity.contact",
        "benefits": "human_services.benefits",
        "housing": "human_services.housing",
        "childWelfareCase": "human_services.child_welfare",
        "caseNotes": "human_services.case_notes",
    },
    "courts": {
        "courtCases": "court.case",
        "juvenileRecords": "court.juvenile",
        "courtOrders": "court.order",
    },
}


@pytest.mark.parametrize("agency", AGENCY_NAMES)
def test_service_sdl_carries_accords_directives(agencies: Agencies, agency: str) -> None:
    sdl = service_sdl(agencies, agency)
    assert f'@link(url: "{SPEC_URL}", import: ["@dataCategory", "@subject"])' in sdl
    assert '@composeDirective(name: "@subject")' in sdl
    assert '@composeDirective(name: "@dataCategory")' in sdl
    assert 'type Person @subject @key(fields: "id")' in sdl
    annotations = read_annotations(sdl)
    assert annotations.subjects == {"Person"}
    for field_name, category in EXPECTED_CATEGORIES[agency].items():
        assert annotations.category("Person", field_name) == category, field_name


def test_the_four_agencies_compose_and_keep_their_directives(agencies: Agencies) -> None:
    sources = [
        SubgraphSource(name, f"{agencies.servers[name].url}/graphql", service_sdl(agencies, name))
        for name in AGENCY_NAMES
    ]
    supergraph = compose(sources)
    assert f'@link(url: "{SPEC_URL}", import: ["@subject", "@dataCategory"])' in supergraph
    from_supergraph = read_annotations(supergraph)
    from_subgraphs = read_all(source.sdl for source in sources)
    assert from_supergraph.subjects == {"Person"}
    for agency_fields in EXPECTED_CATEGORIES.values():
        for field_name, category in agency_fields.items():
            assert from_supergraph.category("Person", field_name) == category
            assert from_subgraphs.category("Person", field_name) == category
    assert from_supergraph.category("SubstanceUseTreatment", "program") == "health.substance_use"


def test_people_found_at_human_services_resolve_at_every_agency(
    agencies: Agencies, people: Population
) -> None:
    page = agencies.query(
        "human_services", "{ people(first: 40) { nodes { id givenName dateOfBirth } endCursor } }"
    )["people"]
    ids = [node["id"] for node in page["nodes"]]
    assert ids == people.ids(0, 40) and page["endCursor"] == ids[-1]

    # One _entities call per agency resolves the whole batch, in order, by the shared ids.
    health = entities(agencies, "health", ids, "diagnoses { code } substanceUseTreatment { code }")
    education = entities(agencies, "education", ids, "dateOfBirth enrolment { school }")
    courts = entities(agencies, "courts", ids, "juvenileRecords { sealed }")
    for node, h, e, c in zip(page["nodes"], health, education, courts, strict=True):
        pid = node["id"]
        assert h["id"] == e["id"] == c["id"] == pid
        assert node["givenName"] == people.person(pid).given_name
        # The date of birth is shared: both agencies that hold it agree.
        assert (
            e["dateOfBirth"] == node["dateOfBirth"] == people.person(pid).date_of_birth.isoformat()
        )
        codes = [d.code for d in people.health(pid).diagnoses]
        assert (h["diagnoses"] or []) == [{"code": code} for code in codes]
        enrolment = people.education(pid).enrolment
        assert e["enrolment"] == (None if enrolment is None else {"school": enrolment.school})


def test_absent_records_are_null_not_empty(agencies: Agencies, people: Population) -> None:
    without = people.find(lambda p: not people.health(p).substance_use_treatment)[0]
    with_treatment = people.find(lambda p: bool(people.health(p).substance_use_treatment))[0]
    found = entities(
        agencies, "health", [without, with_treatment], "substanceUseTreatment { program }"
    )
    assert found[0]["substanceUseTreatment"] is None
    treatment = people.health(with_treatment).substance_use_treatment[0]
    assert found[1]["substanceUseTreatment"] == [{"program": treatment.program}]


def test_sealed_and_foster_care_flags_come_through(agencies: Agencies, people: Population) -> None:
    sealed = people.find(lambda p: any(r.sealed for r in people.courts(p).juvenile_records))
    foster = people.find(
        lambda p: (
            bool(people.human_services(p).child_welfare_case)
            and people.human_services(p).child_welfare_case.in_foster_care
        )
    )
    assert sealed and foster, "the test population should hold both"
    records = entities(agencies, "courts", sealed, "juvenileRecords { sealed caseNumber }")
    assert any(r["sealed"] for r in records[0]["juvenileRecords"])
    cases = entities(agencies, "human_services", foster, "childWelfareCase { inFosterCare }")
    assert cases[0]["childWelfareCase"] == {"inFosterCare": True}


def test_unknown_people_resolve_to_null(agencies: Agencies) -> None:
    assert entities(agencies, "health", ["P999999", "nobody"], "diagnoses { code }") == [None, None]
    assert agencies.query("human_services", '{ person(id: "P999999") { id } }') == {"person": None}


def test_root_fields_find_people(agencies: Agencies, people: Population) -> None:
    school = "Stonebridge High School"
    query = "query ($school: String!) { students(school: $school, first: 5) { id } }"
    found = agencies.query("education", query, {"school": school})
    ids = [s["id"] for s in found["students"]]
    assert ids and all(people.education(pid).enrolment.school == school for pid in ids)
    page = agencies.query(
        "human_services", '{ people(first: 2, after: "P000397") { nodes { id } hasNextPage } }'
    )
    assert page["people"] == {"nodes": [{"id": "P000398"}, {"id": "P000399"}], "hasNextPage": False}
    bad = agencies.post("human_services", '{ people(after: "zzz") { totalCount } }').json()
    assert "after must be a person id" in bad["errors"][0]["message"]
    for agency, query in (
        ("education", '{ students(school: "Hogwarts") { id } }'),
        ("health", '{ patients(facility: "Nowhere Clinic") { id } }'),
        ("courts", '{ docket(court: "Star Chamber") { id } }'),
    ):
        error = agencies.post(agency, query).json()["errors"][0]
        assert error["message"].startswith("unknown "), error
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    facility = "Fairhaven Urgent Care"
    patients = agencies.query(
        "health", f'{{ patients(facility: "{facility}", first: 3) {{ id }} }}'
    )
    assert len(patients["patients"]) == 3
    for patient in patients["patients"]:
        assert any(e.facility == facility for e in people.health(patient["id"]).encounters)


PERSON_QUERY = (
    '{ _entities(representations: [{__typename: "Person", id: "P000001"}]) { __typename } }'
)


def test_requests_without_a_valid_gateway_token_are_refused(
    agencies: Agencies, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{agencies.servers['health'].url}/graphql"
    now = int(time.time())
    expired = agencies.token("health", issued_at=now - 900, expires_at=now - 800)
    refusals = {
        "missing": {},
        "not bearer": {"authorization": f"Basic {agencies.token('health')}"},
        "wrong audience": {"authorization": f"Bearer {agencies.token('courts')}"},
        "wrong key": {
            "authorization": f"Bearer {agencies.token('health', key=Ed25519PrivateKey.generate())}"
        },
        "expired": {"authorization": f"Bearer {expired}"},
    }
    for reason, headers in refusals.items():
        response = agencies.client.post(url, json={"query": PERSON_QUERY}, headers=headers)
        assert response.status_code == 401, reason
        body = response.json()
        assert body["data"] is None, reason
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", reason
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Each refusal is logged with its reason, never with the token.
    refused = [r.getMessage() for r in caplog.records if r.name == "accord.subgraph_auth"]
    assert len(refused) == len(refusals)
    assert any("expired" in message for message in refused)
    tokens = [h["authorization"].split()[1] for h in refusals.values() if h]
    assert not any(token in message for token in tokens for message in refused)
    # A GET is refused the same way; the health check stays open for orchestrators.
    assert agencies.client.get(url, params={"query": PERSON_QUERY}).status_code == 401
    health = agencies.client.get(f"{agencies.servers['health'].url}/healthz")
    assert health.status_code == 200 and health.json()["agency"] == "health"


@pytest.mark.parametrize(
    "query",
    [
        "{ _service { sdl } facilities }",
        '{ _service { sdl } _entities(representations: [{__typename: "Person", id: "P000001"}])'
        " { __typename } }",
        "{ s: _service { sdl } ...more } fragment more on Query { facilities }",
        "mutation { _service { sdl } }",
        "{ _service { sdl } } query Other { facilities }",
        "{ _service @include(if: true) { sdl } }",
        "{ _service { sdl",
    ],
)
def test_only_the_bare_sdl_query_is_public(agencies: Agencies, query: str) -> None:
    url = f"{agencies.servers['health'].url}/graphql"
    assert agencies.client.post(url, json={"query": query}).status_code == 401
    padded = {"query": "{ _service { sdl } }", "pad": "x" * 5000}
    assert agencies.client.post(url, json=padded).status_code == 401


def test_the_bare_sdl_query_is_public_so_accord_compose_can_read_it(agencies: Agencies) -> None:
    args = []
    for name in AGENCY_NAMES:
        args += ["--subgraph", name, f"{agencies.servers[name].url}/graphql"]
    result = subprocess.run(
        [sys.executable, "-m", "app", "compose", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert read_annotations(result.stdout).category("Person", "diagnoses") == "health.diagnosis"


def test_a_chunked_sdl_request_reaches_the_schema_intact(agencies: Agencies) -> None:
    body = json.dumps({"query": "{ _service { sdl } }"}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    url = f"{agencies.servers['education'].url}/graphql"
    response = agencies.client.post(
        url, content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert "specialEducationPlan" in response.json()["data"]["_service"]["sdl"]


def test_a_private_sdl_needs_a_token_too(
    gateway_key: Ed25519PrivateKey, people: Population
) -> None:
    app = create_agency_app(
        "courts", people=people, gateway_keys=[gateway_key.public_key()], public_sdl=False
    )
    server = ServerThread(app).start()
    try:
        response = httpx.post(f"{server.url}/graphql", json={"query": SERVICE}, timeout=10)
        assert response.status_code == 401
    finally:
        server.stop()


def test_agency_can_hold_the_gateway_to_the_permitted_fields(
    gateway_key: Ed25519PrivateKey, people: Population
) -> None:
    app = create_agency_app(
        "health",
        people=people,
        gateway_keys=[gateway_key.public_key()],
        enforce_permitted_fields=True,
    )
    server = ServerThread(app).start()
    try:
        with httpx.Client(timeout=10) as client:
            helper = Agencies({"health": server}, gateway_key, client)
            pid = people.find(lambda p: bool(people.health(p).diagnoses))[0]
            query = ENTITIES % "diagnoses { code } medications { name }"
            variables = {"representations": [{"__typename": "Person", "id": pid}]}
            token = helper.token("health", fields=("Person.diagnoses",))
            body = helper.post("health", query, variables, token=token).json()
            entity = body["data"]["_entities"][0]
            assert entity["diagnoses"] and entity["medications"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
            assert body["errors"][0]["path"] == ["_entities", 0, "medications"]
    finally:
        server.stop()


def test_an_agency_refuses_to_run_without_the_gateway_key() -> None:
    with pytest.raises(ValueError, match="needs the gateway's public key"):
        create_agency_app("courts", people=10)
    with pytest.raises(ValueError, match="unknown agency 'police'"):
        create_agency_app("police", people=10, require_gateway_token=False)


def full_selection(graphql_type: Any) -> str:
    """Every field of ``graphql_type``, recursively (the demo types have no cycles)."""
    named = get_named_type(graphql_type)
    if not hasattr(named, "fields"):
        return ""
    parts = []
    for name, field in named.fields.items():
        if field.args:
            continue
        parts.append(name + full_selection(field.type))
    return " { " + " ".join(parts) + " }"


@pytest.mark.parametrize("agency", AGENCY_NAMES)
def test_every_field_resolves_for_every_kind_of_person(
    agencies: Agencies, people: Population, agency: str
) -> None:
    schema = agency_schema(agency)
    selection = full_selection(schema._schema.type_map["Person"])[3:-2]
    ids = sorted(set(people.notable().values()) | set(people.ids(0, 60)))
    found = entities(agencies, agency, ids, selection)
    assert [entity["id"] for entity in found] == ids
    populated = {name for entity in found for name, value in entity.items() if value is not None}
    # Across these people every field of the agency holds something somewhere.
    assert populated == set(schema._schema.type_map["Person"].fields)
