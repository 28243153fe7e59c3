"""Loading supergraphs and deriving the API schema."""

from __future__ import annotations

import pytest
from graphql import print_schema

from app.federation.api_schema import build_api_schema
from app.federation.errors import SupergraphError
from app.federation.supergraph import load_supergraph, load_supergraph_file
from tests.federation.subgraphs import supergraph_sdl
from tests.federation.world import world_supergraph

URLS = {"people": "http://127.0.0.1:1/p", "health": "http://127.0.0.1:1/h", "cases": "http://1/c"}


def test_model_reads_graphs_keys_and_field_joins():
    sg = load_supergraph(world_supergraph(URLS))
    assert {g.name for g in sg.graphs.values()} == {"people", "health", "cases"}
    assert sg.graphs["HEALTH"].url == "http://127.0.0.1:1/h"
    case = sg.types["Case"]
    assert [k.fields for k in case.graphs["CASES"].keys] == ["agency number"]
    person = sg.types["Person"]
    assert person.fields["riskScore"].graphs["HEALTH"].requires is not None
    assert person.fields["name"].graphs["CASES"].external
    assert person.fields["secret"].inaccessible
    # A field without @join__field belongs to every graph that defines its type.
    assert set(person.fields["id"].graphs) == {"PEOPLE", "HEALTH", "CASES"}
    assert sg.graph_possible_types("Node", "PEOPLE") == ["Person", "Office"]


def test_directive_applications_stay_available():
    body = """
    type Query @join__type(graph: A) { person: Person }
    type Person @join__type(graph: A, key: "id") @subject {
      id: ID!
      diagnosis: String @dataCategory(name: "health.diagnosis")
    }
    """
    sg = load_supergraph(supergraph_sdl({"a": "http://127.0.0.1:1/a"}, body))
    person = sg.types["Person"]
    assert [d.name.value for d in person.directives] == ["join__type", "subject"]
    (category,) = [d for d in person.fields["diagnosis"].directives if d.name.value != "x"]
    assert category.name.value == "dataCategory"


def test_api_schema_drops_federation_machinery_and_inaccessible_elements():
    schema = build_api_schema(load_supergraph(world_supergraph(URLS)))
    text = print_schema(schema)
    assert "join__" not in text and "link__" not in text and "@" not in text
    assert "secret" not in schema.get_type("Person").fields
    assert "riskScore" in schema.get_type("Person").fields
    assert schema.mutation_type is not None


def test_inaccessible_enum_values_and_types_are_hidden():
    body = """
    type Query @join__type(graph: A) { kind: Kind hidden: Hidden @inaccessible }
    enum Kind @join__type(graph: A) { OPEN SEALED @inaccessible }
    type Hidden @join__type(graph: A) @inaccessible { x: Int }
    """
    schema = build_api_schema(load_supergraph(supergraph_sdl({"a": "http://1/a"}, body)))
    assert list(schema.get_type("Kind").values) == ["OPEN"]
    assert schema.get_type("Hidden") is None
    assert "hidden" not in schema.query_type.fields


@pytest.mark.parametrize(
    ("sdl", "message"),
    [
        ("type Query {", "not valid GraphQL SDL"),
        ("type Query { a: Int }", "no schema definition"),
        (
            'schema @link(url: "https://specs.apollo.dev/link/v1.0") { query: Query }\n'
            "type Query { a: Int }",
            "join specification",
        ),
        (
            'schema @link(url: "https://specs.apollo.dev/join/v0.3") { query: Query }\n'
            "type Query @join__type(graph: A) { a: Int }",
            "defines no subgraphs",
        ),
        (
            supergraph_sdl({"a": "http://1/a"}, "type Query @join__type(graph: B) { a: Int }"),
            "unknown graph 'B'",
        ),
        (
            supergraph_sdl(
                {"a": "http://1/a"},
                "type Query @join__type(graph: A) { t: T }\n"
                'type T @join__type(graph: A, key: "id {") { id: ID }',
            ),
            "not a valid field set",
        ),
        (
            supergraph_sdl({"a": "http://1/a"}, "type Query @join__type(graph: A) { t: X }"),
            "unknown type X",
        ),
    ],
)
def test_malformed_supergraphs_are_refused_clearly(sdl, message):
    with pytest.raises(SupergraphError, match=message):
        load_supergraph(sdl)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SupergraphError, match="cannot read supergraph"):
        load_supergraph_file(tmp_path / "nope.graphql")
