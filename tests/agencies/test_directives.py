"""Accord's subgraph directives: the strawberry helper, build-time checks, reading SDL back."""

from __future__ import annotations

import pytest
import strawberry
from hypothesis import given
from hypothesis import strategies as st

from ledger.vocabulary import CATEGORIES
from schema.directives import (
    DIRECTIVE_DEFINITIONS,
    SPEC_URL,
    DirectiveError,
    read_all,
    read_annotations,
)
from schema.subgraph import data_category, federation_schema, governed_coordinates, subject


@strawberry.type(directives=[data_category("health.medication")])
class Prescription:
    name: str


@strawberry.federation.type(keys=["id"], directives=[subject()])
class Patient:
    id: strawberry.ID
    name: str
    allergies: str | None = strawberry.field(directives=[data_category("health.diagnosis")])
    prescriptions: list[Prescription] | None = strawberry.field(
        directives=[data_category("health.medication")]
    )


@strawberry.type
class Query:
    @strawberry.field
    def patient(self, id: strawberry.ID) -> Patient | None:
        return None


def test_one_line_helpers_produce_linked_and_composed_directives() -> None:
    sdl = federation_schema(Query, types=[Patient]).as_str()
    assert f'@link(url: "{SPEC_URL}", import: ["@dataCategory", "@subject"])' in sdl
    assert '@composeDirective(name: "@subject")' in sdl
    assert '@composeDirective(name: "@dataCategory")' in sdl
    assert "directive @subject on OBJECT | INTERFACE" in sdl
    assert "directive @dataCategory(name: String!) on FIELD_DEFINITION | OBJECT | INTERFACE" in sdl
    assert 'type Patient @subject @key(fields: "id")' in sdl
    assert 'allergies: String @dataCategory(name: "health.diagnosis")' in sdl


def test_annotations_read_back_with_identity_basic_default() -> None:
    annotations = read_annotations(federation_schema(Query, types=[Patient]).as_str())
    assert annotations.subjects == {"Patient"}
    assert annotations.category("Patient", "allergies") == "health.diagnosis"
    # A subject's field without a category is still governed, as identity.basic.
    assert annotations.category("Patient", "name") == "identity.basic"
    # A type-level category covers every field of the type.
    assert annotations.category("Prescription", "name") == "health.medication"
    # Fields of ordinary types are not governed by themselves.
    assert annotations.category("Query", "patient") is None


def test_unknown_category_is_refused_when_the_schema_is_declared() -> None:
    with pytest.raises(DirectiveError, match=r"unknown data category 'health\.diagnoses'"):
        data_category("health.diagnoses")
    with pytest.raises(DirectiveError, match="health.diagnosis"):
        # The error lists the known names of the same family, so the fix is obvious.
        data_category("health.diagnoses")


def test_unknown_category_in_sdl_names_the_field() -> None:
    sdl = (
        DIRECTIVE_DEFINITIONS + 'type Person @subject @key(fields: "id") { id: ID! ssn: String'
        ' @dataCategory(name: "identity.secret") }'
    )
    with pytest.raises(DirectiveError, match=r"'identity\.secret' on Person\.ssn"):
        read_annotations(sdl)


@strawberry.type(directives=[subject()])
class Citizen:
    id: strawberry.ID


@strawberry.type
class CitizenQuery:
    citizen: Citizen | None = None


def test_subject_without_key_is_refused_at_build_time() -> None:
    with pytest.raises(DirectiveError, match="Citizen is marked @subject but has no @key"):
        federation_schema(CitizenQuery)


def test_category_without_name_argument_is_refused() -> None:
    sdl = 'type Person @subject @key(fields: "id") { id: ID! x: String @dataCategory }'
    with pytest.raises(DirectiveError, match="needs a string argument name"):
        read_annotations(sdl)


def test_malformed_sdl_is_a_directive_error() -> None:
    with pytest.raises(DirectiveError, match="not valid GraphQL SDL"):
        read_annotations("type Person {")


def test_renamed_and_namespaced_imports_are_followed() -> None:
    renamed = f"""
    extend schema @link(url: "{SPEC_URL}", import: [{{name: "@dataCategory", as: "@sensitivity"}}])
    type Person @accord__subject @key(fields: "id") {{
      id: ID!
      notes: String @sensitivity(name: "human_services.case_notes")
      other: String @dataCategory(name: "health")
    }}
    """
    annotations = read_annotations(renamed)
    assert annotations.subjects == {"Person"}
    assert annotations.category("Person", "notes") == "human_services.case_notes"
    # @dataCategory is not the imported name here, so it is somebody else's directive.
    assert annotations.category("Person", "other") == "identity.basic"


def test_supergraph_keys_count_and_subgraphs_merge() -> None:
    supergraph_like = (
        'type Person @join__type(graph: A, key: "id") @subject { id: ID!'
        ' a: String @dataCategory(name: "court.case") }'
    )
    other = 'type Person @key(fields: "id") @subject { id: ID! b: String }'
    merged = read_all([supergraph_like, other])
    assert merged.category("Person", "a") == "court.case"
    assert merged.category("Person", "b") == "identity.basic"


@given(st.sampled_from(sorted(CATEGORIES)))
def test_every_vocabulary_category_is_accepted(name: str) -> None:
    assert data_category(name).name == name


@given(st.text(max_size=40).filter(lambda name: name not in CATEGORIES))
def test_anything_outside_the_vocabulary_is_refused(name: str) -> None:
    with pytest.raises(DirectiveError, match="unknown data category"):
        data_category(name)


def test_governed_coordinates_are_a_subjects_fields_but_its_key() -> None:
    schema = federation_schema(Query, types=[Patient])
    assert governed_coordinates(schema) == {
        "Patient.name",
        "Patient.allergies",
        "Patient.prescriptions",
    }
