"""Which fields of the supergraph are governed, and under which data category.

A field is governed when it belongs to a ``@subject`` entity and is not one of its key fields
(the key is what the gateway already holds when it asks). Its category is the field's own
``@dataCategory``, else its type's, else ``identity.basic``. Values nested under a governed
field (``Person.address { city }``) travel with it and so fall under its category: the guard
decides the subject field that holds them, never the nested fields one by one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graphql import FieldNode

from app.federation.supergraph import Supergraph
from schema.directives import read_annotations

log = logging.getLogger("accord.enforcement")


@dataclass(frozen=True)
class GovernedFields:
    """Governed (type, field) pairs of a supergraph with their categories."""

    subjects: frozenset[str]
    categories: dict[tuple[str, str], str]
    key_fields: dict[str, frozenset[str]]

    @classmethod
    def from_supergraph(cls, supergraph: Supergraph) -> GovernedFields:
        annotations = read_annotations(supergraph.document)
        subjects = set(annotations.subjects)
        # An object type implementing a subject interface is a subject too.
        for name in annotations.subjects:
            subjects.update(supergraph.possible_types.get(name, ()))
        categories: dict[tuple[str, str], str] = {}
        key_fields: dict[str, frozenset[str]] = {}
        for type_name in sorted(subjects):
            type_def = supergraph.types.get(type_name)
            if type_def is None:
                continue
            keys = {
                node.name.value
                for info in type_def.graphs.values()
                for key in info.keys
                for node in key.selection.selections
                if isinstance(node, FieldNode)
            }
            key_fields[type_name] = frozenset(keys)
            interfaces = [i for i in type_def.interfaces if i in annotations.subjects]
            for field_name in type_def.fields:
                if field_name in keys or field_name.startswith("__"):
                    continue
                category = annotations.field_categories.get((type_name, field_name))
                for interface in interfaces:
                    category = category or annotations.field_categories.get((interface, field_name))
                category = category or annotations.category(type_name, field_name)
                for interface in interfaces:
                    category = category or annotations.category(interface, field_name)
                categories[(type_name, field_name)] = category or "identity.basic"
        if not subjects:
            log.warning("the supergraph marks no type @subject: no field is governed")
        return cls(frozenset(subjects), categories, key_fields)

    def is_subject(self, type_name: str) -> bool:
        return type_name in self.subjects

    def category(self, type_name: str, field_name: str) -> str | None:
        """The field's category, or None when it is not governed."""
        return self.categories.get((type_name, field_name))

    @property
    def entity_only(self) -> frozenset[tuple[str, str]]:
        """The pairs the planner must fetch by key through ``_entities`` (key-first)."""
        return frozenset(self.categories)
