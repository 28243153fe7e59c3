"""Derive the API schema clients see from a supergraph.

The API schema is the supergraph without the federation machinery: no ``join__``/``link__``
types and directives, nothing marked ``@inaccessible``, and no directive applications except
``@deprecated`` and ``@specifiedBy``.
"""

from __future__ import annotations

from dataclasses import replace

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
)

from app.federation.errors import SupergraphError
from app.federation.supergraph import Supergraph

_KEPT_DIRECTIVES = {"deprecated", "specifiedBy", "oneOf"}
_TYPE_NODES = (
    ObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    UnionTypeDefinitionNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
)


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    """The client-facing schema; raises :class:`SupergraphError` if it is not a valid schema."""
    hidden = _inaccessible_types(supergraph)
    definitions = []
    for definition in supergraph.document.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            continue
        if isinstance(definition, SchemaDefinitionNode):
            node = replace(
                definition,
                directives=(),
                operation_types=tuple(
                    op
                    for op in definition.operation_types
                    if op.type.name.value in supergraph.types and op.type.name.value not in hidden
                ),
            )
            definitions.append(node)
            continue
        if not isinstance(definition, _TYPE_NODES):
            continue
        name = definition.name.value
        if name not in supergraph.types or name in hidden:
            continue
        definitions.append(_strip_type(definition, supergraph, hidden))
    try:
        return build_ast_schema(DocumentNode(definitions=tuple(definitions)))
    except (GraphQLError, TypeError) as exc:
        raise SupergraphError(
            f"the API schema derived from the supergraph is invalid: {exc}"
        ) from None


def _inaccessible_types(supergraph: Supergraph) -> set[str]:
    return {name for name, t in supergraph.types.items() if t.inaccessible}


def _kept(node, inaccessible: str | None) -> bool:
    return not any(d.name.value == inaccessible for d in node.directives or ())


def _clean_directives(node):
    return tuple(d for d in node.directives or () if d.name.value in _KEPT_DIRECTIVES)


def _strip_type(definition, supergraph: Supergraph, hidden: set[str]):
    inaccessible = supergraph.inaccessible_name
    changes: dict = {"directives": _clean_directives(definition)}
    if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        changes["interfaces"] = tuple(
            i for i in definition.interfaces or () if i.name.value not in hidden
        )
        changes["fields"] = tuple(
            replace(
                field,
                directives=_clean_directives(field),
                arguments=tuple(
                    replace(arg, directives=_clean_directives(arg))
                    for arg in field.arguments or ()
                    if _kept(arg, inaccessible)
                ),
            )
            for field in definition.fields or ()
            if _kept(field, inaccessible) and _named(field.type) not in hidden
        )
    elif isinstance(definition, InputObjectTypeDefinitionNode):
        changes["fields"] = tuple(
            replace(field, directives=_clean_directives(field))
            for field in definition.fields or ()
            if _kept(field, inaccessible)
        )
    elif isinstance(definition, EnumTypeDefinitionNode):
        changes["values"] = tuple(
            replace(value, directives=_clean_directives(value))
            for value in definition.values or ()
            if _kept(value, inaccessible)
        )
    elif isinstance(definition, UnionTypeDefinitionNode):
        changes["types"] = tuple(t for t in definition.types or () if t.name.value not in hidden)
    if "fields" in changes and not changes["fields"]:
        raise SupergraphError(f"type {definition.name.value} has no accessible fields")
    return replace(definition, **changes)


def _named(type_node) -> str:
    while hasattr(type_node, "type"):
        type_node = type_node.type
    return type_node.name.value
