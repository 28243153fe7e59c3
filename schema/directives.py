"""Accord's subgraph directives: the linkable spec partner agencies import.

An agency says which of its types are people and how sensitive each field is; the gateway
reads the same marks back from the subgraph (or supergraph) SDL to decide, before a fetch,
which fields it may ask that agency for. Both sides therefore share this one definition:

    extend schema
      @link(url: "https://specs.accord.example/accord/v0.1", import: ["@subject", "@dataCategory"])
      @composeDirective(name: "@subject")
      @composeDirective(name: "@dataCategory")

    directive @subject on OBJECT | INTERFACE
    directive @dataCategory(name: String!) on FIELD_DEFINITION | OBJECT | INTERFACE

``@subject`` marks an entity whose key identifies a person. ``@dataCategory`` names a category
from :data:`ledger.vocabulary.CATEGORIES`; on a type it applies to every field of the type, on a
field it overrides the type's. A field of a subject with neither falls under
``identity.basic``: nothing about a person leaves an agency ungoverned by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    GraphQLSyntaxError,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    parse,
)

from ledger.vocabulary import CATEGORIES, DEFAULT_CATEGORY

SPEC_NAME = "accord"
SPEC_VERSION = "v0.1"
SPEC_URL = f"https://specs.accord.example/{SPEC_NAME}/{SPEC_VERSION}"
# Any version of the spec is recognised when reading SDL; only the major series must match.
SPEC_URL_PREFIX = f"https://specs.accord.example/{SPEC_NAME}/v0."

SUBJECT = "subject"
DATA_CATEGORY = "dataCategory"
DATA_CATEGORY_ARGUMENT = "name"

DIRECTIVE_DEFINITIONS = (
    f"directive @{SUBJECT} on OBJECT | INTERFACE\n"
    f"directive @{DATA_CATEGORY}({DATA_CATEGORY_ARGUMENT}: String!)"
    " on FIELD_DEFINITION | OBJECT | INTERFACE\n"
)

LINK = (
    f'@link(url: "{SPEC_URL}", import: ["@{SUBJECT}", "@{DATA_CATEGORY}"])'
    f' @composeDirective(name: "@{SUBJECT}")'
    f' @composeDirective(name: "@{DATA_CATEGORY}")'
)

_OBJECT_NODES = (
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
)


class DirectiveError(ValueError):
    """A subgraph schema whose Accord directives are wrong: an unknown category, a subject
    without a key, a directive without its argument."""


def check_category(name: str, where: str = "") -> str:
    """Return ``name`` if it is a known data category, else raise :class:`DirectiveError`.

    The message lists the nearest known names, since a typo here would silently put a
    field under the wrong consent rules.
    """
    if name in CATEGORIES:
        return name
    place = f" on {where}" if where else ""
    family = name.split(".", 1)[0]
    related = [known for known in CATEGORIES if known.split(".", 1)[0] == family]
    hint = ", ".join(related or sorted(known for known in CATEGORIES if "." not in known))
    raise DirectiveError(f"unknown data category {name!r}{place}; known categories: {hint}")


@dataclass(frozen=True)
class Annotations:
    """What a schema says about people and sensitivity, read from its SDL."""

    subjects: frozenset[str] = frozenset()
    type_categories: Mapping[str, str] = field(default_factory=dict)
    field_categories: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def is_subject(self, type_name: str) -> bool:
        return type_name in self.subjects

    def category(self, type_name: str, field_name: str) -> str | None:
        """The category of ``type_name.field_name``: the field's own, else its type's, else
        ``identity.basic`` for a subject's field, else ``None`` (not governed by this type)."""
        found = self.field_categories.get((type_name, field_name))
        if found is not None:
            return found
        found = self.type_categories.get(type_name)
        if found is not None:
            return found
        if type_name in self.subjects:
            return DEFAULT_CATEGORY
        return None

    def merge(self, other: Annotations) -> Annotations:
        """Annotations of two subgraphs together (a later mark on the same field wins)."""
        return Annotations(
            subjects=self.subjects | other.subjects,
            type_categories={**self.type_categories, **other.type_categories},
            field_categories={**self.field_categories, **other.field_categories},
        )


def read_annotations(sdl: str | DocumentNode, *, require_key: bool = True) -> Annotations:
    """Read ``@subject`` and ``@dataCategory`` from a subgraph or supergraph SDL.

    Names follow the schema's ``@link``: imported directives may be renamed
    (``{name: "@dataCategory", as: "@category"}``) and those not imported are namespaced
    (``@accord__subject``). Raises :class:`DirectiveError` for an unknown category or a subject
    type without a key (``@key`` in a subgraph, ``@join__type(key:)`` in a supergraph).
    """
    document = _parse(sdl)
    subject_name, category_name = _local_names(document)
    subjects: set[str] = set()
    keyed: set[str] = set()
    type_categories: dict[str, str] = {}
    field_categories: dict[tuple[str, str], str] = {}
    for node in document.definitions:
        if not isinstance(node, _OBJECT_NODES):
            continue
        type_name = node.name.value
        for directive in node.directives or ():
            name = directive.name.value
            if name == subject_name:
                subjects.add(type_name)
            elif name == category_name:
                type_categories[type_name] = _category_argument(directive, type_name)
            elif name == "key" or (name == "join__type" and _argument(directive, "key")):
                keyed.add(type_name)
        for field_node in node.fields or ():
            field_name = field_node.name.value
            for directive in field_node.directives or ():
                if directive.name.value == category_name:
                    where = f"{type_name}.{field_name}"
                    field_categories[(type_name, field_name)] = _category_argument(directive, where)
    if require_key:
        missing = sorted(subjects - keyed)
        if missing:
            raise DirectiveError(
                f"type {missing[0]} is marked @{SUBJECT} but has no @key: a subject must be an"
                " entity whose key identifies the person"
            )
    return Annotations(frozenset(subjects), type_categories, field_categories)


def read_all(sdls: Iterable[str | DocumentNode]) -> Annotations:
    """Annotations of several subgraphs, merged."""
    merged = Annotations()
    for sdl in sdls:
        merged = merged.merge(read_annotations(sdl))
    return merged


def _parse(sdl: str | DocumentNode) -> DocumentNode:
    if isinstance(sdl, DocumentNode):
        return sdl
    try:
        return parse(sdl, no_location=True)
    except GraphQLSyntaxError as exc:
        raise DirectiveError(f"schema is not valid GraphQL SDL: {exc.message}") from None


def _local_names(document: DocumentNode) -> tuple[str, str]:
    """The names the schema uses for @subject and @dataCategory, following its @link."""
    for node in document.definitions:
        if not isinstance(node, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in node.directives or ():
            if directive.name.value != "link":
                continue
            url = _string(_argument(directive, "url"))
            if not url or not url.startswith(SPEC_URL_PREFIX):
                continue
            namespace = (_string(_argument(directive, "as")) or SPEC_NAME).lstrip("@")
            names = {
                SUBJECT: f"{namespace}__{SUBJECT}",
                DATA_CATEGORY: f"{namespace}__{DATA_CATEGORY}",
            }
            imports = _argument(directive, "import")
            for item in imports.values if isinstance(imports, ListValueNode) else ():
                original, local = _import_names(item)
                if original in names and local:
                    names[original] = local
            return names[SUBJECT], names[DATA_CATEGORY]
    return SUBJECT, DATA_CATEGORY


def _import_names(item: object) -> tuple[str, str]:
    if isinstance(item, StringValueNode):
        name = item.value.lstrip("@")
        return name, name
    if isinstance(item, ObjectValueNode):
        values = {f.name.value: _string(f.value) for f in item.fields}
        name = (values.get("name") or "").lstrip("@")
        return name, (values.get("as") or name).lstrip("@")
    return "", ""


def _argument(directive: DirectiveNode, name: str) -> object | None:
    for argument in directive.arguments or ():
        if isinstance(argument, ArgumentNode) and argument.name.value == name:
            return argument.value
    return None


def _string(value: object | None) -> str | None:
    return value.value if isinstance(value, StringValueNode) else None


def _category_argument(directive: DirectiveNode, where: str) -> str:
    name = _string(_argument(directive, DATA_CATEGORY_ARGUMENT))
    if name is None:
        raise DirectiveError(
            f"@{directive.name.value} on {where} needs a string argument"
            f' {DATA_CATEGORY_ARGUMENT}, e.g. @{DATA_CATEGORY}(name: "health.diagnosis")'
        )
    return check_category(name, where)
