"""Load a Federation 2 supergraph SDL into a plain model the planner can query quickly.

The supergraph says, through ``@join__*`` directives, which subgraph (graph) defines which type,
key and field. Everything the planner needs is read once here; the rest of the engine never
looks at directives again. Directive applications (including composed directives such as
``@subject`` and ``@dataCategory``) stay available on every type and field for later stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    GraphQLSyntaxError,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    TypeNode,
    UnionTypeDefinitionNode,
    parse,
    value_from_ast_untyped,
)

from app.federation.errors import SupergraphError

JOIN_SPEC = "https://specs.apollo.dev/join/"
LINK_SPEC = "https://specs.apollo.dev/link/"
INACCESSIBLE_SPEC = "https://specs.apollo.dev/inaccessible/"


@dataclass(frozen=True)
class Graph:
    """One subgraph: the enum value naming it in the supergraph, its name and its URL."""

    id: str
    name: str
    url: str


@dataclass(frozen=True)
class Key:
    """A ``@key`` of a type in one subgraph."""

    fields: str
    selection: SelectionSetNode
    resolvable: bool


@dataclass
class TypeInGraph:
    """How one subgraph sees a type."""

    keys: list[Key] = field(default_factory=list)
    extension: bool = False
    interface_object: bool = False

    @property
    def resolvable_keys(self) -> list[Key]:
        return [key for key in self.keys if key.resolvable]


@dataclass(frozen=True)
class FieldInGraph:
    """How one subgraph defines a field (``@join__field`` arguments)."""

    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    external: bool = False
    override: str | None = None
    used_overridden: bool = False
    type: str | None = None


@dataclass
class FieldDef:
    name: str
    type: TypeNode
    graphs: dict[str, FieldInGraph]
    directives: tuple[DirectiveNode, ...]
    inaccessible: bool = False

    @cached_property
    def named_type(self) -> str:
        node = self.type
        while isinstance(node, NonNullTypeNode | ListTypeNode):
            node = node.type
        return node.name.value


@dataclass
class TypeDef:
    name: str
    kind: str  # object, interface, union, enum, input, scalar
    graphs: dict[str, TypeInGraph]
    fields: dict[str, FieldDef]
    directives: tuple[DirectiveNode, ...]
    implements: dict[str, set[str]] = field(default_factory=dict)  # graph -> interfaces
    members: dict[str, set[str]] = field(default_factory=dict)  # graph -> union members
    interfaces: list[str] = field(default_factory=list)
    union_types: list[str] = field(default_factory=list)
    inaccessible: bool = False

    @property
    def is_abstract(self) -> bool:
        return self.kind in ("interface", "union")

    @property
    def is_composite(self) -> bool:
        return self.kind in ("object", "interface", "union")


@dataclass
class Supergraph:
    """The parsed supergraph: graphs, types with their joins, and the original document."""

    document: DocumentNode
    graphs: dict[str, Graph]
    types: dict[str, TypeDef]
    root_types: dict[str, str]
    inaccessible_name: str | None
    spec_prefixes: tuple[str, ...]

    @cached_property
    def possible_types(self) -> dict[str, list[str]]:
        """Object types that may appear where an abstract type is expected."""
        result: dict[str, list[str]] = {}
        for type_def in self.types.values():
            if type_def.kind == "union":
                result[type_def.name] = list(type_def.union_types)
            elif type_def.kind == "object":
                result.setdefault(type_def.name, [type_def.name])
        for type_def in self.types.values():
            if type_def.kind == "object":
                for interface in type_def.interfaces:
                    result.setdefault(interface, []).append(type_def.name)
        for type_def in self.types.values():
            if type_def.kind == "interface":
                result.setdefault(type_def.name, [])
        return result

    def graph_possible_types(self, abstract: str, graph: str) -> list[str]:
        """Object types a subgraph may return where it expects ``abstract``."""
        type_def = self.types[abstract]
        if type_def.kind == "union":
            return sorted(type_def.members.get(graph, ()))
        if type_def.kind == "object":
            return [abstract]
        return [
            name
            for name in self.possible_types.get(abstract, ())
            if abstract in self.types[name].implements.get(graph, ())
        ]

    def field_graphs(self, type_name: str, field_name: str) -> dict[str, FieldInGraph]:
        type_def = self.types[type_name]
        field_def = type_def.fields.get(field_name)
        if field_def is None:
            return {}
        return field_def.graphs

    def url_of(self, graph: str) -> str:
        return self.graphs[graph].url


def load_supergraph_file(path: str | Path) -> Supergraph:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SupergraphError(f"cannot read supergraph {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SupergraphError(f"supergraph {path} is not UTF-8 text") from None
    return load_supergraph(text)


def load_supergraph(sdl: str) -> Supergraph:
    """Parse supergraph SDL; raise :class:`SupergraphError` saying what is malformed."""
    try:
        document = parse(sdl, no_location=False)
    except GraphQLSyntaxError as exc:
        raise SupergraphError(f"supergraph is not valid GraphQL SDL: {exc.message}") from None

    schema_def = next(
        (d for d in document.definitions if isinstance(d, SchemaDefinitionNode)), None
    )
    if schema_def is None:
        raise SupergraphError("supergraph has no schema definition with @link directives")
    links = _links(schema_def)
    join_link = next((link for link in links if link["url"].startswith(JOIN_SPEC)), None)
    if join_link is None:
        raise SupergraphError(
            "supergraph does not link the join specification (https://specs.apollo.dev/join/)"
        )
    join = join_link.get("as") or "join"
    inaccessible = None
    prefixes = []
    for link in links:
        url = link["url"].rstrip("/")
        name = link.get("as") or url.rsplit("/", 2)[-2]
        prefixes.append(name)
        if link["url"].startswith(INACCESSIBLE_SPEC):
            inaccessible = link.get("as") or "inaccessible"
        for imported in link.get("import") or ():
            if isinstance(imported, dict):
                if imported.get("name") == "@inaccessible":
                    inaccessible = imported.get("as", "@inaccessible").lstrip("@")
            elif imported == "@inaccessible":
                inaccessible = "inaccessible"

    root_types = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
    explicit_roots = {op.operation.value: op.type.name.value for op in schema_def.operation_types}
    if explicit_roots:
        root_types = explicit_roots

    graphs: dict[str, Graph] = {}
    types: dict[str, TypeDef] = {}
    graph_enum = f"{join}__Graph"
    for definition in document.definitions:
        if isinstance(definition, EnumTypeDefinitionNode) and definition.name.value == graph_enum:
            for value in definition.values or ():
                args = _directive_args(value.directives, f"{join}__graph")
                if not args:
                    raise SupergraphError(
                        f"graph {value.name.value} has no @{join}__graph(name:, url:) directive"
                    )
                args = args[0]
                if not args.get("name") or "url" not in args:
                    raise SupergraphError(f"graph {value.name.value} lacks a name or url")
                graphs[value.name.value] = Graph(value.name.value, args["name"], args["url"])
    if not graphs:
        raise SupergraphError(f"supergraph defines no subgraphs (enum {graph_enum} is missing)")

    for definition in document.definitions:
        kind = _KINDS.get(type(definition))
        if kind is None:
            continue
        name = definition.name.value
        if name.startswith((f"{join}__", "link__")) or name in _SPEC_SCALARS:
            continue
        directives = tuple(definition.directives or ())
        type_def = TypeDef(
            name=name,
            kind=kind,
            graphs={},
            fields={},
            directives=directives,
            inaccessible=_has(directives, inaccessible),
        )
        for args in _directive_args(directives, f"{join}__type"):
            graph = _graph_arg(args, graphs, name)
            entry = type_def.graphs.setdefault(graph, TypeInGraph())
            if args.get("key"):
                entry.keys.append(
                    Key(
                        args["key"],
                        parse_field_set(args["key"], f"key of {name}"),
                        args.get("resolvable", True) is not False,
                    )
                )
            entry.extension = entry.extension or bool(args.get("extension"))
            entry.interface_object = entry.interface_object or bool(args.get("isInterfaceObject"))
        for args in _directive_args(directives, f"{join}__implements"):
            graph = _graph_arg(args, graphs, name)
            type_def.implements.setdefault(graph, set()).add(args["interface"])
        for args in _directive_args(directives, f"{join}__unionMember"):
            graph = _graph_arg(args, graphs, name)
            type_def.members.setdefault(graph, set()).add(args["member"])
        if kind in ("object", "interface"):
            type_def.interfaces = [i.name.value for i in definition.interfaces or ()]
        if kind == "union":
            type_def.union_types = [t.name.value for t in definition.types or ()]
        if kind in ("object", "interface", "input"):
            for field_node in definition.fields or ():
                field_directives = tuple(field_node.directives or ())
                joins = _directive_args(field_directives, f"{join}__field")
                field_graphs: dict[str, FieldInGraph] = {}
                if not joins:
                    field_graphs = {graph: FieldInGraph() for graph in type_def.graphs}
                for args in joins:
                    if args.get("graph") is None:
                        continue
                    graph = _graph_arg(args, graphs, f"{name}.{field_node.name.value}")
                    where = f"{name}.{field_node.name.value}"
                    field_graphs[graph] = FieldInGraph(
                        requires=parse_field_set(args["requires"], f"requires of {where}")
                        if args.get("requires")
                        else None,
                        provides=parse_field_set(args["provides"], f"provides of {where}")
                        if args.get("provides")
                        else None,
                        external=bool(args.get("external")),
                        override=args.get("override"),
                        used_overridden=bool(args.get("usedOverridden")),
                        type=args.get("type"),
                    )
                type_def.fields[field_node.name.value] = FieldDef(
                    name=field_node.name.value,
                    type=field_node.type,
                    graphs=field_graphs,
                    directives=field_directives,
                    inaccessible=_has(field_directives, inaccessible),
                )
        types[name] = type_def

    for name in root_types.values():
        if name not in types and name == root_types.get("query"):
            raise SupergraphError(f"supergraph has no query root type {name}")
    for type_def in types.values():
        for interface in type_def.interfaces:
            if interface not in types:
                raise SupergraphError(f"{type_def.name} implements unknown interface {interface}")
        for field_def in type_def.fields.values():
            target = field_def.named_type
            if target not in types and target not in _BUILTIN_SCALARS:
                raise SupergraphError(
                    f"field {type_def.name}.{field_def.name} has unknown type {target}"
                )
    return Supergraph(
        document=document,
        graphs=graphs,
        types=types,
        root_types={k: v for k, v in root_types.items() if v in types},
        inaccessible_name=inaccessible,
        spec_prefixes=tuple(prefixes),
    )


def parse_field_set(text: str, what: str = "field set") -> SelectionSetNode:
    """Parse a ``FieldSet`` string (``"id owner { id }"``) into a selection set."""
    try:
        document = parse("{" + text + "}", no_location=True)
    except GraphQLSyntaxError as exc:
        raise SupergraphError(f"{what} is not a valid field set {text!r}: {exc.message}") from None
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.selection_set


_KINDS: dict[type, str] = {
    ObjectTypeDefinitionNode: "object",
    InterfaceTypeDefinitionNode: "interface",
    UnionTypeDefinitionNode: "union",
    EnumTypeDefinitionNode: "enum",
    InputObjectTypeDefinitionNode: "input",
    ScalarTypeDefinitionNode: "scalar",
}
_SPEC_SCALARS = {"_FieldSet", "FieldSet", "_Any"}
_BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def _links(schema_def: SchemaDefinitionNode) -> list[dict[str, Any]]:
    links = _directive_args(schema_def.directives, "link")
    for link in links:
        if not isinstance(link.get("url"), str):
            raise SupergraphError("a @link directive on the schema has no url")
    return links


def _directive_args(directives: Any, name: str) -> list[dict[str, Any]]:
    result = []
    for directive in directives or ():
        if directive.name.value == name:
            result.append(
                {
                    arg.name.value: value_from_ast_untyped(arg.value)
                    for arg in directive.arguments or ()
                }
            )
    return result


def _has(directives: tuple[DirectiveNode, ...], name: str | None) -> bool:
    return name is not None and any(d.name.value == name for d in directives)


def _graph_arg(args: dict[str, Any], graphs: dict[str, Graph], where: str) -> str:
    graph = args.get("graph")
    if graph not in graphs:
        raise SupergraphError(f"{where} names unknown graph {graph!r}")
    return graph
