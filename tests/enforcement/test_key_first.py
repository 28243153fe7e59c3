"""Key-first planning: governed fields only ever come through ``_entities``, by key."""

from __future__ import annotations

import re

from app.enforcement.governed import GovernedFields
from app.federation.compose import SubgraphSource, compose
from app.federation.gateway import Gateway
from app.federation.planner import Options
from app.federation.supergraph import load_supergraph

HEAD = """extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3",
        import: ["@key", "@external", "@provides", "@shareable", "@composeDirective"])
  @link(url: "https://specs.accord.example/accord/v0.1", import: ["@subject", "@dataCategory"])
  @composeDirective(name: "@subject")
  @composeDirective(name: "@dataCategory")
directive @subject on OBJECT | INTERFACE
directive @dataCategory(name: String!) on FIELD_DEFINITION | OBJECT | INTERFACE
"""
REGISTRY = (
    HEAD
    + """type Query { person(id: ID!): Person }
type Person @key(fields: "id") @subject @dataCategory(name: "identity.contact") {
  id: ID!
  name: String @shareable @dataCategory(name: "identity.basic")
  address: Address
}
type Address { city: String }
"""
)
CASES = (
    HEAD
    + """type Query { caseload: [Case] }
type Case @key(fields: "id") { id: ID! opened: String client: Person @provides(fields: "name") }
type Person @key(fields: "id") @subject { id: ID! name: String @external }
"""
)


def selects(query: str, field: str) -> bool:
    return re.search(rf"\b{field}\b", query) is not None


def _gateway(enforced: bool) -> tuple[Gateway, GovernedFields]:
    supergraph = load_supergraph(
        compose(
            [
                SubgraphSource("registry", "http://127.0.0.1:1/graphql", REGISTRY),
                SubgraphSource("cases", "http://127.0.0.1:2/graphql", CASES),
            ]
        )
    )
    governed = GovernedFields.from_supergraph(supergraph)
    options = Options(entity_only=governed.entity_only) if enforced else None
    return Gateway(supergraph, options=options), governed


def test_categories_come_from_field_then_type_and_keys_are_not_governed():
    _, governed = _gateway(True)
    assert governed.category("Person", "name") == "identity.basic"
    assert governed.category("Person", "address") == "identity.contact"  # from the type
    assert governed.category("Person", "id") is None  # the key
    assert governed.category("Case", "opened") is None  # not a subject
    assert governed.entity_only == {("Person", "name"), ("Person", "address")}


def test_a_field_another_subgraph_provides_is_still_fetched_by_key_from_its_owner():
    query = "{ caseload { opened client { name } } }"
    plain, _ = _gateway(False)
    (inline,) = plain.plan(query, None).fetches  # without enforcement @provides saves a call
    assert selects(inline.query, "name")
    gateway, _ = _gateway(True)
    root, entities = gateway.plan(query, None).fetches
    assert root.service == "cases" and not selects(root.query, "name")
    assert (entities.kind, entities.service, entities.rep_type) == ("entity", "registry", "Person")
    assert selects(entities.query, "name")


def test_a_root_field_returning_a_subject_fetches_only_its_key():
    gateway, _ = _gateway(True)
    root, entities = gateway.plan('{ person(id: "1") { name address { city } } }', None).fetches
    assert root.service == entities.service == "registry"
    assert not selects(root.query, "name") and not selects(root.query, "address")
    assert selects(entities.query, "name") and selects(entities.query, "city")
