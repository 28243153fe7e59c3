"""Accord's directives for a Python (strawberry) subgraph, one line each.

    from schema.subgraph import data_category, federation_schema, subject

    @strawberry.federation.type(keys=["id"], directives=[subject()])
    class Person:
        id: strawberry.ID
        diagnoses: list[Diagnosis] | None = strawberry.field(
            directives=[data_category("health.diagnosis")]
        )

    schema = federation_schema(Query)

Strawberry prints the directive definitions, the ``@link`` to the Accord spec and the
``@composeDirective`` for each directive in use, so a gateway composing the supergraph keeps
them. Category names are checked when the type is declared and again when the schema is
built, so a typo fails at start-up rather than sending a field out under the wrong rules.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema_directive import Location, schema_directive

from schema.directives import (
    DATA_CATEGORY,
    SPEC_URL,
    SUBJECT,
    DirectiveError,
    check_category,
    read_annotations,
)
from schema.subgraph_auth import gateway_claims

__all__ = [
    "DataCategory",
    "DirectiveError",
    "PermittedFields",
    "Subject",
    "data_category",
    "federation_schema",
    "governed_coordinates",
    "subject",
]


@schema_directive(
    locations=[Location.OBJECT, Location.INTERFACE],
    name=SUBJECT,
    description="An entity whose key identifies a person (Accord consent applies to it).",
    compose=True,
    import_url=SPEC_URL,
)
class Subject:
    pass


@schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT, Location.INTERFACE],
    name=DATA_CATEGORY,
    description="The data category of a field, or of every field of a type.",
    compose=True,
    import_url=SPEC_URL,
)
class DataCategory:
    name: str

    def __post_init__(self) -> None:
        check_category(self.name)


def subject() -> Subject:
    """``@subject``: put it on a ``@key`` entity type whose key identifies a person."""
    return Subject()


def data_category(name: str) -> DataCategory:
    """``@dataCategory(name:)`` for a field or a type; raises DirectiveError if unknown."""
    return DataCategory(name=name)


def federation_schema(
    query: type | None = None,
    *,
    types: Iterable[type] = (),
    mutation: type | None = None,
    **options: Any,
) -> strawberry.federation.Schema:
    """A Federation v2 schema with Accord's directives linked and composed.

    Also verifies what the directives promise: every category is known and every
    ``@subject`` type is an entity with a ``@key``.
    """
    built = strawberry.federation.Schema(
        query=query, mutation=mutation, types=list(types), **options
    )
    read_annotations(built.as_str())
    return built


def governed_coordinates(schema: strawberry.federation.Schema) -> frozenset[str]:
    """``Type.field`` of every field of a ``@subject`` type except its key fields.

    Values nested under such a field (``Diagnosis.code`` under ``Person.diagnoses``) are
    reachable only through it, so one coordinate per subject field is what a decision
    permits and what a subgraph checks.
    """
    annotations = read_annotations(schema.as_str())
    coordinates: set[str] = set()
    for type_name in annotations.subjects:
        definition = schema.get_type_by_name(type_name)
        keys = _key_fields(definition)
        for field in getattr(definition, "fields", ()):
            name = schema.config.name_converter.get_graphql_name(field)
            if name not in keys:
                coordinates.add(f"{type_name}.{name}")
    return frozenset(coordinates)


def _key_fields(definition: Any) -> set[str]:
    from strawberry.federation.schema_directives import Key

    keys: set[str] = set()
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, Key):
            keys.update(str(directive.fields).replace("{", " ").replace("}", " ").split())
    return keys


_GOVERNED: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


class PermittedFields(SchemaExtension):
    """Refuse any field of a subject that the gateway token does not list as permitted.

    The gateway already asks only for permitted fields; with this extension the subgraph
    holds it to that, so no mistake upstream can release a field the decision withheld::

        schema = federation_schema(Query, types=[Person], extensions=[PermittedFields])

    A refused field is ``null`` with a ``FORBIDDEN`` error at its path. Key fields always
    resolve (the gateway needs them to join). Requires :class:`GatewayAuthMiddleware` in
    front of the app; without verified claims every governed field is refused.
    """

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        coordinate = f"{info.parent_type.name}.{info.field_name}"
        if coordinate in self._governed():
            claims = gateway_claims(info.context)
            if claims is None or not claims.permits(coordinate):
                raise GraphQLError(
                    f"{coordinate} is not among the fields the gateway permitted for this call",
                    extensions={"code": "FORBIDDEN"},
                )
        return _next(root, info, *args, **kwargs)

    def _governed(self) -> frozenset[str]:
        schema = self.execution_context.schema
        governed = _GOVERNED.get(schema)
        if governed is None:
            governed = _GOVERNED[schema] = governed_coordinates(schema)
        return governed
