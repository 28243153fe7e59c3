"""Plan an operation over subgraphs: which fetch asks which subgraph for what, in which order.

The planner walks the normalized operation once. It keeps each selection in the subgraph that
is already answering (fewest requests), and where a field is not resolvable there it jumps to
another subgraph through ``_entities`` using a key the current subgraph can provide. Key and
``@requires`` fields are planned the same way as user fields, so keys that live in a third
subgraph, requires of requires, and interface objects fall out of one mechanism. Fetch groups
form a DAG within stages (mutation fields run one after another); the executor runs each
stage level by level (see ``executor.schedule``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from graphql import ArgumentNode, FieldNode, InlineFragmentNode, SelectionSetNode, VariableNode

from app.federation.errors import PlanningError
from app.federation.operation import Field, Fragment, Item, args_text
from app.federation.supergraph import Supergraph

Step = tuple[str, frozenset[str] | None]
Path = tuple[Step, ...]


@dataclass(eq=False)
class FieldSel:
    """A field in a subgraph fetch."""

    name: str
    alias: str | None
    args: tuple[ArgumentNode, ...]
    sel: SelSet | None
    internal: bool
    type_text: str | None = None  # the field's type in this subgraph, where it differs
    restore: str | None = None  # response key to restore after a type-conflict alias

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(eq=False)
class SelSet:
    """A selection set of a subgraph fetch: fields by response key, then inline fragments."""

    fields: dict[str, FieldSel] = field(default_factory=dict)
    frags: dict[str, SelSet] = field(default_factory=dict)

    def add(
        self,
        name: str,
        key: str | None = None,
        args: tuple[ArgumentNode, ...] = (),
        composite: bool = False,
        internal: bool = False,
    ) -> FieldSel:
        key = key or name
        signature = name + args_text(args)
        existing = self.fields.get(key)
        if existing is not None:
            if existing.name + args_text(existing.args) == signature:
                if not internal:
                    existing.internal = False
                if composite and existing.sel is None:
                    existing.sel = SelSet()
                return existing
            if existing.internal and not internal:
                # A planner-added field gives way to the client's response key.
                del self.fields[key]
                existing.alias = _internal_alias(existing.name, existing.args)
                self.fields[existing.key] = existing
            else:
                key = _internal_alias(name, args)
                if key in self.fields:
                    return self.fields[key]
        alias = None if key == name else key
        if internal and args and alias is None:
            alias = _internal_alias(name, args)
            key = alias
            if key in self.fields:
                return self.fields[key]
        node = FieldSel(name, alias, args, SelSet() if composite else None, internal)
        self.fields[key] = node
        return node

    def frag(self, type_name: str) -> SelSet:
        sub = self.frags.get(type_name)
        if sub is None:
            sub = self.frags[type_name] = SelSet()
        return sub

    def is_empty(self) -> bool:
        return not self.fields and not any(not f.is_empty() for f in self.frags.values())

    def render(self) -> str:
        parts = []
        for node in self.fields.values():
            text = f"{node.alias}:{node.name}" if node.alias else node.name
            text += args_text(node.args)
            if node.sel is not None:
                inner = node.sel.render()
                text += inner if inner != "{}" else "{__typename}"
            parts.append(text)
        for type_name, sub in self.frags.items():
            if not sub.is_empty():
                parts.append(f"...on {type_name}{sub.render()}")
        return "{" + " ".join(parts) + "}"

    def variables(self) -> set[str]:
        found: set[str] = set()
        for node in self.fields.values():
            for arg in node.args:
                _collect_variables(arg.value, found)
            if node.sel is not None:
                found |= node.sel.variables()
        for sub in self.frags.values():
            found |= sub.variables()
        return found


def _collect_variables(value, found: set[str]) -> None:
    if isinstance(value, VariableNode):
        found.add(value.name.value)
    for attr in ("values", "fields"):
        for child in getattr(value, attr, None) or ():
            _collect_variables(getattr(child, "value", child), found)


def _internal_alias(name: str, args: tuple[ArgumentNode, ...]) -> str:
    """A stable alias for a field the planner adds with arguments, so it cannot collide with
    the client's response keys or the same field with other arguments."""
    digest = hashlib.sha1(args_text(args).encode()).hexdigest()[:8]
    return f"_{name}_{digest}"


@dataclass(eq=False)
class Group:
    """One subgraph request: a root fetch or an ``_entities`` fetch at a path."""

    id: int
    graph: str
    kind: str  # "root" or "entity"
    operation: str  # "query" or "mutation"
    path: Path = ()
    rep_type: str = ""
    entity_type: str = ""
    type_filter: frozenset[str] | None = None
    inputs: SelSet = field(default_factory=SelSet)
    sel: SelSet = field(default_factory=SelSet)
    deps: set[Group] = field(default_factory=set)
    stage: int = 0
    key_fields: set[str] = field(default_factory=set)

    def depends_on(self, other: Group) -> bool:
        seen: set[int] = set()
        stack = list(self.deps)
        while stack:
            group = stack.pop()
            if group is other:
                return True
            if group.id in seen:
                continue
            seen.add(group.id)
            stack.extend(group.deps)
        return False


@dataclass
class Options:
    """Planning options. ``entity_only`` (type, field) pairs are fetched only by ``_entities``
    once the owning entity's key is known, never inline in the fetch that found the entity."""

    entity_only: frozenset[tuple[str, str]] = frozenset()


class Planner:
    def __init__(self, supergraph: Supergraph, options: Options | None = None) -> None:
        self.sg = supergraph
        self.options = options or Options()
        self.groups: list[Group] = []
        self._touched: list[Group] = []
        self._depth = 0
        self._stage = 0
        self._internal = 0
        # Subgraphs that could also resolve the current position (from the nearest entity).
        self._alternatives: frozenset[str] | None = None

    # -- entry point ---------------------------------------------------------------------------

    def plan(self, operation: str, items: list[Item]) -> list[Group]:
        root = self.sg.root_types.get(operation)
        if root is None:
            raise PlanningError(f"the schema has no {operation} type")
        fields = self.fields_for(items, root)
        if operation == "mutation":
            for item in fields:
                self._stage += 1
                self._plan_root_field(operation, root, item, shared=False)
        else:
            for item in fields:
                self._plan_root_field(operation, root, item, shared=True)
        return [g for g in self.groups if not g.sel.is_empty()]

    # -- helpers over the schema ---------------------------------------------------------------

    def applies(self, condition: str, type_name: str) -> bool:
        if condition == type_name:
            return True
        return type_name in self.sg.possible_types.get(condition, ())

    def fields_for(self, items: Iterable[Item], type_name: str) -> list[Field]:
        """The fields that apply to objects of ``type_name``, merged by response key."""
        merged: dict[str, Field] = {}
        order: list[str] = []

        def walk(entries: Iterable[Item]) -> None:
            for item in entries:
                if isinstance(item, Fragment):
                    if self.applies(item.type, type_name):
                        walk(item.items)
                    continue
                existing = merged.get(item.key)
                if existing is None:
                    merged[item.key] = Field(
                        item.key,
                        item.name,
                        item.args,
                        list(item.items) if item.items is not None else None,
                    )
                    order.append(item.key)
                elif item.items is not None:
                    existing.items = (existing.items or []) + list(item.items)

        walk(items)
        return [merged[key] for key in order]

    def return_type(self, type_name: str, field_name: str) -> str:
        field_def = self.sg.types[type_name].fields.get(field_name)
        if field_def is None:
            raise PlanningError(f"{type_name}.{field_name} is not in the supergraph")
        return field_def.named_type

    def is_composite(self, type_name: str) -> bool:
        type_def = self.sg.types.get(type_name)
        return type_def is not None and type_def.is_composite

    def local(self, graph: str, type_name: str, name: str, provided, entity_root: bool) -> bool:
        """Can ``graph`` resolve ``type_name.name`` inline, where it already has the object?"""
        joins = self.sg.field_graphs(type_name, name)
        join = joins.get(graph)
        if join is None:
            return False
        if not entity_root and (type_name, name) in self.options.entity_only:
            return False  # even when @provides offers it: entity-only means by key, always
        if provided is not None and name in provided:
            return True
        if join.used_overridden:
            return False
        if join.external:
            return False
        return join.requires is None or entity_root

    def resolvable(self, graph: str, type_name: str, name: str) -> bool:
        join = self.sg.field_graphs(type_name, name).get(graph)
        return join is not None and not join.external and not join.used_overridden

    def is_interface_object(self, graph: str, type_name: str) -> bool:
        type_in_graph = self.sg.types[type_name].graphs.get(graph)
        return bool(type_in_graph and type_in_graph.interface_object)

    # -- groups --------------------------------------------------------------------------------

    def new_group(self, graph: str, kind: str, operation: str, **values) -> Group:
        group = Group(len(self.groups), graph, kind, operation, stage=self._stage, **values)
        self.groups.append(group)
        return group

    def root_group(self, operation: str, graph: str, shared: bool) -> Group:
        if shared:
            for group in self.groups:
                if group.kind == "root" and group.graph == graph and group.stage == self._stage:
                    return group
        return self.new_group(graph, "root", operation)

    def entity_group(
        self,
        graph: str,
        rep_type: str,
        entity_type: str,
        path: Path,
        type_filter: frozenset[str],
        providers: set[Group],
        operation: str,
        inputs: list[Item] = (),
    ) -> Group:
        for group in self.groups:
            if (
                group.kind == "entity"
                and group.graph == graph
                and group.rep_type == rep_type
                and group.path == path
                and group.type_filter == type_filter
                and group.stage == self._stage
                and group not in providers
                and not any(p.depends_on(group) for p in providers)
                and not _inputs_conflict(group.inputs, inputs)
            ):
                group.deps |= providers
                return group
        return self.new_group(
            graph,
            "entity",
            operation,
            path=path,
            rep_type=rep_type,
            entity_type=entity_type,
            type_filter=type_filter,
            deps=set(providers),
        )

    # -- planning ------------------------------------------------------------------------------

    def _plan_root_field(self, operation: str, root: str, item: Field, shared: bool) -> None:
        if item.name == "__typename" or item.name.startswith("__"):
            return
        joins = self.sg.field_graphs(root, item.name)
        candidates = [g for g, j in joins.items() if not j.external and not j.used_overridden]
        if not candidates:
            raise PlanningError(f"no subgraph resolves {root}.{item.name}")
        existing = {g.graph for g in self.groups if g.kind == "root" and g.stage == self._stage}
        candidates.sort(
            key=lambda g: (-self._score(g, root, [item]), g not in existing, list(joins).index(g))
        )
        remaining: list[Item] | None = item.items
        tried: list[str] = []
        first = True
        for graph in candidates:
            tried.append(graph)
            group = self.root_group(operation, graph, shared)
            current = item if first else item.with_items(remaining)
            first = False
            left = self._plan_object_fields(group, root, [current], (), group.sel, None, True)
            if not left:
                return
            (leftover,) = left
            remaining = leftover.items
            if any(isinstance(i, Fragment) for i in remaining or ()):
                # Objects of an abstract type from two subgraphs need not be the same objects.
                raise PlanningError(
                    f"{root}.{item.name}: no subgraph resolves the selection for every type"
                )
            shared = True
        raise PlanningError(f"cannot plan {root}.{item.name}: no subgraph resolves its selection")

    def _score(
        self, graph: str, type_name: str, items: list[Item], depth: int = 0, provided=None
    ) -> int:
        """How much of ``items`` ``graph`` resolves inline (a cheap look-ahead)."""
        if depth > 3:
            return 0
        score = 0
        for item in self.fields_for(items, type_name) if self.is_composite(type_name) else ():
            if item.name == "__typename":
                continue
            if self.resolvable(graph, type_name, item.name) or (
                provided is not None and item.name in provided
            ):
                score += 1
                if item.items:
                    target = self.return_type(type_name, item.name)
                    sub = _provided_subtree(provided, item.name)
                    join = self.sg.field_graphs(type_name, item.name).get(graph)
                    if join is not None and join.provides is not None:
                        sub = _merge_provided(sub, _provided_tree(join.provides))
                    for concrete in self._concrete(target):
                        score += self._score(graph, concrete, item.items, depth + 1, sub)
        return score

    def _concrete(self, type_name: str) -> list[str]:
        type_def = self.sg.types.get(type_name)
        if type_def is None or not type_def.is_composite:
            return []
        if type_def.kind == "object":
            return [type_name]
        return self.sg.possible_types.get(type_name, [])

    def plan_selection(
        self,
        group: Group,
        type_name: str,
        items: list[Item],
        path: Path,
        sel: SelSet,
        provided,
        entity_root: bool = False,
    ) -> list[Item]:
        """Add ``items`` to ``sel`` in ``group``; return what ``group`` cannot resolve here."""
        type_def = self.sg.types[type_name]
        if type_def.kind == "object":
            return self._plan_object_fields(
                group,
                type_name,
                self.fields_for(items, type_name),
                path,
                sel,
                provided,
                entity_root,
            )
        if self.is_interface_object(group.graph, type_name):
            return self._plan_interface_object(
                group, type_name, items, path, sel, provided, entity_root
            )
        sel.add("__typename", internal=True)
        leftovers: list[Item] = []
        if not self.sg.possible_types.get(type_name):
            fields = [f for f in self.fields_for(items, type_name) if f.name != "__typename"]
            return self._plan_object_fields(
                group, type_name, fields, path, sel, provided, entity_root
            )
        in_graph = set(self.sg.graph_possible_types(type_name, group.graph))
        if self.sg.types[type_name].kind == "union" and self._alternatives:
            # Below a shareable path that other subgraphs could also resolve, only the members
            # every one of them knows are safe to select.
            for other in self._alternatives:
                in_graph &= set(self.sg.graph_possible_types(type_name, other))
        for concrete in self.sg.possible_types.get(type_name, []):
            fields = self.fields_for(items, concrete)
            if not fields or concrete not in in_graph:
                continue
            sub_path = _with_condition(path, frozenset({concrete}))
            sub_provided = provided
            left = self._plan_object_fields(
                group, concrete, fields, sub_path, sel.frag(concrete), sub_provided, False
            )
            if left:
                leftovers.append(Fragment(concrete, left))
        _alias_type_conflicts(sel)
        return leftovers

    def _plan_interface_object(
        self, group, type_name, items, path, sel, provided, entity_root
    ) -> list[Item]:
        """``group``'s subgraph sees the interface as an object type (``@interfaceObject``)."""
        direct: list[Field] = []
        rest: list[Item] = []
        for item in items:
            if isinstance(item, Fragment):
                if item.type == type_name:
                    inner = self._plan_interface_object(
                        group, type_name, item.items, path, sel, provided, entity_root
                    )
                    rest.extend(inner)
                else:
                    rest.append(item)
            elif item.name == "__typename":
                rest.append(item)
            else:
                direct.append(item)
        left = self._plan_object_fields(
            group,
            type_name,
            self.fields_for(direct, type_name),
            path,
            sel,
            provided,
            entity_root,
            jump=False,
        )
        left = left + rest
        if left:
            left = self.jump(group, type_name, left, path, sel, provided)
        return left

    def _plan_object_fields(
        self,
        group: Group,
        type_name: str,
        fields: list[Field],
        path: Path,
        sel: SelSet,
        provided,
        entity_root: bool,
        jump: bool = True,
        internal: bool = False,
    ) -> list[Item]:
        leftovers: list[Item] = []
        outer = self._alternatives
        keyed = {g for g, info in self.sg.types[type_name].graphs.items() if info.resolvable_keys}
        alternatives = (keyed | {group.graph}) if keyed else outer
        for item in fields:
            if item.name == "__typename":
                sel.add("__typename", internal=True)
                continue
            if not self.local(group.graph, type_name, item.name, provided, entity_root):
                leftovers.append(item)
                continue
            target = self.return_type(type_name, item.name)
            join = self.sg.field_graphs(type_name, item.name).get(group.graph)
            if join is not None and join.type:
                target = join.type.strip("[]!")
            composite = self.is_composite(target)
            node = sel.add(
                item.name, item.key, item.args, composite, internal or self._internal > 0
            )
            node.type_text = join.type if join is not None and join.type else None
            if not composite:
                continue
            sub_provided = _provided_subtree(provided, item.name)
            if join is not None and join.provides is not None:
                sub_provided = _merge_provided(sub_provided, _provided_tree(join.provides))
            if alternatives is not None:
                self._alternatives = frozenset(
                    g
                    for g in alternatives
                    if g == group.graph or self.resolvable(g, type_name, item.name)
                )
            try:
                left = self.plan_selection(
                    group,
                    target,
                    item.items or [],
                    path + ((node.key, None),),
                    node.sel,
                    sub_provided,
                )
            finally:
                self._alternatives = outer
            if left:
                leftovers.append(item.with_items(left))
        if leftovers and jump and group.operation is not None:
            leftovers = self.jump(group, type_name, leftovers, path, sel, provided)
        return leftovers

    # -- entity jumps --------------------------------------------------------------------------

    def entity_targets(self, type_name: str) -> list[tuple[str, str]]:
        """(graph, representation type) pairs that can resolve ``type_name`` entities."""
        type_def = self.sg.types[type_name]
        targets = []
        for graph, info in type_def.graphs.items():
            if info.resolvable_keys:
                targets.append((graph, type_name))
        if type_def.kind == "object":
            for interface in type_def.interfaces:
                iface = self.sg.types.get(interface)
                if iface is None:
                    continue
                for graph, info in iface.graphs.items():
                    if info.interface_object and info.resolvable_keys:
                        targets.append((graph, interface))
        return targets

    def _can_take(self, graph: str, rep_type: str, item: Item) -> bool:
        type_def = self.sg.types[rep_type]
        if isinstance(item, Fragment):
            return type_def.kind != "object" and not self.is_interface_object(graph, rep_type)
        if item.name == "__typename":
            return type_def.kind != "object" and not self.is_interface_object(graph, rep_type)
        return self.resolvable(graph, rep_type, item.name)

    def jump(
        self,
        group: Group,
        type_name: str,
        leftovers: list[Item],
        path: Path,
        sel: SelSet,
        provided=None,
    ) -> list[Item]:
        """Fetch ``leftovers`` of the objects at ``path`` from other subgraphs by key."""
        if self._depth > 8:
            return leftovers
        self._depth += 1
        try:
            return self._jump(group, type_name, leftovers, path, sel, provided)
        finally:
            self._depth -= 1

    def _jump(self, group, type_name, leftovers, path, sel, provided) -> list[Item]:
        remaining = list(leftovers)
        tried: set[tuple[str, str]] = set()
        type_def = self.sg.types[type_name]
        type_filter = (
            frozenset({type_name})
            if type_def.kind == "object"
            else frozenset({type_name, *self.sg.possible_types.get(type_name, ())})
        )
        while remaining:
            best = None
            for graph, rep_type in self.entity_targets(type_name):
                if (graph, rep_type) in tried:
                    continue
                if (
                    graph == group.graph
                    and rep_type == group.rep_type
                    and not any(
                        isinstance(i, Field) and self._needs_entity_root(graph, rep_type, i)
                        for i in remaining
                    )
                ):
                    continue
                taken = [i for i in remaining if self._can_take(graph, rep_type, i)]
                if not taken:
                    continue
                score = (len(taken), graph != group.graph)
                if best is None or score > best[0]:
                    best = (score, graph, rep_type, taken)
            if best is None:
                break
            _, graph, rep_type, taken = best
            tried.add((graph, rep_type))
            info = self.sg.types[rep_type].graphs[graph]
            providers = None
            key_items: list[Item] = []
            for key in sorted(
                info.resolvable_keys,
                key=lambda k: not self._key_local(group.graph, type_name, k.selection, provided),
            ):
                key_items = _items_from_selection(key.selection)
                providers = self.ensure(group, type_name, key_items, path, sel, provided)
                if providers is not None:
                    break
            if providers is None:
                continue
            requires: list[Item] = []
            chosen: list[Item] = []
            for item in taken:
                needed: list[Item] = []
                if isinstance(item, Field):
                    join = self.sg.field_graphs(rep_type, item.name).get(graph)
                    if join is not None and join.requires is not None:
                        needed = _items_from_selection(join.requires)
                if _items_conflict(requires, needed):
                    continue
                chosen.append(item)
                requires.extend(needed)
            if len(chosen) < len(taken):
                tried.discard((graph, rep_type))
                taken = chosen
            if requires:
                more = self.ensure(group, type_name, requires, path, sel, provided)
                if more is None:
                    continue
                providers |= more
            sel.add("__typename", internal=True)
            target = self.entity_group(
                graph,
                rep_type,
                rep_type,
                path,
                type_filter,
                providers | {group},
                group.operation,
                key_items + requires,
            )
            target.inputs.add("__typename", internal=True)
            target.key_fields |= {i.name for i in key_items if isinstance(i, Field)}
            self._add_inputs(target.inputs, rep_type, key_items + requires)
            self._touched.append(target)
            left = self.plan_selection(
                target, rep_type, taken, path, target.sel, None, entity_root=True
            )
            remaining = [i for i in remaining if i not in taken] + left
        return remaining

    def _needs_entity_root(self, graph: str, type_name: str, item: Field) -> bool:
        join = self.sg.field_graphs(type_name, item.name).get(graph)
        if join is None:
            return False
        return join.requires is not None or (type_name, item.name) in self.options.entity_only

    def _key_local(
        self, graph: str, type_name: str, selection: SelectionSetNode, provided=None
    ) -> bool:
        for node in selection.selections:
            if isinstance(node, FieldNode) and not self.local(
                graph, type_name, node.name.value, provided, False
            ):
                return False
        return True

    def _add_inputs(self, inputs: SelSet, type_name: str, items: list[Item]) -> None:
        for item in self.fields_for(items, type_name) if self.is_composite(type_name) else ():
            if item.name == "__typename":
                inputs.add("__typename", internal=True)
                continue
            target = self.return_type(type_name, item.name)
            composite = self.is_composite(target)
            node = inputs.add(item.name, None, item.args, composite, internal=True)
            if composite:
                self._add_abstract_inputs(node.sel, target, item.items or [])

    def _add_abstract_inputs(self, sel: SelSet, type_name: str, items: list[Item]) -> None:
        type_def = self.sg.types[type_name]
        if type_def.kind == "object":
            self._add_inputs(sel, type_name, items)
            return
        sel.add("__typename", internal=True)
        for concrete in self.sg.possible_types.get(type_name, []):
            fields = self.fields_for(items, concrete)
            if fields:
                self._add_inputs(sel.frag(concrete), concrete, fields)

    def ensure(
        self,
        group: Group,
        type_name: str,
        items: list[Item],
        path: Path,
        sel: SelSet,
        provided=None,
    ) -> set[Group] | None:
        """Plan internal ``items`` at ``path``; return the groups that will have fetched them."""
        start = len(self._touched)
        fields = self.fields_for(items, type_name)
        self._internal += 1
        try:
            leftovers = self._plan_object_fields(
                group, type_name, fields, path, sel, provided, False, jump=True, internal=True
            )
        finally:
            self._internal -= 1
        if leftovers:
            return None
        return {group, *self._touched[start:]}


def _items_conflict(current: list[Item], more: list[Item]) -> bool:
    names = {i.name: args_text(i.args) for i in current if isinstance(i, Field)}
    return any(
        isinstance(i, Field) and names.get(i.name, args_text(i.args)) != args_text(i.args)
        for i in more
    )


def _inputs_conflict(inputs: SelSet, items: Iterable[Item]) -> bool:
    """Would ``items`` put one field twice, with different arguments, in a representation?"""
    names = {node.name: args_text(node.args) for node in inputs.fields.values()}
    for item in items:
        if isinstance(item, Field) and names.get(item.name, args_text(item.args)) != args_text(
            item.args
        ):
            return True
    return False


def _alias_type_conflicts(sel: SelSet) -> None:
    """Sibling fragments may select one response key with different types in a subgraph
    (``ID!`` on one type, ``ID`` on another), which the subgraph's validation rejects; such
    fields get a per-type alias and the executor restores the client's key afterwards."""
    seen: dict[str, set[str | None]] = {}
    for sub in sel.frags.values():
        for key, node in sub.fields.items():
            seen.setdefault(key, set()).add(node.type_text)
    conflicts = {key for key, types in seen.items() if len(types) > 1}
    for key in conflicts:
        for sub in sel.frags.values():
            node = sub.fields.get(key)
            if node is None or node.restore is not None:
                continue
            tag = "".join(c if c.isalnum() else "_" for c in (node.type_text or "default"))
            del sub.fields[key]
            node.restore = key
            node.alias = f"_{key}_{tag}"
            sub.fields[node.alias] = node


def _with_condition(path: Path, condition: frozenset[str]) -> Path:
    if not path:
        return path
    key, _ = path[-1]
    return path[:-1] + ((key, condition),)


def _items_from_selection(selection: SelectionSetNode) -> list[Item]:
    items: list[Item] = []
    for node in selection.selections:
        if isinstance(node, FieldNode):
            sub = _items_from_selection(node.selection_set) if node.selection_set else None
            items.append(Field(node.name.value, node.name.value, tuple(node.arguments or ()), sub))
        elif isinstance(node, InlineFragmentNode):
            sub = _items_from_selection(node.selection_set)
            if node.type_condition is None:
                items.extend(sub)
            else:
                items.append(Fragment(node.type_condition.name.value, sub))
    return items


def _provided_tree(selection: SelectionSetNode) -> dict:
    tree: dict = {}
    for node in selection.selections:
        if isinstance(node, FieldNode):
            sub = _provided_tree(node.selection_set) if node.selection_set else {}
            tree[node.name.value] = _merge_provided(tree.get(node.name.value), sub)
        elif isinstance(node, InlineFragmentNode):
            tree = _merge_provided(tree, _provided_tree(node.selection_set))
    return tree


def _merge_provided(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    merged = dict(a)
    for key, value in b.items():
        merged[key] = _merge_provided(merged.get(key), value) or {}
    return merged


def _provided_subtree(provided: dict | None, name: str) -> dict | None:
    if provided is None:
        return None
    return provided.get(name)
