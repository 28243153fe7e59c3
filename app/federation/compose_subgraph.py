"""Read one subgraph's SDL into a model composition can merge.

A subgraph names federation directives however its ``@link`` imports say (``@key``,
``@federation__key``, ``@myKey``); Federation 1 subgraphs have no ``@link`` at all. Reading
normalises both into canonical names, drops the federation plumbing every subgraph carries
(``_Service``, ``_Entity``, ``_Any``, ``Query._entities``...), renames root types to
``Query``/``Mutation``/``Subscription`` and applies the Federation 1 upgrade rules, so the
merge only ever sees one dialect.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from graphql import (
    BooleanValueNode,
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    OperationType,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    parse,
    print_ast,
)

FEDERATION_SPEC = re.compile(r"^https?://specs\.apollo\.dev/federation/v(\d+)\.(\d+)/?$")
SPEC_URL = re.compile(r"^https?://[^/]+/(?:.*/)?([A-Za-z0-9_-]+)/v(\d+)\.(\d+)/?$")

# Directives composition understands; anything else is the subgraph's own.
FEDERATION_DIRECTIVES = {
    "key",
    "external",
    "requires",
    "provides",
    "extends",
    "shareable",
    "inaccessible",
    "override",
    "tag",
    "interfaceObject",
    "composeDirective",
    "authenticated",
    "requiresScopes",
    "policy",
    "context",
    "fromContext",
    "cost",
    "listSize",
}
BUILTIN_DIRECTIVES = {"skip", "include", "deprecated", "specifiedBy", "oneOf", "defer", "stream"}
PLUMBING_TYPES = {
    "_Service",
    "_Entity",
    "_Any",
    "_FieldSet",
    "FieldSet",
    "link__Import",
    "link__Purpose",
    "federation__FieldSet",
    "federation__Scope",
    "federation__Policy",
    "federation__ContextFieldValue",
    "_Service_",
}
PLUMBING_ROOT_FIELDS = {"_service", "_entities"}
ROOT_NAMES = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


class SubgraphError(Exception):
    """A problem confined to one subgraph, with the composition error code it maps to."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Access:
    """Authorization and cost directives, carried into the supergraph for the gateway."""

    authenticated: bool = False
    scopes: list[list[str]] | None = None
    policies: list[list[str]] | None = None
    cost: int | None = None
    list_size: ConstDirectiveNode | None = None


@dataclass
class Argument:
    name: str
    type: str
    default: str | None = None
    description: str | None = None
    directives: list[ConstDirectiveNode] = field(default_factory=list)
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    from_context: str | None = None  # "$context { selection }": filled by the gateway


@dataclass
class Field:
    name: str
    type: str
    args: dict[str, Argument] = field(default_factory=dict)
    description: str | None = None
    external: bool = False
    requires: str | None = None
    provides: str | None = None
    shareable: bool = False
    override: str | None = None
    override_label: str | None = None
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    deprecated: str | None = None  # the reason, when deprecated
    directives: list[ConstDirectiveNode] = field(default_factory=list)  # composed ones
    default: str | None = None  # input fields only
    access: Access = field(default_factory=Access)


@dataclass
class Key:
    fields: str
    resolvable: bool = True
    resolvable_explicit: bool = False  # kept as written in the supergraph


@dataclass
class EnumValue:
    name: str
    description: str | None = None
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    deprecated: str | None = None
    directives: list[ConstDirectiveNode] = field(default_factory=list)


@dataclass
class Type:
    name: str
    kind: str  # object | interface | union | enum | input | scalar
    description: str | None = None
    fields: dict[str, Field] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, EnumValue] = field(default_factory=dict)
    extension: bool = False  # defined only through `extend type` or @extends
    extends_directive: bool = False
    shareable: bool = False
    interface_object: bool = False
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    directives: list[ConstDirectiveNode] = field(default_factory=list)
    specified_by: str | None = None
    has_definition: bool = False
    access: Access = field(default_factory=Access)
    contexts: list[str] = field(default_factory=list)


@dataclass
class ComposedDirective:
    """A subgraph's own directive that ``@composeDirective`` carries into the supergraph."""

    name: str  # as used in the subgraph (and the supergraph)
    url: str  # the @link url that defines it
    imported_as: str | None  # `as` of the import, when renamed
    definition: DirectiveDefinitionNode | None


@dataclass
class Subgraph:
    name: str
    url: str
    fed2: bool
    version: tuple[int, int]
    types: dict[str, Type] = field(default_factory=dict)
    composed: dict[str, ComposedDirective] = field(default_factory=dict)
    root_renames: dict[str, str] = field(default_factory=dict)

    def type_of(self, parent: str, field_name: str) -> str | None:
        owner = self.types.get(parent)
        if owner is None or field_name not in owner.fields:
            return None
        return owner.fields[field_name].type


def read_subgraph(name: str, url: str, sdl: str) -> Subgraph:
    """Parse and normalise one subgraph; raises :class:`SubgraphError` on unusable input."""
    try:
        document = parse(sdl, no_location=True)
    except GraphQLError as exc:
        raise SubgraphError("INVALID_GRAPHQL", f"[{name}] {exc.message}") from None
    names, fed2, version, links = _directive_names(document)
    subgraph = Subgraph(name=name, url=url, fed2=fed2, version=version)
    subgraph.root_renames = _root_renames(document)
    composed = _composed_directives(document, names, links)
    subgraph.composed = composed
    definitions = {
        d.name.value: d for d in document.definitions if isinstance(d, DirectiveDefinitionNode)
    }
    for directive in composed.values():
        directive.definition = definitions.get(directive.name)
    reader = _Reader(subgraph, names, set(composed))
    for definition in document.definitions:
        reader.add(definition)
    _drop_plumbing(subgraph)
    _drop_fake_externals(subgraph)
    if not fed2:
        _upgrade_fed1(subgraph)
    return subgraph


def _drop_fake_externals(subgraph: Subgraph) -> None:
    """Key fields of a type extension marked @external are resolved here, not external."""
    for type_model in subgraph.types.values():
        if not type_model.extension:
            continue
        for key in type_model.keys:
            for owner, name, _ in _safe_paths(subgraph, type_model.name, key.fields):
                if owner == type_model.name:
                    type_model.fields[name].external = False


def base_type(type_str: str) -> str:
    return type_str.replace("[", "").replace("]", "").replace("!", "")


@functools.lru_cache(maxsize=4096)
def parse_field_set(fields: str) -> SelectionSetNode:
    """Parse a federation field set (``"id owner { id }"``) as a selection set (cached: the
    same few key strings recur on every entity)."""
    document = parse("{" + fields + "}", no_location=True)
    return document.definitions[0].selection_set  # type: ignore[attr-defined]


def field_set_paths(
    subgraph: Subgraph, parent: str, fields: str
) -> list[tuple[str, str, SelectionSetNode | None]]:
    """Every (type, field, sub-selection) a field set selects, resolved in ``subgraph``.

    Raises ``KeyError`` saying what is wrong: a field the subgraph does not define, a composite
    field without a selection, a leaf field with one.
    """
    found: list[tuple[str, str, SelectionSetNode | None]] = []

    def walk(type_name: str, selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                target = selection.type_condition.name.value if selection.type_condition else None
                walk(target or type_name, selection.selection_set)
                continue
            if not isinstance(selection, FieldNode):
                raise KeyError(f"{type_name}: fragment spreads are not allowed in a field set")
            field_name = selection.name.value
            if field_name == "__typename":
                continue
            owner = subgraph.types.get(type_name)
            if owner is None or field_name not in owner.fields:
                raise KeyError(
                    f"Cannot query field {type_name}.{field_name}: the subgraph does not define it"
                )
            found.append((type_name, field_name, selection.selection_set))
            target_name = base_type(owner.fields[field_name].type)
            target = subgraph.types.get(target_name)
            composite = target is not None and target.kind in ("object", "interface", "union")
            if composite and selection.selection_set is None:
                raise KeyError(
                    f"Field {type_name}.{field_name} of composite type {target_name} needs a "
                    "selection of its fields"
                )
            if not composite and selection.selection_set is not None:
                raise KeyError(
                    f"Field {type_name}.{field_name} of type {target_name} has no fields to select"
                )
            if selection.selection_set is not None:
                walk(target_name, selection.selection_set)

    walk(parent, parse_field_set(fields))
    return found


# -- reading -----------------------------------------------------------------------------------


def _directive_names(
    document: DocumentNode,
) -> tuple[dict[str, str], bool, tuple[int, int], list[tuple[str, dict[str, str]]]]:
    """Map each local directive name to its canonical federation name; find the version."""
    names: dict[str, str] = {}
    links: list[tuple[str, dict[str, str]]] = []
    fed2 = False
    version = (1, 0)
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = {arg.name.value: arg.value for arg in directive.arguments or ()}
            url_node = args.get("url")
            if not isinstance(url_node, StringValueNode):
                continue
            imports = _imports(args.get("import"))
            links.append((url_node.value, imports))
            match = FEDERATION_SPEC.match(url_node.value)
            if match is None:
                spec = SPEC_URL.match(url_node.value)
                if spec and spec.group(1) in ("inaccessible", "tag"):
                    names.update({local[1:]: spec.group(1) for local in imports.values()})
                    names.setdefault(spec.group(1), spec.group(1))
                continue
            fed2 = True
            version = (int(match.group(1)), int(match.group(2)))
            prefix_node = args.get("as")
            prefix = prefix_node.value if isinstance(prefix_node, StringValueNode) else "federation"
            for canonical in FEDERATION_DIRECTIVES:
                names[f"{prefix}__{canonical}"] = canonical
            for original, local in imports.items():
                if original.startswith("@") and original[1:] in FEDERATION_DIRECTIVES:
                    names[local[1:]] = original[1:]
    if not fed2:
        names = {name: name for name in FEDERATION_DIRECTIVES}
    return names, fed2, version, links


def _imports(node: object) -> dict[str, str]:
    """``import: ["@key", {name: "@shareable", as: "@share"}]`` as {original: local}."""
    imports: dict[str, str] = {}
    if not isinstance(node, ListValueNode):
        return imports
    for item in node.values:
        if isinstance(item, StringValueNode):
            imports[item.value] = item.value
        elif isinstance(item, ObjectValueNode):
            fields = {f.name.value: f.value for f in item.fields}
            original, local = fields.get("name"), fields.get("as")
            if isinstance(original, StringValueNode):
                imports[original.value] = (
                    local.value if isinstance(local, StringValueNode) else original.value
                )
    return imports


def _composed_directives(
    document: DocumentNode, names: dict[str, str], links: list[tuple[str, dict[str, str]]]
) -> dict[str, ComposedDirective]:
    composed: dict[str, ComposedDirective] = {}
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if names.get(directive.name.value) != "composeDirective":
                continue
            args = {arg.name.value: arg.value for arg in directive.arguments or ()}
            value = args.get("name")
            if not isinstance(value, StringValueNode) or not value.value.startswith("@"):
                raise SubgraphError(
                    "DIRECTIVE_COMPOSITION_ERROR",
                    '@composeDirective needs name: "@directiveName"',
                )
            local = value.value
            for url, imports in links:
                for original, imported in imports.items():
                    if imported == local:
                        composed[local[1:]] = ComposedDirective(
                            name=local[1:],
                            url=url,
                            imported_as=imported if imported != original else None,
                            definition=None,
                        )
            if local[1:] not in composed:
                raise SubgraphError(
                    "DIRECTIVE_COMPOSITION_ERROR",
                    f'Directive "{local}" in @composeDirective is not imported through @link',
                )
    return composed


def _root_renames(document: DocumentNode) -> dict[str, str]:
    renames: dict[str, str] = {}
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            for operation in definition.operation_types or ():
                key = (
                    operation.operation.value
                    if isinstance(operation.operation, OperationType)
                    else str(operation.operation)
                )
                renames[operation.type.name.value] = ROOT_NAMES[key]
    return {old: new for old, new in renames.items() if old != new}


class _Reader:
    """Folds definitions and extensions of a subgraph into :class:`Type` models."""

    def __init__(self, subgraph: Subgraph, names: dict[str, str], composed: set[str]) -> None:
        self.subgraph = subgraph
        self.names = names
        self.composed = composed

    def rename(self, name: str) -> str:
        return self.subgraph.root_renames.get(name, name)

    def type_str(self, node: TypeNode) -> str:
        if isinstance(node, NonNullTypeNode):
            return self.type_str(node.type) + "!"
        if isinstance(node, ListTypeNode):
            return "[" + self.type_str(node.type) + "]"
        assert isinstance(node, NamedTypeNode)
        return self.rename(node.name.value)

    def canonical(self, directive: ConstDirectiveNode) -> str | None:
        """The federation name of ``directive``, or None for a subgraph's own directive."""
        return self.names.get(directive.name.value)

    def add(self, definition: object) -> None:
        kinds = {
            ObjectTypeDefinitionNode: "object",
            ObjectTypeExtensionNode: "object",
            InterfaceTypeDefinitionNode: "interface",
            InterfaceTypeExtensionNode: "interface",
            UnionTypeDefinitionNode: "union",
            UnionTypeExtensionNode: "union",
            EnumTypeDefinitionNode: "enum",
            EnumTypeExtensionNode: "enum",
            InputObjectTypeDefinitionNode: "input",
            InputObjectTypeExtensionNode: "input",
            ScalarTypeDefinitionNode: "scalar",
            ScalarTypeExtensionNode: "scalar",
        }
        kind = kinds.get(type(definition))
        if kind is None:
            return
        is_extension = "Extension" in type(definition).__name__
        name = self.rename(definition.name.value)  # type: ignore[attr-defined]
        model = self.subgraph.types.get(name)
        if model is None:
            model = Type(name=name, kind=kind, extension=True)
            self.subgraph.types[name] = model
        elif model.kind != kind and {model.kind, kind} != {"object", "interface"}:
            raise SubgraphError(
                "INVALID_GRAPHQL",
                f'[{self.subgraph.name}] Type "{name}" is defined as both {model.kind} and {kind}',
            )
        if not is_extension:
            model.has_definition = True
            model.extension = False
            model.kind = kind
        description = getattr(definition, "description", None)
        if description is not None and model.description is None:
            model.description = description.value
        self.type_directives(model, definition.directives or ())  # type: ignore[attr-defined]
        for interface in getattr(definition, "interfaces", None) or ():
            if interface.name.value not in model.interfaces:
                model.interfaces.append(self.rename(interface.name.value))
        for member in getattr(definition, "types", None) or ():
            if member.name.value not in model.members:
                model.members.append(self.rename(member.name.value))
        for value in getattr(definition, "values", None) or ():
            model.values[value.name.value] = self.enum_value(value)
        type_external = any(
            self.canonical(d) == "external"
            for d in definition.directives or ()  # type: ignore[attr-defined]
        )
        for node in getattr(definition, "fields", None) or ():
            field_model = self.field(node, model)
            field_model.external = field_model.external or type_external
            if field_model.name in model.fields:
                raise SubgraphError(
                    "INVALID_GRAPHQL",
                    f"[{self.subgraph.name}] Field {name}.{field_model.name} is defined twice",
                )
            model.fields[field_model.name] = field_model

    def type_directives(self, model: Type, directives: tuple[ConstDirectiveNode, ...]) -> None:
        for directive in directives:
            canonical = self.canonical(directive)
            args = _arguments(directive)
            if canonical == "key":
                fields = args.get("fields")
                if not isinstance(fields, str):
                    raise SubgraphError(
                        "KEY_INVALID_FIELDS_TYPE",
                        f'[{self.subgraph.name}] On type "{model.name}", @key needs a '
                        "fields string",
                    )
                model.keys.append(
                    Key(
                        fields=fields,
                        resolvable=args.get("resolvable") is not False,
                        resolvable_explicit="resolvable" in args,
                    )
                )
            elif canonical == "extends":
                model.extension = True
                model.extends_directive = True
            elif canonical == "shareable":
                model.shareable = True
            elif canonical == "interfaceObject":
                model.interface_object = True
            elif canonical == "context":
                model.contexts.append(str(args.get("name")))
            elif canonical == "inaccessible":
                model.inaccessible = True
            elif canonical == "tag":
                model.tags.append(str(args.get("name")))
            elif _read_access(model.access, canonical, directive):
                continue
            elif directive.name.value == "specifiedBy":
                model.specified_by = str(args.get("url"))
            elif directive.name.value in self.composed:
                model.directives.append(directive)

    def field(self, node: object, parent: Type) -> Field:
        model = Field(
            name=node.name.value,  # type: ignore[attr-defined]
            type=self.type_str(node.type),  # type: ignore[attr-defined]
        )
        description = getattr(node, "description", None)
        if description is not None:
            model.description = description.value
        default = getattr(node, "default_value", None)
        if default is not None:
            model.default = print_ast(default)
        for arg in getattr(node, "arguments", None) or ():
            argument = Argument(name=arg.name.value, type=self.type_str(arg.type))
            if arg.default_value is not None:
                argument.default = print_ast(arg.default_value)
            if arg.description is not None:
                argument.description = arg.description.value
            for directive in arg.directives or ():
                if self.canonical(directive) == "inaccessible":
                    argument.inaccessible = True
                elif self.canonical(directive) == "tag":
                    argument.tags.append(str(_arguments(directive).get("name")))
                elif self.canonical(directive) == "fromContext":
                    argument.from_context = str(_arguments(directive).get("field"))
                elif directive.name.value in self.composed:
                    argument.directives.append(directive)
            model.args[argument.name] = argument
        for directive in node.directives or ():  # type: ignore[attr-defined]
            canonical = self.canonical(directive)
            args = _arguments(directive)
            if canonical == "external":
                model.external = True
            elif canonical == "requires":
                model.requires = str(args.get("fields"))
            elif canonical == "provides":
                model.provides = str(args.get("fields"))
            elif canonical == "shareable":
                model.shareable = True
            elif canonical == "override":
                model.override = str(args.get("from"))
                label = args.get("label")
                model.override_label = str(label) if label is not None else None
            elif canonical == "inaccessible":
                model.inaccessible = True
            elif canonical == "tag":
                model.tags.append(str(args.get("name")))
            elif directive.name.value == "deprecated":
                reason = args.get("reason")
                model.deprecated = str(reason) if reason is not None else "No longer supported"
            elif _read_access(model.access, canonical, directive):
                continue
            elif directive.name.value in self.composed:
                model.directives.append(directive)
        return model

    def enum_value(self, node: object) -> EnumValue:
        value = EnumValue(name=node.name.value)  # type: ignore[attr-defined]
        description = getattr(node, "description", None)
        if description is not None:
            value.description = description.value
        for directive in node.directives or ():  # type: ignore[attr-defined]
            canonical = self.canonical(directive)
            args = _arguments(directive)
            if canonical == "inaccessible":
                value.inaccessible = True
            elif canonical == "tag":
                value.tags.append(str(args.get("name")))
            elif directive.name.value == "deprecated":
                reason = args.get("reason")
                value.deprecated = str(reason) if reason is not None else "No longer supported"
            elif directive.name.value in self.composed:
                value.directives.append(directive)
        return value


def _read_access(access: Access, canonical: str | None, directive: ConstDirectiveNode) -> bool:
    """Record an authorization or cost directive; False if ``directive`` is neither."""
    if canonical == "authenticated":
        access.authenticated = True
    elif canonical in ("requiresScopes", "policy"):
        argument = "scopes" if canonical == "requiresScopes" else "policies"
        values = {a.name.value: a.value for a in directive.arguments or ()}
        node = values.get(argument)
        groups = [
            [item.value for item in group.values if isinstance(item, StringValueNode)]
            for group in (node.values if isinstance(node, ListValueNode) else ())
            if isinstance(group, ListValueNode)
        ]
        if canonical == "requiresScopes":
            access.scopes = groups
        else:
            access.policies = groups
    elif canonical == "cost":
        weight = _arguments(directive).get("weight")
        access.cost = int(str(weight)) if weight is not None else None
    elif canonical == "listSize":
        access.list_size = directive
    else:
        return False
    return True


def _arguments(directive: ConstDirectiveNode) -> dict[str, object]:
    values: dict[str, object] = {}
    for arg in directive.arguments or ():
        value = arg.value
        if isinstance(value, StringValueNode | BooleanValueNode):
            values[arg.name.value] = value.value
        else:
            values[arg.name.value] = print_ast(value)
    return values


def _drop_plumbing(subgraph: Subgraph) -> None:
    for name in list(subgraph.types):
        if name in PLUMBING_TYPES:
            del subgraph.types[name]
    query = subgraph.types.get("Query")
    if query is not None:
        for name in PLUMBING_ROOT_FIELDS:
            query.fields.pop(name, None)
        if not query.fields:
            del subgraph.types["Query"]


def _upgrade_fed1(subgraph: Subgraph) -> None:
    """Apply the Federation 1 to 2 rules: fed1 had no @shareable and looser @external."""
    used: set[tuple[str, str]] = set()
    for type_model in subgraph.types.values():
        if type_model.kind == "interface":
            type_model.keys = []
        for key in type_model.keys:
            used.update((o, n) for o, n, _ in _safe_paths(subgraph, type_model.name, key.fields))
        for field_model in type_model.fields.values():
            if field_model.requires:
                used.update(
                    (o, n)
                    for o, n, _ in _safe_paths(subgraph, type_model.name, field_model.requires)
                )
            if field_model.provides:
                target = base_type(field_model.type)
                used.update(
                    (o, n) for o, n, _ in _safe_paths(subgraph, target, field_model.provides)
                )
    for type_model in subgraph.types.values():
        for field_model in type_model.fields.values():
            if field_model.provides and not _provides_external(subgraph, field_model):
                field_model.provides = None  # it provided only what the subgraph resolves anyway
    for type_model in subgraph.types.values():
        type_model.extension = type_model.extends_directive
        for name in list(type_model.fields):
            field_model = type_model.fields[name]
            if field_model.external and (type_model.name, name) not in used:
                del type_model.fields[name]
            else:
                field_model.shareable = True


def _provides_external(subgraph: Subgraph, field_model: Field) -> bool:
    """Whether a @provides names an @external field; an invalid one is kept to be reported."""
    target = base_type(field_model.type)
    try:
        paths = field_set_paths(subgraph, target, field_model.provides or "")
    except (KeyError, GraphQLError):
        return True
    return any(subgraph.types[owner].fields[name].external for owner, name, _ in paths)


def _safe_paths(
    subgraph: Subgraph, parent: str, fields: str
) -> list[tuple[str, str, SelectionSetNode | None]]:
    try:
        return field_set_paths(subgraph, parent, fields)
    except (KeyError, GraphQLError):
        return []
