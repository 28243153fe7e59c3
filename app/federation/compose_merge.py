"""Merge normalised subgraphs into one supergraph model, checking federation's rules.

Each merged element remembers which subgraphs provide it (``join__*`` metadata) so the
gateway can plan fetches. Rules checked here are the ones that make a supergraph unusable:
the same field resolved by several subgraphs without ``@shareable``, incompatible field types,
key/requires/provides naming fields that do not exist, ``@external`` fields nobody owns, and
``@override`` misuse. Errors are collected, not raised one at a time, so a subgraph author sees
every problem in one run.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from graphql import (
    ConstDirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    EnumValueNode,
    FieldDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
    parse_value,
    print_ast,
    validate_schema,
)

from app.federation.compose_satisfiability import unsatisfiable
from app.federation.compose_subgraph import (
    Access,
    Argument,
    ComposedDirective,
    EnumValue,
    Field,
    Subgraph,
    Type,
    base_type,
    field_set_paths,
    parse_field_set,
)

ROOT_TYPES = ("Query", "Mutation", "Subscription")
BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


@dataclass
class Issue:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class JoinField:
    graph: str
    requires: str | None = None
    provides: str | None = None
    type: str | None = None
    external: bool = False
    override: str | None = None
    used_overridden: bool = False
    override_label: str | None = None
    context_arguments: list[dict[str, str]] | None = None


@dataclass
class MergedArgument:
    name: str
    type: str
    default: str | None
    description: str | None
    inaccessible: bool
    directives: list[ConstDirectiveNode]
    tags: list[str] = field(default_factory=list)


@dataclass
class MergedField:
    name: str
    type: str
    description: str | None = None
    args: dict[str, MergedArgument] = field(default_factory=dict)
    default: str | None = None
    deprecated: str | None = None
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    directives: list[ConstDirectiveNode] = field(default_factory=list)
    joins: list[JoinField] | None = None  # None: resolvable wherever the type is
    access: Access = field(default_factory=Access)
    bare_join: bool = False  # added from an @interfaceObject: no subgraph resolves it here


@dataclass
class MergedValue:
    name: str
    graphs: list[str]
    description: str | None = None
    deprecated: str | None = None
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    directives: list[ConstDirectiveNode] = field(default_factory=list)


@dataclass
class MergedType:
    name: str
    kind: str
    description: str | None = None
    join_types: list[dict[str, object]] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    implements: list[tuple[str, str]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    union_members: list[tuple[str, str]] = field(default_factory=list)
    fields: dict[str, MergedField] = field(default_factory=dict)
    values: dict[str, MergedValue] = field(default_factory=dict)
    inaccessible: bool = False
    tags: list[str] = field(default_factory=list)
    directives: list[ConstDirectiveNode] = field(default_factory=list)
    specified_by: str | None = None
    access: Access = field(default_factory=Access)
    contexts: list[str] = field(default_factory=list)


@dataclass
class Supergraph:
    graphs: list[tuple[str, str, str]]  # (enum name, subgraph name, url)
    types: dict[str, MergedType]
    roots: list[str]
    join_version: str
    composed: dict[str, ComposedDirective]
    uses_inaccessible: bool = False
    uses_tag: bool = False
    access_features: set[str] = field(default_factory=set)
    uses_context: bool = False
    hints: list[Issue] = field(default_factory=list)


def graph_enum_names(names: list[str]) -> list[str]:
    """``join__Graph`` value for each subgraph name: upper case, ``_`` for other characters."""
    taken: set[str] = set()
    result = []
    for name in names:
        candidate = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if not candidate or candidate[0].isdigit():
            candidate = "_" + candidate
        unique, n = candidate, 1
        while unique in taken:
            unique = f"{candidate}_{n}"
            n += 1
        taken.add(unique)
        result.append(unique)
    return result


def join_version(subgraphs: list[Subgraph]) -> str:
    latest = max((s.version for s in subgraphs if s.fed2), default=(2, 0))
    if latest >= (2, 8):
        return "0.5"
    if latest >= (2, 7):
        return "0.4"
    return "0.3"


def merge(subgraphs: list[Subgraph]) -> tuple[Supergraph | None, list[Issue]]:
    merger = _Merger(sorted(subgraphs, key=lambda s: s.name))
    supergraph = merger.run()
    return (None if merger.issues else supergraph), merger.issues


def is_subtype(sub: str, sup: str, named: callable) -> bool:  # type: ignore[valid-type]
    """Whether output type ``sub`` may stand where ``sup`` is expected."""
    if sup.endswith("!"):
        return sub.endswith("!") and is_subtype(sub[:-1], sup[:-1], named)
    if sub.endswith("!"):
        return is_subtype(sub[:-1], sup, named)
    if sup.startswith("["):
        return sub.startswith("[") and is_subtype(sub[1:-1], sup[1:-1], named)
    if sub.startswith("["):
        return False
    return sub == sup or named(sub, sup)


class _Merger:
    def __init__(self, subgraphs: list[Subgraph]) -> None:
        self.subgraphs = subgraphs
        self.enum_names = graph_enum_names([s.name for s in subgraphs])
        self.graph_of = {s.name: g for s, g in zip(subgraphs, self.enum_names, strict=True)}
        self.issues: list[Issue] = []
        self.hints: list[Issue] = []
        self.types: dict[str, MergedType] = {}
        # (type, field, subgraph) of fields an @override moved away entirely
        self.overridden_away: set[tuple[str, str, str]] = set()
        self.used_overridden: set[tuple[str, str, str]] = set()
        self.labels: dict[tuple[str, str, str], str] = {}
        self._key_fields: dict[str, set[tuple[str, str]]] = {}
        self._provided: dict[str, set[tuple[str, str]]] = {}
        self.unmergeable: set[str] = set()
        self._directive_fields: dict[str, set[tuple[str, str]]] = {}

    def error(self, code: str, message: str) -> None:
        self.issues.append(Issue(code, message))

    def run(self) -> Supergraph:
        names = [s.name for s in self.subgraphs]
        for name in {n for n in names if names.count(n) > 1}:
            self.error("INVALID_SUBGRAPH_NAME", f'More than one subgraph is named "{name}"')
        for subgraph in self.subgraphs:
            if subgraph.name == "_" or not subgraph.name:
                self.error("INVALID_SUBGRAPH_NAME", f'Invalid subgraph name "{subgraph.name}"')
        for subgraph in self.subgraphs:
            self.check_subgraph(subgraph)
            self.check_unused_externals(subgraph)
        if self.issues:  # each subgraph must be valid on its own before merging means anything
            return Supergraph(graphs=[], types={}, roots=[], join_version="", composed={})
        for subgraph in self.subgraphs:
            for type_model in subgraph.types.values():
                for field_model in type_model.fields.values():
                    if field_model.override is not None:
                        self.check_override(subgraph, type_model, field_model)
        self.collect_overrides()
        order: list[str] = []
        for subgraph in self.subgraphs:
            for name in subgraph.types:
                if name not in order:
                    order.append(name)
        if "Query" not in order:
            order.insert(0, "Query")
        for name in order:
            self.merge_type(name)
        self.propagate_interface_objects()
        self.merge_enum_values()
        self.check_externals()
        self.check_field_types()
        self.check_defaults()
        self.check_inaccessible_children()
        if not self.issues:
            self.check_interface_object_sharing()
            self.check_interface_key_implementations()
        if not self.issues:
            self.check_supergraph_schema()
        if not self.issues:
            self.check_shared_runtime_types()
        if not self.issues:
            for problem in unsatisfiable(self.subgraphs, self.overridden_away):
                self.error("SATISFIABILITY_ERROR", problem)
        composed: dict[str, ComposedDirective] = {}
        for subgraph in self.subgraphs:
            for name, directive in subgraph.composed.items():
                composed.setdefault(name, directive)
        roots = [r for r in ROOT_TYPES if r in self.types]
        uses_inaccessible = any(self._inaccessible_anywhere(t) for t in self.types.values())
        uses_tag = any(self._tag_anywhere(t) for t in self.types.values())
        return Supergraph(
            graphs=[
                (g, s.name, s.url) for s, g in zip(self.subgraphs, self.enum_names, strict=True)
            ],
            types=self.types,
            roots=roots,
            join_version=join_version(self.subgraphs),
            composed=composed,
            uses_inaccessible=uses_inaccessible,
            uses_tag=uses_tag,
            access_features=_access_features(self.types.values()),
            uses_context=any(t.contexts for t in self.types.values()),
            hints=self.hints,
        )

    # -- per-subgraph checks ------------------------------------------------------------------

    def check_subgraph(self, subgraph: Subgraph) -> None:
        before = len(self.issues)
        self.check_references(subgraph)
        if len(self.issues) == before:
            self.check_schema(subgraph)
        for type_model in subgraph.types.values():
            self.check_entity_interfaces(subgraph, type_model)
            for key in type_model.keys:
                self.check_key(subgraph, type_model, key.fields)
            for field_model in type_model.fields.values():
                where = f'"{type_model.name}.{field_model.name}"'
                if field_model.requires is not None:
                    self.check_selection(
                        subgraph, type_model.name, field_model.requires, "requires", where
                    )
                if field_model.provides is not None:
                    target = subgraph.types.get(base_type(field_model.type))
                    if target is None or target.kind not in ("object", "interface", "union"):
                        self.error(
                            "PROVIDES_ON_NON_OBJECT_FIELD",
                            f"[{subgraph.name}] Invalid @provides directive on field {where}: "
                            f'field has type "{field_model.type}" which is not a composite type',
                        )
                    else:
                        self.check_selection(
                            subgraph, target.name, field_model.provides, "provides", where
                        )

    def check_references(self, subgraph: Subgraph) -> None:
        """Each subgraph must be a valid schema on its own: no reference to unknown types."""
        known = set(subgraph.types) | BUILTIN_SCALARS | {"Query"}
        for type_model in subgraph.types.values():
            references = [
                (f"{type_model.name}.{f.name}", f.type) for f in type_model.fields.values()
            ]
            references += [
                (f"{type_model.name}.{f.name}({a.name}:)", a.type)
                for f in type_model.fields.values()
                for a in f.args.values()
            ]
            references += [(type_model.name, m) for m in type_model.members]
            references += [(type_model.name, i) for i in type_model.interfaces]
            for where, reference in references:
                if base_type(reference) not in known:
                    self.error(
                        "INVALID_GRAPHQL",
                        f'[{subgraph.name}] Unknown type "{base_type(reference)}" '
                        f"referenced by {where}",
                    )

    def check_entity_interfaces(self, subgraph: Subgraph, type_model: Type) -> None:
        if type_model.interface_object and not type_model.keys:
            self.error(
                "INTERFACE_OBJECT_USAGE_ERROR",
                f"[{subgraph.name}] The @interfaceObject directive can only be applied to entity "
                f'types but type "{type_model.name}" has no @key in this subgraph.',
            )
        if type_model.kind != "interface" or not type_model.keys:
            return
        for implementation in subgraph.types.values():
            if type_model.name not in implementation.interfaces:
                continue
            theirs = {" ".join(k.fields.split()) for k in implementation.keys}
            for key in type_model.keys:
                if " ".join(key.fields.split()) not in theirs:
                    self.error(
                        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
                        f'[{subgraph.name}] Key @key(fields: "{key.fields}") on interface type '
                        f'"{type_model.name}" is missing on implementation type '
                        f'"{implementation.name}".',
                    )

    def check_schema(self, subgraph: Subgraph) -> None:
        """GraphQL's own schema rules (interface implementations, union members, input and
        output positions), checked on the subgraph's types without federation directives."""
        try:
            schema = build_ast_schema(
                plain_document(subgraph.types.values()), assume_valid_sdl=True
            )
        except (GraphQLError, TypeError) as exc:
            self.error("INVALID_GRAPHQL", f"[{subgraph.name}] {exc}")
            return
        for error in validate_schema(schema):
            if "root type" in error.message:
                continue
            self.error("INVALID_GRAPHQL", f"[{subgraph.name}] {error.message}")

    def check_key(self, subgraph: Subgraph, type_model: Type, fields: str) -> None:
        where = f'On type "{type_model.name}", for @key(fields: "{fields}")'
        try:
            paths = field_set_paths(subgraph, type_model.name, fields)
        except GraphQLError as exc:
            self.error("KEY_INVALID_FIELDS", f"[{subgraph.name}] {where}: {exc.message}")
            return
        except KeyError as exc:
            self.error("KEY_INVALID_FIELDS", f"[{subgraph.name}] {where}: {exc.args[0]}")
            return
        for owner, name, _ in paths:
            field_model = subgraph.types[owner].fields[name]
            if field_model.args:
                self.error(
                    "KEY_FIELDS_HAS_ARGS",
                    f"[{subgraph.name}] {where}: field {owner}.{name} cannot be included "
                    "because it has arguments",
                )
            target = subgraph.types.get(base_type(field_model.type))
            if target is not None and target.kind in ("interface", "union"):
                self.error(
                    "KEY_FIELDS_SELECT_INVALID_TYPE",
                    f"[{subgraph.name}] {where}: field {owner}.{name} is a {target.kind} "
                    "type which is not allowed in @key",
                )
        if not paths:
            self.error("KEY_INVALID_FIELDS", f"[{subgraph.name}] {where}: selects no field")

    def check_selection(
        self, subgraph: Subgraph, parent: str, fields: str, directive: str, where: str
    ) -> None:
        code = directive.upper()
        message = f'On field {where}, for @{directive}(fields: "{fields}")'
        try:
            field_set_paths(subgraph, parent, fields)
        except GraphQLError as exc:
            self.error(f"{code}_INVALID_FIELDS", f"[{subgraph.name}] {message}: {exc.message}")
            return
        except KeyError as exc:
            self.error(f"{code}_INVALID_FIELDS", f"[{subgraph.name}] {message}: {exc.args[0]}")
            return
        if not subgraph.fed2:
            return
        for owner, name in self._unexternal_leaves(subgraph, parent, fields):
            self.error(
                f"{code}_FIELDS_MISSING_EXTERNAL",
                f'[{subgraph.name}] {message}: field "{owner}.{name}" should not be part '
                f"of a @{directive} since it is already provided by this subgraph "
                "(it is not marked @external)",
            )

    @staticmethod
    def _unexternal_leaves(subgraph: Subgraph, parent: str, fields: str) -> list[tuple[str, str]]:
        """Leaf fields of a field set that are not @external and have no @external ancestor."""
        found: list[tuple[str, str]] = []

        def walk(type_name: str, selections: object, external_above: bool) -> None:
            for selection in selections.selections:  # type: ignore[attr-defined]
                if isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = condition.name.value if condition else type_name
                    walk(target, selection.selection_set, external_above)
                    continue
                name = selection.name.value
                owner = subgraph.types.get(type_name)
                if name == "__typename" or owner is None or name not in owner.fields:
                    continue
                field_model = owner.fields[name]
                external = external_above or field_model.external
                if owner.kind == "interface":
                    implementations = [
                        t for t in subgraph.types.values() if type_name in t.interfaces
                    ]
                    external = (
                        external
                        or bool(implementations)
                        and all(
                            name in t.fields and t.fields[name].external for t in implementations
                        )
                    )
                if selection.selection_set is not None:
                    walk(base_type(field_model.type), selection.selection_set, external)
                elif not external:
                    found.append((type_name, name))

        walk(parent, parse_field_set(fields), False)
        return found

    def _is_provided(self, subgraph: Subgraph, owner: str, name: str) -> bool:
        """Whether a @provides of ``subgraph`` selects ``owner.name`` (at any depth)."""
        cached = self._provided.get(subgraph.name)
        if cached is None:
            cached = set()
            for type_model in subgraph.types.values():
                for field_model in type_model.fields.values():
                    if field_model.provides is None:
                        continue
                    target = base_type(field_model.type)
                    try:
                        paths = field_set_paths(subgraph, target, field_model.provides)
                    except (KeyError, GraphQLError):
                        continue
                    for owner_name, field_name, _ in paths:
                        cached.add((owner_name, field_name))
                        if subgraph.types[owner_name].kind == "interface":  # and implementations
                            cached.update(
                                (t.name, field_name)
                                for t in subgraph.types.values()
                                if owner_name in t.interfaces
                            )
            self._provided[subgraph.name] = cached
        return (owner, name) in cached

    def _is_key_field(self, subgraph: Subgraph, owner: str, name: str) -> bool:
        """Whether ``owner.name`` is selected (at any depth) by a @key of ``subgraph``."""
        cached = self._key_fields.get(subgraph.name)
        if cached is None:
            cached = set()
            for type_model in subgraph.types.values():
                for key in type_model.keys:
                    try:
                        paths = field_set_paths(subgraph, type_model.name, key.fields)
                    except (KeyError, GraphQLError):
                        continue
                    cached.update((o, n) for o, n, _ in paths)
            self._key_fields[subgraph.name] = cached
        return (owner, name) in cached

    def check_override(self, subgraph: Subgraph, type_model: Type, field_model: Field) -> None:
        where = f'"{type_model.name}.{field_model.name}"'
        if field_model.override == subgraph.name:
            self.error(
                "OVERRIDE_FROM_SELF_ERROR",
                f'[{subgraph.name}] Source and destination subgraphs "{subgraph.name}" are the '
                f"same for overridden field {where}",
            )
        if field_model.external:
            self.error(
                "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
                f"[{subgraph.name}] @override cannot be used on field {where} on subgraph "
                f'"{subgraph.name}" since {where} on "{subgraph.name}" is marked @external',
            )

    def collect_overrides(self) -> None:
        by_name = {s.name: s for s in self.subgraphs}
        for subgraph in self.subgraphs:
            for type_model in subgraph.types.values():
                for field_model in type_model.fields.values():
                    source_name = field_model.override
                    if source_name is None or source_name == subgraph.name:
                        continue
                    source = by_name.get(source_name)
                    if source is None:
                        self.hints.append(
                            Issue(
                                "FROM_SUBGRAPH_DOES_NOT_EXIST",
                                f'Source subgraph "{source_name}" for field '
                                f'"{type_model.name}.{field_model.name}" on subgraph '
                                f'"{subgraph.name}" does not exist; the @override has no effect',
                            )
                        )
                        continue
                    source_type = source.types.get(type_model.name)
                    if source_type is None or field_model.name not in source_type.fields:
                        continue
                    source_field = source_type.fields[field_model.name]
                    key = (type_model.name, field_model.name, source_name)
                    if source_field.override is not None:
                        self.error(
                            "OVERRIDE_SOURCE_HAS_OVERRIDE",
                            f'Field "{type_model.name}.{field_model.name}" on subgraph '
                            f'"{subgraph.name}" is also marked with directive @override in '
                            f'subgraph "{source_name}". Only one @override directive is '
                            "allowed per field.",
                        )
                        continue
                    if source_field.external:
                        continue
                    if field_model.override_label is not None:
                        self.labels[key] = field_model.override_label
                    elif self._used_overridden(source, type_model.name, field_model.name):
                        self.used_overridden.add(key)
                    else:
                        self.overridden_away.add(key)

    def _used_overridden(self, subgraph: Subgraph, owner: str, name: str) -> bool:
        """An overridden field stays needed if its subgraph uses it or it fills an interface."""
        if self._used_by_directives(subgraph, owner, name):
            return True
        type_model = subgraph.types[owner]
        return any(
            name in subgraph.types[i].fields for i in type_model.interfaces if i in subgraph.types
        )

    def _used_by_directives(self, subgraph: Subgraph, owner: str, name: str) -> bool:
        """Whether a @key, @requires or @provides of ``subgraph`` selects ``owner.name``."""
        used = self._directive_fields.get(subgraph.name)
        if used is None:
            used = set()
            for type_model in subgraph.types.values():
                sets = [(type_model.name, k.fields) for k in type_model.keys]
                for field_model in type_model.fields.values():
                    if field_model.requires:
                        sets.append((type_model.name, field_model.requires))
                    if field_model.provides:
                        sets.append((base_type(field_model.type), field_model.provides))
                for parent, fields in sets:
                    try:
                        paths = field_set_paths(subgraph, parent, fields)
                    except (KeyError, GraphQLError):
                        continue
                    used.update((o, n) for o, n, _ in paths)
            self._directive_fields[subgraph.name] = used
        return (owner, name) in used

    # -- types --------------------------------------------------------------------------------

    def sources(self, name: str) -> list[tuple[Subgraph, Type]]:
        found = [(s, s.types[name]) for s in self.subgraphs if name in s.types]
        return found

    def merge_type(self, name: str) -> None:
        sources = self.sources(name)
        kinds = {t.kind for _, t in sources}
        if name == "Query" and not sources:
            kinds = {"object"}
        if kinds == {"object"} and any(t.interface_object for _, t in sources):
            self.error(
                "INTERFACE_OBJECT_USAGE_ERROR",
                f'Type "{name}" is declared with @interfaceObject in '
                + _quoted([s.name for s, t in sources if t.interface_object])
                + " but is not an interface in any subgraph",
            )
        if len(kinds) > 1:
            object_sources = [t for _, t in sources if t.kind == "object"]
            if kinds == {"object", "interface"} and all(t.interface_object for t in object_sources):
                kind = "interface"
            else:
                described = ", ".join(f'{t.kind} in "{s.name}"' for s, t in sources)
                self.error(
                    "TYPE_KIND_MISMATCH",
                    f'Type "{name}" has mismatched kind: it is defined as {described}',
                )
                self.unmergeable.add(name)
                return
        else:
            (kind,) = kinds
        merged = MergedType(name=name, kind=kind)
        merged.description = next((t.description for _, t in sources if t.description), None)
        merged.inaccessible = any(t.inaccessible for _, t in sources)
        merged.tags = _unique(tag for _, t in sources for tag in t.tags)
        merged.directives = _unique_directives(d for _, t in sources for d in t.directives)
        merged.specified_by = next((t.specified_by for _, t in sources if t.specified_by), None)
        merged.access = merge_access([t.access for _, t in sources])
        merged.contexts = [f"{s.name}__{c}" for s, t in sources for c in t.contexts]
        self.types[name] = merged
        present = {s.name: t for s, t in sources}
        for subgraph in self.subgraphs:
            if subgraph.name in present:
                self.add_join_types(merged, subgraph, present[subgraph.name])
            elif name == "Query":
                merged.join_types.append({"graph": self.graph_of[subgraph.name]})
        if kind in ("object", "interface"):
            self.merge_fields(merged, sources)
            for subgraph, type_model in sources:
                for interface in type_model.interfaces:
                    if interface not in merged.interfaces:
                        merged.interfaces.append(interface)
                    merged.implements.append((self.graph_of[subgraph.name], interface))
        elif kind == "input":
            self.merge_input_fields(merged, sources)
        elif kind == "union":
            for _, type_model in sources:
                for member in type_model.members:
                    if member not in merged.members:
                        merged.members.append(member)
            for member in merged.members:
                for subgraph, type_model in sources:
                    if member in type_model.members:
                        merged.union_members.append((self.graph_of[subgraph.name], member))
        # enum values are merged once every type is known (they depend on usage)

    def add_join_types(self, merged: MergedType, subgraph: Subgraph, type_model: Type) -> None:
        graph = self.graph_of[subgraph.name]
        keys = type_model.keys if type_model.kind in ("object", "interface") else []
        if not keys:
            join: dict[str, object] = {"graph": graph}
            if type_model.interface_object:
                join["isInterfaceObject"] = True
            merged.join_types.append(join)
            return
        for key in keys:
            join = {"graph": graph, "key": key.fields}
            if type_model.extension:
                join["extension"] = True
            if not key.resolvable or key.resolvable_explicit:
                join["resolvable"] = key.resolvable
            if type_model.interface_object:
                join["isInterfaceObject"] = True
            merged.join_types.append(join)

    def merge_fields(self, merged: MergedType, sources: list[tuple[Subgraph, Type]]) -> None:
        order: list[str] = []
        for _, type_model in sources:
            for name in type_model.fields:
                if name not in order:
                    order.append(name)
        having_type = [s for s, _ in sources]
        if merged.name == "Query":
            having_type = list(self.subgraphs)
        for name in order:
            defining = [(s, t.fields[name], t) for s, t in sources if name in t.fields]
            self.merge_field(merged, name, defining, having_type)

    def merge_field(
        self,
        merged: MergedType,
        name: str,
        defining: list[tuple[Subgraph, Field, Type]],
        having_type: list[Subgraph],
    ) -> None:
        coordinate = f"{merged.name}.{name}"
        active = [
            (s, f, t)
            for s, f, t in defining
            if (merged.name, name, s.name) not in self.overridden_away
        ]
        if not active:
            return
        resolving = [
            (s, f, t)
            for s, f, t in active
            if (not f.external or self._is_provided(s, merged.name, name))
            and (merged.name, name, s.name) not in self.used_overridden
            and (merged.name, name, s.name) not in self.labels
        ]
        if merged.kind == "object" and len(resolving) > 1:
            unshared = [
                s.name
                for s, f, t in resolving
                if not (
                    f.external
                    or f.shareable
                    or t.shareable
                    or self._is_key_field(s, merged.name, name)
                )
            ]
            if unshared and not all(t.interface_object for _, _, t in resolving):
                names = " and ".join(f'"{s.name}"' for s, _, _ in resolving)
                shared = [s.name for s, _, _ in resolving if s.name not in unshared]
                detail = (
                    "defined as non-shareable in all of them"
                    if not shared
                    else "defined as non-shareable in " + ", ".join(f'"{n}"' for n in unshared)
                )
                self.error(
                    "INVALID_FIELD_SHARING",
                    f'Non-shareable field "{coordinate}" is resolved from multiple subgraphs: '
                    f"it is resolved from subgraphs {names} and {detail}",
                )
        # Fields an @override moved away still take part in type merging.
        types = [f.type for _, f, _ in defining]
        owned = [f.type for _, f, _ in defining if not f.external] or types
        merged_type = self.supertype(owned) if len(set(types)) > 1 else types[0]
        if merged_type is None:
            described = ", ".join(f'type "{f.type}" in "{s.name}"' for s, f, _ in defining)
            self.error(
                "FIELD_TYPE_MISMATCH",
                f'Type of field "{coordinate}" is incompatible across subgraphs: '
                f"it has {described}",
            )
            return
        self.check_external_types(coordinate, merged_type, defining)
        field_model = MergedField(name=name, type=merged_type)
        field_model.description = next((f.description for _, f, _ in active if f.description), None)
        field_model.deprecated = next((f.deprecated for _, f, _ in active if f.deprecated), None)
        field_model.inaccessible = any(f.inaccessible for _, f, _ in defining)
        field_model.tags = _unique(tag for _, f, _ in active for tag in f.tags)
        field_model.directives = _unique_directives(d for _, f, _ in active for d in f.directives)
        field_model.args = self.merge_arguments(coordinate, [(s, f) for s, f, _ in active])
        field_model.access = merge_access([f.access for _, f, _ in active])
        all_types_equal = len(set(types)) == 1
        needs_join = not all_types_equal
        active_names = {s.name for s, _, _ in active}
        for subgraph in having_type:
            if subgraph.name not in active_names:
                needs_join = True
        for subgraph, f, _ in active:
            key = (merged.name, name, subgraph.name)
            if (
                any(a.from_context for a in f.args.values())
                or f.external
                or f.requires
                or f.provides
                or self._override_applies(merged.name, name, f)
                or key in self.used_overridden
                or key in self.labels
            ):
                needs_join = True
        if needs_join:
            joins = []
            for subgraph, f, _ in active:
                key = (merged.name, name, subgraph.name)
                join = JoinField(graph=self.graph_of[subgraph.name])
                join.requires = f.requires
                join.provides = f.provides
                if not all_types_equal:
                    join.type = f.type
                join.external = f.external
                join.override = f.override
                join.override_label = f.override_label or self.labels.get(key)
                join.used_overridden = key in self.used_overridden
                join.context_arguments = _context_arguments(subgraph, f) or None
                joins.append(join)
            field_model.joins = joins
        merged.fields[name] = field_model

    def _override_applies(self, type_name: str, field_name: str, f: Field) -> bool:
        """An @override matters only if its source subgraph defines the field."""
        source = next((s for s in self.subgraphs if s.name == f.override), None)
        owner = source.types.get(type_name) if source is not None else None
        return owner is not None and field_name in owner.fields

    def check_external_types(
        self, coordinate: str, merged_type: str, defining: list[tuple[Subgraph, Field, Type]]
    ) -> None:
        """An @external field must declare exactly the type (and argument types) its owners do."""
        owners = [(s, f) for s, f, _ in defining if not f.external]
        if not owners:
            return
        for subgraph, f, _ in defining:
            if not f.external:
                continue
            if f.type != merged_type:
                self.error(
                    "EXTERNAL_TYPE_MISMATCH",
                    f'Type of field "{coordinate}" is incompatible across subgraphs (where '
                    f'marked @external): it has type "{merged_type}" in subgraph '
                    f'"{owners[0][0].name}" but type "{f.type}" in subgraph "{subgraph.name}"',
                )
            for owner, owner_field in owners:
                for arg in owner_field.args.values():
                    mine = f.args.get(arg.name)
                    # an external argument may be more lenient than its owner's, not stricter
                    if mine is not None and not is_subtype(arg.type, mine.type, _no_named):
                        self.error(
                            "EXTERNAL_ARGUMENT_TYPE_MISMATCH",
                            f'Type of argument "{coordinate}({arg.name}:)" is incompatible '
                            f'across subgraphs (where "{coordinate}" is marked @external): it '
                            f'has type "{arg.type}" in subgraph "{owner.name}" but type '
                            f'"{mine.type}" in subgraph "{subgraph.name}"',
                        )
                break

    def supertype(self, types: list[str]) -> str | None:
        for candidate in types:
            if all(is_subtype(other, candidate, self.named_subtype) for other in types):
                return candidate
        return None

    def named_subtype(self, sub: str, sup: str) -> bool:
        for subgraph in self.subgraphs:
            parent = subgraph.types.get(sup)
            child = subgraph.types.get(sub)
            if parent is None:
                continue
            if parent.kind == "union" and sub in parent.members:
                return True
            if child is not None and sup in child.interfaces:
                return True
        return False

    def merge_arguments(
        self, coordinate: str, defining: list[tuple[Subgraph, Field]]
    ) -> dict[str, MergedArgument]:
        considered = [(s, f) for s, f in defining if not f.external] or defining
        order: list[str] = []
        for _, f in considered:
            for name, argument in f.args.items():
                if name not in order and argument.from_context is None:
                    order.append(name)
        merged: dict[str, MergedArgument] = {}
        for name in order:
            present = [(s, f.args[name]) for s, f in considered if name in f.args]
            if len(present) < len(considered):
                required = [
                    s.name for s, a in present if a.type.endswith("!") and a.default is None
                ]
                missing = [s.name for s, f in considered if name not in f.args]
                if not required:
                    self.hints.append(
                        Issue(
                            "INCONSISTENT_ARGUMENT_PRESENCE",
                            f'Optional argument "{coordinate}({name}:)" will not be part of the '
                            f"supergraph as it does not appear in all subgraphs: it is defined "
                            f"in {_quoted([s.name for s, _ in present])} but not in "
                            f"{_quoted(missing)}",
                        )
                    )
                if required:
                    self.error(
                        "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                        f'Argument "{coordinate}({name}:)" is required in some subgraphs but '
                        f"does not appear in all subgraphs: it is required in "
                        f"{_quoted(required)} but does not appear in {_quoted(missing)}",
                    )
                continue
            merged[name] = self.merge_input_value(f"{coordinate}({name}:)", present)
        return merged

    def merge_input_value(
        self, coordinate: str, present: list[tuple[Subgraph, Argument | Field]]
    ) -> MergedArgument:
        types = [a.type for _, a in present]
        merged_type = types[0]
        if len(set(types)) > 1:
            strictest = [
                t for t in types if all(is_subtype(t, o, lambda a, b: False) for o in types)
            ]
            if not strictest:
                described = ", ".join(f'type "{a.type}" in "{s.name}"' for s, a in present)
                self.error(
                    "FIELD_ARGUMENT_TYPE_MISMATCH" if "(" in coordinate else "FIELD_TYPE_MISMATCH",
                    f'Type of "{coordinate}" is incompatible across subgraphs: it has {described}',
                )
            else:
                merged_type = strictest[0]
        defaults = [a.default for _, a in present if a.default is not None]
        if len(set(defaults)) > 1:
            described = ", ".join(
                f'default value {a.default} in "{s.name}"' for s, a in present if a.default
            )
            self.error(
                "FIELD_ARGUMENT_DEFAULT_MISMATCH"
                if "(" in coordinate
                else "INPUT_FIELD_DEFAULT_MISMATCH",
                f'"{coordinate}" has incompatible default values across subgraphs: it has '
                f"{described}",
            )
        directives = _unique_directives(d for _, a in present for d in getattr(a, "directives", []))
        return MergedArgument(
            name=present[0][1].name,
            type=merged_type,
            default=defaults[0] if defaults else None,
            description=next((a.description for _, a in present if a.description), None),
            inaccessible=any(a.inaccessible for _, a in present),
            directives=directives,
            tags=_unique(tag for _, a in present for tag in a.tags),
        )

    def merge_input_fields(self, merged: MergedType, sources: list[tuple[Subgraph, Type]]) -> None:
        order: list[str] = []
        for _, type_model in sources:
            for name in type_model.fields:
                if name not in order:
                    order.append(name)
        for name in order:
            present = [(s, t.fields[name]) for s, t in sources if name in t.fields]
            coordinate = f"{merged.name}.{name}"
            if len(present) < len(sources):
                required = [
                    s.name for s, f in present if f.type.endswith("!") and f.default is None
                ]
                missing = [s.name for s, t in sources if name not in t.fields]
                if not required:
                    self.hints.append(
                        Issue(
                            "INCONSISTENT_INPUT_OBJECT_FIELD",
                            f'Input object field "{coordinate}" will not be added to the '
                            f"supergraph as it does not appear in all subgraphs: it is defined "
                            f"in {_quoted([s.name for s, _ in present])} but not in "
                            f"{_quoted(missing)}",
                        )
                    )
                if required:
                    self.error(
                        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                        f'Input object field "{coordinate}" is required in some subgraphs but '
                        f"does not appear in all subgraphs: it is required in "
                        f"{_quoted(required)} but does not appear in {_quoted(missing)}",
                    )
                continue
            value = self.merge_input_value(coordinate, present)
            field_model = MergedField(
                name=name,
                type=value.type,
                description=value.description,
                default=value.default,
                inaccessible=value.inaccessible,
                directives=value.directives,
            )
            field_model.deprecated = next((f.deprecated for _, f in present if f.deprecated), None)
            field_model.tags = _unique(tag for _, f in present for tag in f.tags)
            if len({f.type for _, f in present}) > 1:
                field_model.joins = [
                    JoinField(graph=self.graph_of[s.name], type=f.type) for s, f in present
                ]
            merged.fields[name] = field_model
        if not merged.fields:
            self.error(
                "EMPTY_MERGED_INPUT_TYPE",
                f'None of the fields of input object type "{merged.name}" are consistently '
                "defined in all the subgraphs defining that type",
            )

    def propagate_interface_objects(self) -> None:
        """Fields an @interfaceObject adds to an interface exist on every implementation."""
        for interface in self.types.values():
            if interface.kind != "interface":
                continue
            if not any(j.get("isInterfaceObject") for j in interface.join_types):
                continue
            for implementation in self.types.values():
                if interface.name not in implementation.interfaces:
                    continue
                for name, interface_field in interface.fields.items():
                    if name in implementation.fields:
                        continue
                    implementation.fields[name] = MergedField(
                        name=name,
                        type=interface_field.type,
                        description=interface_field.description,
                        args=dict(interface_field.args),
                        bare_join=True,
                    )

    def merge_enum_values(self) -> None:
        as_input: set[str] = set()
        as_output: set[str] = set()
        for merged in self.types.values():
            for field_model in merged.fields.values():
                if merged.kind == "input":
                    as_input.add(base_type(field_model.type))
                else:
                    as_output.add(base_type(field_model.type))
                    as_input.update(base_type(a.type) for a in field_model.args.values())
        for merged in self.types.values():
            if merged.kind != "enum":
                continue
            sources = self.sources(merged.name)
            order: list[str] = []
            for _, type_model in sources:
                for value in type_model.values:
                    if value not in order:
                        order.append(value)
            for value_name in order:
                present = [(s, t.values[value_name]) for s, t in sources if value_name in t.values]
                hidden = any(v.inaccessible for _, v in present)
                if len(present) < len(sources) and not hidden:
                    if merged.name in as_input and merged.name in as_output:
                        missing = [s.name for s, t in sources if value_name not in t.values]
                        self.error(
                            "ENUM_VALUE_MISMATCH",
                            f'Enum type "{merged.name}" is used as both input type and output '
                            f'type, but value "{value_name}" is not defined in all the '
                            f'subgraphs defining "{merged.name}": it is not defined in '
                            f"{_quoted(missing)}",
                        )
                        continue
                    if merged.name in as_input:
                        missing = [s.name for s, t in sources if value_name not in t.values]
                        self.hints.append(
                            Issue(
                                "INCONSISTENT_ENUM_VALUE_FOR_INPUT_ENUM",
                                f'Value "{value_name}" of enum type "{merged.name}" will not '
                                "be part of the supergraph as it is not defined in all the "
                                f'subgraphs defining "{merged.name}" (an enum used only as '
                                f"input): it is missing in {_quoted(missing)}",
                            )
                        )
                        continue
                merged.values[value_name] = _merge_value(
                    value_name, [(self.graph_of[s.name], v) for s, v in present]
                )
            if not merged.values:
                self.error(
                    "EMPTY_MERGED_ENUM_TYPE",
                    f'None of the values of enum type "{merged.name}" are defined consistently '
                    "in all the subgraphs defining that type",
                )

    def check_externals(self) -> None:
        for subgraph in self.subgraphs:
            for type_model in subgraph.types.values():
                for field_model in type_model.fields.values():
                    if not field_model.external:
                        continue
                    coordinate = f"{type_model.name}.{field_model.name}"
                    owners = [
                        s.name
                        for s in self.subgraphs
                        if s is not subgraph
                        and type_model.name in s.types
                        and field_model.name in s.types[type_model.name].fields
                        and not s.types[type_model.name].fields[field_model.name].external
                    ]
                    if not owners:
                        self.error(
                            "EXTERNAL_MISSING_ON_BASE",
                            f'[{subgraph.name}] Field "{coordinate}" is marked @external but is '
                            "not defined (without @external) in any other subgraph",
                        )

    def check_unused_externals(self, subgraph: Subgraph) -> None:
        if not subgraph.fed2:
            return
        for type_model in subgraph.types.values():
            for field_model in type_model.fields.values():
                if field_model.external and not self._external_used(
                    subgraph, type_model, field_model
                ):
                    self.error(
                        "EXTERNAL_UNUSED",
                        f'[{subgraph.name}] Field "{type_model.name}.{field_model.name}" is '
                        "marked @external but is not used in any federation directive (@key, "
                        "@provides, @requires) or to satisfy an interface; the field "
                        "declaration has no use and should be removed (or the field should not "
                        "be @external).",
                    )

    def _external_used(self, subgraph: Subgraph, type_model: Type, field_model: Field) -> bool:
        if self._used_by_directives(subgraph, type_model.name, field_model.name):
            return True
        for interface in type_model.interfaces:
            owner = subgraph.types.get(interface)
            if owner is not None and field_model.name in owner.fields:
                return True
        return False

    def check_inaccessible_children(self) -> None:
        """A visible type must keep at least one visible field (or value) in the API."""
        for merged in self.types.values():
            if merged.inaccessible or merged.name in ROOT_TYPES:
                continue
            children = list(merged.fields.values()) or list(merged.values.values())
            if children and all(c.inaccessible for c in children):
                self.error(
                    "ONLY_INACCESSIBLE_CHILDREN",
                    f'Type "{merged.name}" is in the API schema but all of its members are '
                    "@inaccessible",
                )

    def check_defaults(self) -> None:
        """A visible argument or input field cannot default to an @inaccessible enum value."""
        for merged in self.types.values():
            for f in merged.fields.values():
                values: list[tuple[str, str, str | None, bool]] = [
                    (f"{merged.name}.{f.name}({a.name}:)", a.type, a.default, a.inaccessible)
                    for a in f.args.values()
                ]
                if merged.kind == "input":
                    values.append((f"{merged.name}.{f.name}", f.type, f.default, f.inaccessible))
                for coordinate, type_str, default, hidden in values:
                    enum = self.types.get(base_type(type_str))
                    if default is None or hidden or enum is None or enum.kind != "enum":
                        continue
                    used = _enum_names(default)
                    bad = [v for v in used if v in enum.values and enum.values[v].inaccessible]
                    if bad:
                        self.error(
                            "DEFAULT_VALUE_USES_INACCESSIBLE",
                            f'The default value of "{coordinate}" uses "{enum.name}.{bad[0]}", '
                            f'which is @inaccessible, but "{coordinate}" is not',
                        )

    def check_interface_object_sharing(self) -> None:
        """A field an @interfaceObject resolves is resolved for every implementation too."""
        for interface in self.types.values():
            if interface.kind != "interface":
                continue
            objects = [
                s
                for s in self.subgraphs
                if interface.name in s.types and s.types[interface.name].interface_object
            ]
            if not objects:
                continue
            for implementation in self.types.values():
                if interface.name not in implementation.interfaces:
                    continue
                for name in interface.fields:
                    self._check_sharing_through(interface.name, implementation.name, name, objects)

    def _check_sharing_through(
        self, interface: str, implementation: str, name: str, objects: list[Subgraph]
    ) -> None:
        resolvers: list[tuple[str, bool]] = []
        for subgraph in objects:
            model = subgraph.types[interface]
            field_model = model.fields.get(name)
            if field_model is not None and not field_model.external:
                shared = (
                    field_model.shareable
                    or model.shareable
                    or self._is_key_field(subgraph, interface, name)
                )
                resolvers.append((f'"{subgraph.name}" (through @interfaceObject)', shared))
        for subgraph in self.subgraphs:
            model = subgraph.types.get(implementation)
            field_model = model.fields.get(name) if model else None
            if model is None or field_model is None or field_model.external:
                continue
            if (implementation, name, subgraph.name) in self.overridden_away:
                continue
            shared = (
                field_model.shareable
                or model.shareable
                or self._is_key_field(subgraph, implementation, name)
            )
            resolvers.append((f'"{subgraph.name}"', shared))
        if len(resolvers) > 1 and not all(shared for _, shared in resolvers):
            self.error(
                "INVALID_FIELD_SHARING",
                f'Non-shareable field "{implementation}.{name}" is resolved from multiple '
                "subgraphs: it is resolved from subgraphs "
                + " and ".join(where for where, _ in resolvers),
            )

    def check_supergraph_schema(self) -> None:
        """The merged schema must itself be valid GraphQL (e.g. implementations must still
        match their interfaces once each side is merged)."""
        try:
            schema = build_ast_schema(plain_document(self.types.values()), assume_valid_sdl=True)
        except (GraphQLError, TypeError) as exc:
            self.error("INVALID_GRAPHQL", str(exc))
            return
        for error in validate_schema(schema):
            missing = "expected but" in error.message and "does not provide it" in error.message
            self.error("INTERFACE_FIELD_NO_IMPLEM" if missing else "INVALID_GRAPHQL", error.message)

    def check_interface_key_implementations(self) -> None:
        """A subgraph with a resolvable @key on an interface answers for every implementation,
        so it must define them all."""
        for interface in self.types.values():
            if interface.kind != "interface":
                continue
            implementations = [
                t.name for t in self.types.values() if interface.name in t.interfaces
            ]
            for subgraph in self.subgraphs:
                model = subgraph.types.get(interface.name)
                if model is None or model.kind != "interface":
                    continue
                if not any(k.resolvable for k in model.keys):
                    continue
                missing = [
                    name
                    for name in implementations
                    if name not in subgraph.types
                    or interface.name not in subgraph.types[name].interfaces
                ]
                if missing:
                    self.error(
                        "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE",
                        f'[{subgraph.name}] Interface type "{interface.name}" has a resolvable '
                        f'key in subgraph "{subgraph.name}" but that subgraph is missing some '
                        f"of its implementation types: it should define {_quoted(missing)} "
                        f'(and have them implement "{interface.name}")',
                    )

    def check_shared_runtime_types(self) -> None:
        """A field several subgraphs resolve to an abstract type must have runtime types in
        common, or the same query would answer differently depending on the subgraph."""
        for merged in self.types.values():
            if merged.kind != "object":
                continue
            for name, field_model in merged.fields.items():
                target = self.types.get(base_type(field_model.type))
                if target is None or target.kind not in ("interface", "union"):
                    continue
                possible: list[tuple[str, set[str]]] = []
                for subgraph in self.subgraphs:
                    owner = subgraph.types.get(merged.name)
                    f = owner.fields.get(name) if owner is not None else None
                    if f is None or f.external:
                        continue
                    if (merged.name, name, subgraph.name) in self.overridden_away:
                        continue
                    abstract = subgraph.types.get(target.name)
                    if abstract is None or abstract.kind == "object":  # an @interfaceObject
                        possible = []
                        break
                    if abstract.kind == "union":
                        runtime = set(abstract.members)
                    else:
                        runtime = {
                            n for n, t in subgraph.types.items() if target.name in t.interfaces
                        }
                    possible.append((subgraph.name, runtime))
                if len(possible) > 1 and not set.intersection(*(r for _, r in possible)):
                    described = "; ".join(
                        f'in "{n}": {", ".join(sorted(r)) or "none"}' for n, r in possible
                    )
                    self.error(
                        "SHAREABLE_HAS_MISMATCHED_RUNTIME_TYPES",
                        f'Shared field "{merged.name}.{name}" returns "{target.name}" with no '
                        f"runtime type in common across subgraphs ({described})",
                    )

    def check_field_types(self) -> None:
        known = set(self.types) | self.unmergeable | {"String", "Int", "Float", "Boolean", "ID"}
        for merged in self.types.values():
            for field_model in merged.fields.values():
                named = base_type(field_model.type)
                if named not in known:
                    self.error(
                        "INVALID_GRAPHQL",
                        f'Unknown type "{named}" for field "{merged.name}.{field_model.name}"',
                    )

    def _inaccessible_anywhere(self, merged: MergedType) -> bool:
        return (
            merged.inaccessible
            or any(f.inaccessible for f in merged.fields.values())
            or any(a.inaccessible for f in merged.fields.values() for a in f.args.values())
            or any(v.inaccessible for v in merged.values.values())
        )

    def _tag_anywhere(self, merged: MergedType) -> bool:
        return (
            bool(merged.tags)
            or any(f.tags for f in merged.fields.values())
            or any(a.tags for f in merged.fields.values() for a in f.args.values())
            or any(v.tags for v in merged.values.values())
        )


def _context_arguments(subgraph: Subgraph, f: Field) -> list[dict[str, str]]:
    """Arguments the gateway fills from a @context: ``$name selection`` per argument."""
    found = []
    for argument in f.args.values():
        if argument.from_context is None:
            continue
        match = re.match(r"\s*\$(\w+)", argument.from_context)
        if match is None:
            continue
        found.append(
            {
                "context": f"{subgraph.name}__{match.group(1)}",
                "name": argument.name,
                "type": argument.type,
                "selection": argument.from_context[match.end() :],
            }
        )
    return found


def _enum_names(default: str) -> list[str]:
    try:
        node = parse_value(default)
    except GraphQLError:
        return []
    nodes = node.values if isinstance(node, ListValueNode) else [node]
    return [n.value for n in nodes if isinstance(n, EnumValueNode)]


def _no_named(sub: str, sup: str) -> bool:
    return False


def plain_document(types: object) -> DocumentNode:
    """Types (a subgraph's or merged ones) as a GraphQL document without directives, built
    directly as AST: re-parsing printed SDL costs more than the rest of composition."""
    definitions: list[object] = []
    for model in types:  # type: ignore[attr-defined]
        name = NameNode(value=model.name)
        if model.kind == "scalar":
            definitions.append(ScalarTypeDefinitionNode(name=name, directives=()))
        elif model.kind == "union":
            members = tuple(NamedTypeNode(name=NameNode(value=m)) for m in model.members)
            definitions.append(UnionTypeDefinitionNode(name=name, types=members, directives=()))
        elif model.kind == "enum":
            values = tuple(
                EnumValueDefinitionNode(name=NameNode(value=v), directives=())
                for v in (model.values or ["EMPTY"])
            )
            definitions.append(EnumTypeDefinitionNode(name=name, values=values, directives=()))
        elif model.kind == "input":
            fields = tuple(
                InputValueDefinitionNode(
                    name=NameNode(value=f.name), type=_type_node(f.type), directives=()
                )
                for f in model.fields.values()
            )
            definitions.append(
                InputObjectTypeDefinitionNode(name=name, fields=fields, directives=())
            )
        else:
            fields = tuple(
                FieldDefinitionNode(
                    name=NameNode(value=f.name),
                    type=_type_node(f.type),
                    arguments=tuple(
                        InputValueDefinitionNode(
                            name=NameNode(value=a.name), type=_type_node(a.type), directives=()
                        )
                        for a in f.args.values()
                    ),
                    directives=(),
                )
                for f in model.fields.values()
            )
            node_type = (
                ObjectTypeDefinitionNode if model.kind == "object" else InterfaceTypeDefinitionNode
            )
            interfaces = tuple(NamedTypeNode(name=NameNode(value=i)) for i in model.interfaces)
            definitions.append(
                node_type(name=name, fields=fields, interfaces=interfaces, directives=())
            )
    return DocumentNode(definitions=tuple(definitions))


@functools.lru_cache(maxsize=4096)
def _type_node(type_str: str) -> TypeNode:
    if type_str.endswith("!"):
        return NonNullTypeNode(type=_type_node(type_str[:-1]))
    if type_str.startswith("["):
        return ListTypeNode(type=_type_node(type_str[1:-1]))
    return NamedTypeNode(name=NameNode(value=type_str))


def merge_access(accesses: list[Access]) -> Access:
    """Authorization from every subgraph applies at once: scope and policy sets are ANDed."""
    merged = Access()
    merged.authenticated = any(a.authenticated for a in accesses)
    merged.scopes = _and_all([a.scopes for a in accesses if a.scopes is not None])
    merged.policies = _and_all([a.policies for a in accesses if a.policies is not None])
    weights = [a.cost for a in accesses if a.cost is not None]
    merged.cost = max(weights) if weights else None
    merged.list_size = next((a.list_size for a in accesses if a.list_size is not None), None)
    return merged


def _and_all(alternatives: list[list[list[str]]]) -> list[list[str]] | None:
    """AND of several OR-of-AND requirements, kept in disjunctive normal form."""
    if not alternatives:
        return None
    result: list[list[str]] = alternatives[0]
    for other in alternatives[1:]:
        combined: list[list[str]] = []
        for left in result:
            for right in other:
                group = sorted(set(left) | set(right))
                if group not in combined:
                    combined.append(group)
        result = combined
    minimal = [g for g in result if not any(set(o) < set(g) for o in result)]
    return sorted(minimal)


def _access_features(types: object) -> set[str]:
    features: set[str] = set()
    for merged in types:  # type: ignore[attr-defined]
        holders = [merged.access, *(f.access for f in merged.fields.values())]
        for access in holders:
            if access.authenticated:
                features.add("authenticated")
            if access.scopes is not None:
                features.add("requiresScopes")
            if access.policies is not None:
                features.add("policy")
            if access.cost is not None:
                features.add("cost")
            if access.list_size is not None:
                features.add("listSize")
    return features


def _merge_value(name: str, present: list[tuple[str, EnumValue]]) -> MergedValue:
    values = [v for _, v in present]
    return MergedValue(
        name=name,
        graphs=[g for g, _ in present],
        description=next((v.description for v in values if v.description), None),
        deprecated=next((v.deprecated for v in values if v.deprecated), None),
        inaccessible=any(v.inaccessible for v in values),
        tags=_unique(t for v in values for t in v.tags),
        directives=_unique_directives(d for v in values for d in v.directives),
    )


def _unique(items: object) -> list:
    seen: list = []
    for item in items:  # type: ignore[attr-defined]
        if item not in seen:
            seen.append(item)
    return seen


def _unique_directives(directives: object) -> list[ConstDirectiveNode]:
    seen: dict[str, ConstDirectiveNode] = {}
    for directive in directives:  # type: ignore[attr-defined]
        seen.setdefault(print_ast(directive), directive)
    return list(seen.values())


def _quoted(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
