"""A conservative satisfiability check: can every field be fetched wherever a query meets it?

Apollo's composition explores every query the supergraph allows. This walks the same ground
more coarsely: a position is a type plus the set of subgraphs a query can be in when it gets
there (every subgraph that resolves the field leading to it, widened by ``@key`` jumps whose
key fields one of them can supply). Each field of the type must be resolvable by one of those
subgraphs. ``@requires`` is assumed satisfiable and an ``@external`` field that some
``@provides`` names counts as resolvable, so the check errs towards accepting; it catches the
usual mistakes (an entity's fields living in a subgraph with no resolvable ``@key``, a value
type's fields spread over subgraphs that cannot meet) and names a query path that fails.
"""

from __future__ import annotations

import functools
import re

from graphql import GraphQLError

from app.federation.compose_subgraph import Subgraph, base_type, field_set_paths

ROOTS = ("Query", "Mutation", "Subscription")
# A query path as a linked list (segment, parent): extending it must not copy it.
_Path = tuple[str, "_Path | None"]
MAX_POSITIONS = 20_000  # large schemas: stop exploring rather than take minutes


def unsatisfiable(
    subgraphs: list[Subgraph], overridden_away: set[tuple[str, str, str]]
) -> list[str]:
    """One message per (type, field) that some reachable position cannot fetch."""
    checker = _Checker(subgraphs, overridden_away)
    for root in ROOTS:
        present = [s for s in subgraphs if root in s.types]
        if present:
            checker.walk(root, frozenset(s.name for s in present), (root.lower(), None))
    return list(checker.problems.values())


class _Checker:
    def __init__(self, subgraphs: list[Subgraph], overridden: set[tuple[str, str, str]]):
        self.by_name = {s.name: s for s in subgraphs}
        self.subgraphs = subgraphs
        self.overridden = overridden
        self.seen: set[tuple[str, frozenset[str]]] = set()
        self.problems: dict[tuple[str, str], str] = {}
        self.skipped = _interface_object_types(subgraphs)
        self.provided_words: dict[str, set[str]] = {}
        self.hidden_types = {n for s in subgraphs for n, t in s.types.items() if t.inaccessible}

    def walk(self, type_name: str, at: frozenset[str], path: _Path) -> None:
        stack = [(type_name, at, path)]
        while stack and len(self.seen) < MAX_POSITIONS:
            type_name, at, path = stack.pop()
            at = self.jumps(type_name, at)
            if (type_name, at) in self.seen:
                continue
            self.seen.add((type_name, at))
            kinds = {
                self.by_name[s].types[type_name].kind
                for s in at
                if type_name in self.by_name[s].types
            }
            if kinds & {"interface", "union"}:
                if type_name in self.skipped:
                    continue
                for possible in self.possible_types(type_name, at):
                    holders = frozenset(s for s in at if possible in self.by_name[s].types)
                    if holders:
                        stack.append((possible, holders, (f"... on {possible}", path)))
                continue  # an abstract type's fields are fetched on its possible types
            for field_name, target in self.fields(type_name):
                resolvers = frozenset(
                    s for s in at if self.resolves(self.by_name[s], type_name, field_name)
                )
                if not resolvers:
                    if (
                        type_name not in self.skipped
                        and (type_name, field_name) not in self.problems
                    ):
                        owners = [
                            s.name
                            for s in self.subgraphs
                            if self.resolves(s, type_name, field_name)
                        ]
                        self.problems[(type_name, field_name)] = (
                            f"The query {_render((field_name, path))} cannot be satisfied: "
                            f'"{type_name}.{field_name}" is resolved only by subgraph(s) '
                            f"{', '.join(repr(o) for o in owners)}, which no @key reachable "
                            f"from subgraph(s) {', '.join(repr(s) for s in sorted(at))} leads to"
                        )
                    continue
                stack.append((target, resolvers, (field_name, path)))

    @functools.cache  # noqa: B019 - one checker per composition
    def fields(self, type_name: str) -> list[tuple[str, str]]:
        """The API's fields of ``type_name`` (no @inaccessible ones: no query can select them)
        with their named types."""
        found: dict[str, str] = {}
        hidden: set[str] = set()
        for subgraph in self.subgraphs:
            model = subgraph.types.get(type_name)
            if model is None:
                continue
            for name, field_model in model.fields.items():
                if field_model.inaccessible:
                    hidden.add(name)
                if name not in found and any(
                    self.resolves(s, type_name, name) for s in self.subgraphs
                ):
                    found[name] = base_type(field_model.type)
        return [
            (name, target)
            for name, target in found.items()
            if name not in hidden and target not in self.hidden_types
        ]

    def possible_types(self, abstract: str, at: frozenset[str]) -> list[str]:
        possible: list[str] = []
        for name in at:
            subgraph = self.by_name[name]
            model = subgraph.types.get(abstract)
            if model is None:
                continue
            members = list(model.members) + [
                n for n, t in subgraph.types.items() if abstract in t.interfaces
            ]
            possible.extend(m for m in members if m not in possible)
        return possible

    @functools.cache  # noqa: B019
    def jumps(self, type_name: str, at: frozenset[str]) -> frozenset[str]:
        """Widen ``at`` with every subgraph an @key jump can reach, transitively."""
        reached = set(at)
        changed = True
        while changed:
            changed = False
            for candidate in self.subgraphs:
                if candidate.name in reached:
                    continue
                model = candidate.types.get(type_name)
                if model is None:
                    continue
                for key in model.keys:
                    if key.resolvable and self.can_fill(reached, candidate, type_name, key.fields):
                        reached.add(candidate.name)
                        changed = True
                        break
        return frozenset(reached)

    def can_fill(self, reached: set[str], candidate: Subgraph, type_name: str, fields: str) -> bool:
        """Whether the subgraphs ``reached`` can supply the key's fields on ``type_name`` (its
        nested fields are assumed available: the planner may fetch them from anywhere)."""
        try:
            paths = field_set_paths(candidate, type_name, fields)
        except (KeyError, GraphQLError):
            return False
        return all(
            any(self.resolves(self.by_name[s], type_name, name) for s in reached)
            for owner, name, _ in paths
            if owner == type_name
        )

    def resolves(self, subgraph: Subgraph, type_name: str, field_name: str) -> bool:
        model = subgraph.types.get(type_name)
        if model is None or field_name not in model.fields:
            return False
        if (type_name, field_name, subgraph.name) in self.overridden:
            return False
        return not model.fields[field_name].external or self.provided(subgraph, field_name)

    def provided(self, subgraph: Subgraph, field_name: str) -> bool:
        """Whether some @provides of ``subgraph`` mentions ``field_name`` (coarse on purpose)."""
        words = self.provided_words.get(subgraph.name)
        if words is None:
            words = set()
            for t in subgraph.types.values():
                for f in t.fields.values():
                    if f.provides is not None:
                        words.update(re.findall(r"\w+", f.provides))
            self.provided_words[subgraph.name] = words
        return field_name in words


def _render(path: _Path) -> str:
    """A path (innermost segment first, linked to its parent) as ``query { a { b } }``."""
    segments: list[str] = []
    node: _Path | None = path
    while node is not None:
        segments.append(node[0])
        node = node[1]
    segments.reverse()
    return " { ".join(segments) + " }" * (len(segments) - 1)


def _interface_object_types(subgraphs: list[Subgraph]) -> set[str]:
    """Interfaces some subgraph sees as an @interfaceObject, and their implementations: their
    fields arrive through entity jumps this check does not model."""
    interface_objects = {n for s in subgraphs for n, t in s.types.items() if t.interface_object}
    return interface_objects | {
        n for s in subgraphs for n, t in s.types.items() if set(t.interfaces) & interface_objects
    }
