"""Shape the merged subgraph data into the client's response.

Subgraph answers are merged into one tree that still holds planner-added keys, typenames and
aliases. A projection compiled once per operation walks that tree and the client's selection
together: it picks response keys, resolves abstract types by ``__typename``, and applies
GraphQL null propagation (a null in a non-null position nulls the nearest nullable parent).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_abstract_type,
    is_composite_type,
)

from app.federation.operation import Field, Fragment, Item

_INVALID = object()


class Projection:
    """The client's selection on one parent type, compiled for fast repeated use."""

    __slots__ = ("schema", "type_name", "items", "_fields", "_by_type", "abstract")

    def __init__(self, schema: GraphQLSchema, type_name: str, items: list[Item]) -> None:
        self.schema = schema
        self.type_name = type_name
        self.items = items
        self.abstract = is_abstract_type(schema.get_type(type_name))
        self._by_type: dict[str, list] = {}
        self._fields = None if self.abstract else self._compile(type_name)

    def fields_for(self, type_name: str | None) -> list | None:
        if not self.abstract:
            return self._fields
        if type_name is None:
            type_name = self.type_name
        compiled = self._by_type.get(type_name)
        if compiled is None:
            if type_name != self.type_name and not isinstance(
                self.schema.get_type(type_name), GraphQLObjectType
            ):
                return None
            compiled = self._by_type[type_name] = self._compile(type_name)
        return compiled

    def _compile(self, type_name: str) -> list:
        parent = self.schema.get_type(type_name)
        merged: dict[str, Field] = {}
        order: list[str] = []

        def applies(condition: str) -> bool:
            if condition == type_name:
                return True
            if not isinstance(parent, GraphQLObjectType):
                return False
            cond_type = self.schema.get_type(condition)
            return (
                cond_type is not None
                and is_abstract_type(cond_type)
                and self.schema.is_sub_type(cond_type, parent)
            )

        def walk(items: list[Item]) -> None:
            for item in items:
                if isinstance(item, Fragment):
                    if applies(item.type):
                        walk(item.items)
                elif item.key in merged:
                    if item.items is not None:
                        existing = merged[item.key]
                        existing.items = (existing.items or []) + item.items
                else:
                    merged[item.key] = Field(
                        item.key,
                        item.name,
                        item.args,
                        list(item.items) if item.items is not None else None,
                    )
                    order.append(item.key)

        walk(self.items)
        compiled = []
        for key in order:
            item = merged[key]
            if item.name == "__typename":
                compiled.append((key, _TYPENAME, None))
                continue
            field_def = parent.fields.get(item.name)
            if field_def is None:
                continue
            type_ = field_def.type
            named = get_named_type(type_)
            if not is_composite_type(named) and not isinstance(named, GraphQLEnumType):
                if not isinstance(type_, GraphQLNonNull):
                    compiled.append((key, _LEAF, None))
                    continue
                if not isinstance(type_.of_type, GraphQLList):
                    compiled.append((key, _NONNULL_LEAF, None))
                    continue
            compiled.append((key, _OTHER, _compile_type(self.schema, type_, item)))
        return compiled

    def project(self, data: dict | None, errors: list, path) -> Any:
        """Shape ``data``; ``path`` is a (parent, key) chain, turned into a list only for
        errors. Returns ``_INVALID`` when a non-null field is null (the caller nulls us)."""
        if data is None:
            return None
        typename = data.get("__typename")
        fields = self._fields if not self.abstract else self.fields_for(typename)
        if fields is None:
            return None
        result = {}
        get = data.get
        for key, kind, complete in fields:
            if kind is _LEAF:
                result[key] = get(key)
            elif kind is _NONNULL_LEAF:
                value = get(key)
                if value is None:
                    _null_error(errors, (path, key))
                    return _INVALID
                result[key] = value
            elif kind is _TYPENAME:
                result[key] = (typename or self.type_name) if self.abstract else self.type_name
            else:
                value = complete(get(key), errors, (path, key))
                if value is _INVALID:
                    return _INVALID
                result[key] = value
        return result


_LEAF = "leaf"
_NONNULL_LEAF = "leaf!"
_TYPENAME = "__typename"
_OTHER = "other"


def _null_error(errors: list, path) -> None:
    if not errors:
        where = materialize(path)
        errors.append(
            {"message": f"Cannot return null for non-nullable field at {where[-1]}", "path": where}
        )


def materialize(chain) -> list:
    """Turn a (parent, key) chain into a response path list."""
    out = []
    while chain is not None:
        chain, key = chain
        out.append(key)
    out.reverse()
    return out


def _compile_type(schema: GraphQLSchema, type_, item: Field):
    """A function completing a value of ``type_``: returns the value, None, or ``_INVALID``."""
    if isinstance(type_, GraphQLNonNull):
        inner = _compile_type(schema, type_.of_type, item)

        def non_null(value, errors, path):
            result = inner(value, errors, path)
            if result is None:
                _null_error(errors, path)
                return _INVALID
            return result

        return non_null
    if isinstance(type_, GraphQLList):
        inner = _compile_type(schema, type_.of_type, item)

        def list_of(value, errors, path):
            if not isinstance(value, list):
                return None
            out = []
            for index, element in enumerate(value):
                completed = inner(element, errors, (path, index))
                if completed is _INVALID:
                    return None
                out.append(completed)
            return out

        return list_of
    named = get_named_type(type_)
    if is_composite_type(named):
        projection = Projection(schema, named.name, item.items or [])

        def composite(value, errors, path):
            if not isinstance(value, dict):
                return None
            result = projection.project(value, errors, path)
            return None if result is _INVALID else result

        return composite
    if isinstance(named, GraphQLEnumType):
        values = frozenset(named.values)

        def enum(value, errors, path):
            # Values the API schema hides (inaccessible, not in every subgraph) are null.
            return value if value in values else None

        return enum
    return _leaf


def _leaf(value, errors, path):
    return value


def project_root(projection: Projection, data: dict | None, errors: list) -> dict | None:
    result = projection.project(data or {}, errors, None)
    if result is _INVALID:
        return None
    return result
