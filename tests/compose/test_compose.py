"""Composition: supergraph metadata for every federation directive, Fed1 input, and errors.

The ``expected.graphql`` files beside the fixtures are the supergraphs Apollo's composition
(``@apollo/composition`` 2.14) produces for the same subgraphs; Accord's output must mean the
same thing (compared definition by definition, ignoring order).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import DocumentNode, build_ast_schema, parse, print_ast

from app.federation.compose import CompositionError, SubgraphSource, compose, compose_with_hints
from app.federation.compose_compare import supergraph_differences
from tests.compose.cases import ERROR_CASES, FED2, HINTED

FIXTURES = Path(__file__).parent / "fixtures"


def load(directory: str) -> list[SubgraphSource]:
    return [
        SubgraphSource(path.stem, f"http://127.0.0.1/{path.stem}", path.read_text())
        for path in sorted((FIXTURES / directory).glob("*.graphql"))
        if path.stem != "expected"
    ]


def field_line(supergraph: str, type_name: str, field: str) -> str:
    lines = supergraph.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"type {type_name}"))
    for line in lines[start:]:
        if line.strip().startswith(f"{field}:") or line.strip().startswith(f"{field}("):
            return line.strip()
        if line == "}":
            break
    raise AssertionError(f"{type_name}.{field} not in supergraph")


def type_head(supergraph: str, keyword: str, name: str) -> str:
    lines = supergraph.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{keyword} {name}"))
    head = []
    for line in lines[start:]:
        if line in ("{", "}") or line.startswith(" = "):
            break
        head.append(line.strip())
    return " ".join(head)


@pytest.fixture(scope="module")
def fed2() -> str:
    return compose(load("fed2"))


def test_fed2_supergraph_means_what_apollo_composes(fed2: str) -> None:
    expected = (FIXTURES / "fed2" / "expected.graphql").read_text()
    assert supergraph_differences(fed2, expected) == []


def test_supergraph_is_valid_graphql(fed2: str) -> None:
    schema = build_ast_schema(parse(fed2))
    assert schema.query_type is not None and schema.query_type.name == "Query"


def test_links_and_graphs(fed2: str) -> None:
    head = fed2.split("{", 1)[0]
    assert '@link(url: "https://specs.apollo.dev/link/v1.0")' in head
    # overrideLabel needs join v0.4, so a Fed 2.7 subgraph lifts the join version
    assert '@link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION)' in head
    assert '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)' in head
    assert '@link(url: "https://registry.example/audit/v1.0", import: ["@sensitive"])' in head
    assert 'CASES @join__graph(name: "cases", url: "http://127.0.0.1/cases")' in fed2
    assert 'STAFF @join__graph(name: "staff", url: "http://127.0.0.1/staff")' in fed2


def test_join_type_keys_extension_resolvable_interface_object(fed2: str) -> None:
    person = type_head(fed2, "type", "Person")
    assert '@join__type(graph: PEOPLE, key: "id")' in person
    assert '@join__type(graph: PEOPLE, key: "nationalId")' in person
    assert '@join__type(graph: CASES, key: "id", extension: true)' in person
    worker = type_head(fed2, "type", "Worker")
    assert '@join__type(graph: CASES, key: "staffId", resolvable: false)' in worker
    node = type_head(fed2, "interface", "Node")
    assert '@join__type(graph: STAFF, key: "id", isInterfaceObject: true)' in node
    query = type_head(fed2, "type", "Query")
    for graph in ("CASES", "PEOPLE", "STAFF"):
        assert f"@join__type(graph: {graph})" in query


def test_join_field_arguments(fed2: str) -> None:
    assert "@join__field(graph: CASES, external: true)" in field_line(fed2, "Person", "name")
    assert '@join__field(graph: CASES, requires: "name")' in field_line(fed2, "Person", "riskLevel")
    assert '@join__field(graph: CASES, provides: "name")' in field_line(fed2, "Case", "subject")
    version = field_line(fed2, "Query", "version")
    assert version.startswith("version: String ")  # the more general of String and String!
    assert '@join__field(graph: PEOPLE, type: "String!")' in version
    city = field_line(fed2, "Office", "city")
    assert "@join__field(graph: PEOPLE, usedOverridden: true)" in city
    assert '@join__field(graph: STAFF, override: "people")' in city
    birth_year = field_line(fed2, "Person", "birthYear")
    assert 'override: "cases", overrideLabel: "percent(25)"' in birth_year
    assert '@join__field(graph: CASES, overrideLabel: "percent(25)")' in birth_year


def test_fields_resolved_everywhere_need_no_join_field(fed2: str) -> None:
    assert field_line(fed2, "Person", "id") == "id: ID!"


def test_implements_union_members_and_enum_values(fed2: str) -> None:
    person = type_head(fed2, "type", "Person")
    assert person.startswith("type Person implements Node")
    assert '@join__implements(graph: PEOPLE, interface: "Node")' in person
    union = type_head(fed2, "union", "SearchResult")
    assert '@join__unionMember(graph: CASES, member: "Case")' in union
    assert '@join__unionMember(graph: PEOPLE, member: "Office")' in union
    assert "= Case | Person | Office" in fed2
    assert "ACTIVE @join__enumValue(graph: CASES) @join__enumValue(graph: PEOPLE)" in fed2


def test_input_types_keep_only_common_fields(fed2: str) -> None:
    block = fed2.split("input PersonFilter", 1)[1].split("}", 1)[0]
    assert "status: Status" in block
    assert "nameContains" not in block and "openCase" not in block


def test_interface_object_fields_reach_implementations(fed2: str) -> None:
    assert field_line(fed2, "Person", "lastReviewedBy") == "lastReviewedBy: Worker @join__field"


def test_inaccessible_and_composed_directives_carried(fed2: str) -> None:
    assert "directive @inaccessible on" in fed2
    assert "internalScore: Float @inaccessible @join__field(graph: PEOPLE)" in fed2
    assert "directive @sensitive(category: String!) on FIELD_DEFINITION | OBJECT" in fed2
    assert '@sensitive(category: "identity.basic")' in field_line(fed2, "Person", "name")


def test_federation_plumbing_is_dropped(fed2: str) -> None:
    for plumbing in ("_Service", "_Entity", "_Any", "_entities", "_service", "FieldSet!"):
        assert plumbing not in fed2


def test_fed1_subgraphs_compose_like_apollo() -> None:
    supergraph = compose(load("fed1"))
    expected = (FIXTURES / "fed1" / "expected.graphql").read_text()
    assert supergraph_differences(supergraph, expected) == []
    # Fed1 value types are shareable, unused @external fields vanish, key fields of
    # extensions are not external, and `extend type` is not an extension while @extends is.
    assert "type Address\n  @join__type(graph: ACCOUNTS)\n  @join__type(graph: REVIEWS)" in (
        supergraph
    )
    assert "unused" not in supergraph
    assert field_line(supergraph, "User", "id") == "id: ID!"
    assert '@join__type(graph: INVENTORY, key: "upc")\n' in supergraph
    assert '@join__type(graph: REVIEWS, key: "id", extension: true)' in supergraph


def test_service_sdl_with_plumbing_and_renamed_imports() -> None:
    sdl = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", '
        'import: [{name: "@key", as: "@id"}, "FieldSet"])\n'
        "schema { query: RootQuery }\n"
        "type RootQuery { p: Person _service: _Service! "
        "_entities(representations: [_Any!]!): [_Entity]! }\n"
        'type Person @id(fields: "id") @federation__shareable { id: ID! name: String }\n'
        "scalar _Any\ntype _Service { sdl: String }\nunion _Entity = Person\n"
        "directive @id(fields: FieldSet!) repeatable on OBJECT\nscalar FieldSet\n"
    )
    supergraph = compose([SubgraphSource("people", "http://127.0.0.1/p", sdl)])
    assert type_head(supergraph, "type", "Person") == (
        'type Person @join__type(graph: PEOPLE, key: "id")'
    )
    assert "type Query" in supergraph and "RootQuery" not in supergraph
    assert "_Service" not in supergraph and "directive @id" not in supergraph


def test_graph_enum_names_are_unique_identifiers() -> None:
    sources = [
        SubgraphSource(name, f"http://127.0.0.1/{i}", FED2 + f"type Query {{ f{i}: Int }}")
        for i, name in enumerate(["case-notes", "case_notes", "2fa"])
    ]
    supergraph = compose(sources)
    assert '_2FA @join__graph(name: "2fa"' in supergraph
    assert 'CASE_NOTES @join__graph(name: "case-notes"' in supergraph
    assert 'CASE_NOTES_1 @join__graph(name: "case_notes"' in supergraph


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_composition_errors(case: str) -> None:
    code, subgraphs = ERROR_CASES[case]
    sources = [SubgraphSource(n, f"http://127.0.0.1/{n}", sdl) for n, sdl in subgraphs.items()]
    with pytest.raises(CompositionError) as caught:
        compose(sources)
    codes = [issue.code for issue in caught.value.issues]
    assert codes[0] == code
    assert all(issue.message for issue in caught.value.issues)


def test_error_names_subgraphs_and_field() -> None:
    _, subgraphs = ERROR_CASES["non-shareable field in two subgraphs"]
    sources = [SubgraphSource(n, f"http://127.0.0.1/{n}", sdl) for n, sdl in subgraphs.items()]
    with pytest.raises(CompositionError) as caught:
        compose(sources)
    message = str(caught.value)
    assert '"Office.name"' in message and '"a"' in message and '"b"' in message


def test_duplicate_subgraph_names_and_empty_input() -> None:
    sdl = FED2 + "type Query { a: Int @shareable }"
    with pytest.raises(CompositionError) as caught:
        compose([SubgraphSource("a", "http://x/1", sdl), SubgraphSource("a", "http://x/2", sdl)])
    assert caught.value.issues[0].code == "INVALID_SUBGRAPH_NAME"
    with pytest.raises(CompositionError):
        compose([])


def test_shareable_and_key_fields_may_be_resolved_twice() -> None:
    a = (
        FED2
        + 'type Query { p: Person }\ntype Person @key(fields: "id") { id: ID! n: Int @shareable }'
    )
    b = FED2 + 'type Person @key(fields: "id") @shareable { id: ID! n: Int }'
    supergraph = compose(
        [SubgraphSource("a", "http://127.0.0.1/a", a), SubgraphSource("b", "http://127.0.0.1/b", b)]
    )
    assert field_line(supergraph, "Person", "n") == "n: Int"


def test_example_agencies_compose_and_load_in_the_gateway() -> None:
    import importlib

    from examples.agencies.registry import AGENCY_NAMES, DEFAULT_PORTS

    sources = []
    for name in AGENCY_NAMES:
        schema = importlib.import_module(f"examples.agencies.{name}").build_schema()
        url = f"http://127.0.0.1:{DEFAULT_PORTS[name]}/graphql"
        sources.append(SubgraphSource(name, url, schema.as_str()))
    supergraph = compose(sources)
    assert "directive @subject" in supergraph and "@dataCategory(" in supergraph
    build_ast_schema(parse(supergraph))
    loader = pytest.importorskip("app.federation.supergraph")
    loaded = loader.load_supergraph(supergraph)
    assert loaded is not None


def test_tags_deprecations_and_scalars_like_apollo() -> None:
    supergraph = compose(load("tags"))
    expected = (FIXTURES / "tags" / "expected.graphql").read_text()
    assert supergraph_differences(supergraph, expected) == []
    assert '@link(url: "https://specs.apollo.dev/tag/v0.3")' in supergraph
    assert 'e(s: S @tag(name: "arg")): Int' in supergraph
    n = field_line(supergraph, "P", "n")
    assert '@tag(name: "pii")' in n and '@tag(name: "pii2")' in n
    assert '@deprecated(reason: "use m")' in n
    assert '@specifiedBy(url: "https://example.org/date")' in supergraph


@pytest.mark.parametrize("fixture", ["authorization", "authorization-and"])
def test_authorization_and_cost_directives_like_apollo(fixture: str) -> None:
    supergraph = compose(load(fixture))
    expected = (FIXTURES / fixture / "expected.graphql").read_text()
    assert supergraph_differences(supergraph, expected) == []


def test_scopes_from_several_subgraphs_must_all_hold() -> None:
    supergraph = compose(load("authorization"))
    assert '@requiresScopes(scopes: [["admin", "read:p"]])' in type_head(supergraph, "type", "P")
    assert '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)' in (
        supergraph
    )
    assert "p: P @join__field(graph: A) @authenticated" in supergraph
    # (a AND b OR c) AND (d OR a) = a AND b OR a AND c OR c AND d
    policy = '@policy(policies: [["a", "b"], ["a", "c"], ["c", "d"]])'
    assert policy in type_head(compose(load("authorization-and")), "type", "P")


def test_context_arguments_like_apollo() -> None:
    supergraph = compose(load("context"))
    expected = (FIXTURES / "context" / "expected.graphql").read_text()
    assert supergraph_differences(supergraph, expected) == []
    # the contextual argument leaves the API; the gateway fills it from the context
    assert field_line(supergraph, "U", "field").startswith(
        'field: Int! @join__field(graph: A, contextArguments: [{context: "a__userCtx", '
        'name: "a", type: "String", selection: " { prop }"}])'
    )
    assert '@context(name: "a__userCtx")' in type_head(supergraph, "type", "T")
    assert '@link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)' in supergraph


def test_benchmark_subgraphs_compose_like_apollo() -> None:
    """bench/federation.py composes its supergraph with Accord; the peers load the same file."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "subgraphs"
    sources = [
        SubgraphSource(p.stem, f"http://127.0.0.1/{p.stem}", p.read_text())
        for p in sorted(bench.glob("*.graphql"))
    ]
    supergraph = compose(sources)
    expected = (FIXTURES / "gateways-benchmark" / "expected.graphql").read_text()
    assert supergraph_differences(supergraph, expected) == []
    assert 'shippingEstimate: Int @join__field(graph: INVENTORY, requires: "price weight")' in (
        supergraph
    )


def test_comparison_ignores_order_but_sees_meaning() -> None:
    expected = (FIXTURES / "fed1" / "expected.graphql").read_text()
    document = parse(expected)
    reordered = print_ast(DocumentNode(definitions=tuple(reversed(document.definitions))))
    assert supergraph_differences(reordered, expected) == []
    changed = expected.replace(
        '@join__field(graph: INVENTORY, requires: "price weight")',
        '@join__field(graph: INVENTORY, requires: "price")',
    )
    differences = supergraph_differences(changed, expected)
    assert len(differences) == 1 and differences[0].startswith("Product differs")
    assert supergraph_differences(expected.replace("type Review", "type Rating"), expected)


def test_hints_say_what_was_dropped() -> None:
    sources = [SubgraphSource(n, f"http://127.0.0.1/{n}", sdl) for n, sdl in HINTED.items()]
    supergraph, hints = compose_with_hints(sources)
    assert sorted(h.code for h in hints) == [
        "FROM_SUBGRAPH_DOES_NOT_EXIST",
        "INCONSISTENT_ARGUMENT_PRESENCE",
        "INCONSISTENT_ENUM_VALUE_FOR_INPUT_ENUM",
        "INCONSISTENT_INPUT_OBJECT_FIELD",
    ]
    assert "people(status: String): [P]" in supergraph
    assert "age" not in supergraph.split("input Filter", 1)[1].split("}", 1)[0]
    assert compose(sources) == supergraph
