"""Run a query plan: subgraph fetches in dependency order, merged into one data tree.

Every fetch starts as soon as the fetches it depends on have finished; fetches of one mutation
field finish before the next field starts. ``_entities`` fetches collect the objects at their
path, build one representation per distinct entity, send them in one request, and merge each
answer back into every object that asked for it. Subgraph errors are re-pathed to where the
client sees them; a failed subgraph leaves its fields null, never the whole response.

A root fetch whose only field finds an entity by its key arguments (``person(id: $id)``) and
whose follow-up ``_entities`` fetch goes back to the same subgraph is sent as one request when
an entity preview can say beforehand what that follow-up may select: the representation is
predicted from the arguments and checked against the object the root field returns; if they
differ, the follow-up's answer is dropped and it runs as planned. The ``_entities`` fetches of
other subgraphs that complete the same object are started beside the root fetch the same way
(one level of round trips instead of two), each only if the preview answers for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import ArgumentNode, StringValueNode, VariableNode

from app.federation.errors import graphql_error
from app.federation.http import HTTPClient, SubgraphHTTPError
from app.federation.planner import Group, Path, SelSet
from app.federation.response import materialize


@dataclass
class EntityRequest:
    """What the entity-fetch hook sees: the fetch (its selection says which fields a call may
    select) and its representations."""

    fetch: Fetch
    representations: list[dict[str, Any]]
    # Per representation, the (object, path chain) pairs it stands for; ``materialize`` a
    # chain to get the response path where errors about that object belong.
    owners: list[list[tuple[dict, Any]]] = field(default_factory=list)


@dataclass
class EntityDecision:
    """The hook's answer: per representation the fields it may select (``None`` means all of
    them, an empty set means none), and errors to add at response paths."""

    allowed: list[frozenset[str] | None]
    errors: list[dict[str, Any]] = field(default_factory=list)


EntityHook = Callable[[EntityRequest], Awaitable[EntityDecision | None]]
# What the entity hook would allow for representations predicted before the fetch that finds
# them, without recording anything; ``None`` when it cannot say (the fetch then runs as
# planned, after its objects are known).
EntityPreview = Callable[[EntityRequest], Awaitable[EntityDecision | None]]
# Extra headers for one subgraph call: given the fetch and the top-level fields the call
# selects (``None``: all of the fetch's), e.g. a gateway token naming the permitted fields.
CallHeaders = Callable[["Fetch", frozenset[str] | None], dict[str, str] | None]
# Called with a subgraph's answer (root data or the ``_entities`` list) and the selection it
# was asked for, before the answer is merged; it may drop what was not asked for.
ResultCheck = Callable[["Fetch", SelSet, Any], None]


@dataclass(eq=False)
class Fetch:
    """One compiled subgraph request of a plan."""

    id: int
    graph: str
    service: str
    url: str
    kind: str
    operation: str
    path: Path
    rep_type: str
    type_filter: frozenset[str] | None
    inputs: SelSet
    sel: SelSet
    key_fields: frozenset[str]
    variable_names: tuple[str, ...]
    variable_defs: str
    variable_def_items: tuple[str, ...]
    query: str
    deps: tuple[int, ...]
    stage: int
    inputs_text: str = ""
    simple_inputs: tuple[tuple[str, str], ...] | None = None
    restores: bool = False
    # For a root fetch: the ``_entities`` fetch to the same subgraph that completes the object
    # its only field finds by key arguments, and how to predict that object's representation
    # ((representation field, argument) pairs); see :func:`pair_follow_ups`.
    follow_up: Fetch | None = None
    follow_up_args: tuple[tuple[str, ArgumentNode | None], ...] = ()
    # The ``_entities`` fetches of other subgraphs (one per subgraph) that complete the same
    # object, each with how to predict its representation: started beside the root fetch.
    beside: tuple[tuple[Fetch, tuple[tuple[str, ArgumentNode | None], ...]], ...] = ()
    # What the executor's hooks derive from this fetch, by hook: computed once, since plans are
    # cached and a fetch is the same object request after request.
    memo: dict[str, Any] = field(default_factory=dict)
    _filtered: dict[frozenset[str], str] = field(default_factory=dict)
    _fused: dict[frozenset[str] | None, str] = field(default_factory=dict)
    _filtered_sel: dict[frozenset[str], SelSet] = field(default_factory=dict)
    _batches: dict[tuple[int, ...], str] = field(default_factory=dict)

    def query_for(self, allowed: frozenset[str]) -> str:
        """The query text selecting only ``allowed`` top-level entity fields."""
        text = self._filtered.get(allowed)
        if text is None:
            text = _entities_query(self.rep_type, self.sel_for(allowed), self.variable_defs)
            self._filtered[allowed] = text
        return text

    def sel_for(self, allowed: frozenset[str] | None) -> SelSet:
        """The selection with only ``allowed`` top-level fields (all of them for ``None``)."""
        if allowed is None:
            return self.sel
        sel = self._filtered_sel.get(allowed)
        if sel is None:
            sel = SelSet(
                {
                    k: v
                    for k, v in self.sel.fields.items()
                    if v.name in allowed or k == "__typename"
                },
                {},
            )
            self._filtered_sel[allowed] = sel
        return sel

    def fused_query(self, allowed: frozenset[str] | None) -> str:
        """This root fetch and its follow-up, selecting ``allowed``, as one operation."""
        text = self._fused.get(allowed)
        if text is None:
            follow = self.follow_up
            assert follow is not None
            definitions = ["$representations:[_Any!]!"]
            for definition in (*self.variable_def_items, *follow.variable_def_items):
                if definition not in definitions:
                    definitions.append(definition)
            text = (
                f"query({', '.join(definitions)}){{{self.sel.render()[1:-1]} "
                f"_entities(representations:$representations)"
                f"{{...on {follow.rep_type}{follow.sel_for(allowed).render()}}}}}"
            )
            self._fused[allowed] = text
        return text


def compile_fetch(group: Group, service: str, url: str, variable_defs: dict[str, str]) -> Fetch:
    names = tuple(sorted(group.sel.variables()))
    defs = ", ".join(variable_defs[n] for n in names if n in variable_defs)
    if group.kind == "root":
        head = group.operation if not defs else f"{group.operation}({defs})"
        query = head + group.sel.render()
    else:
        query = _entities_query(group.rep_type, group.sel, defs)
    return Fetch(
        id=group.id,
        graph=group.graph,
        service=service,
        url=url,
        kind=group.kind,
        operation=group.operation,
        path=group.path,
        rep_type=group.rep_type,
        type_filter=group.type_filter,
        inputs=group.inputs,
        sel=group.sel,
        key_fields=frozenset(group.key_fields),
        variable_names=names,
        variable_defs=defs,
        variable_def_items=tuple(variable_defs[n] for n in names if n in variable_defs),
        query=query,
        deps=tuple(sorted(d.id for d in group.deps)),
        stage=group.stage,
        restores=_has_restores(group.sel),
        inputs_text=group.inputs.render(),
        simple_inputs=_simple_inputs(group.inputs),
    )


def pair_follow_ups(fetches: list[Fetch]) -> None:
    """Find root fetches whose follow-ups can start with them (see the module docstring).

    The root fetch must be a query selecting one field; a follow-up an ``_entities`` fetch
    depending on that fetch alone, at that field's path, whose representation holds only key
    fields the field takes as arguments of the same name. The one to the root's own subgraph
    shares its request (``follow_up``); the first to each other subgraph goes beside it."""
    for root in fetches:
        if root.kind != "root" or root.operation != "query":
            continue
        fields = [n for n in root.sel.fields.values() if n.name != "__typename"]
        if len(fields) != 1 or root.sel.frags or fields[0].sel is None:
            continue
        (found,) = fields
        args = {arg.name.value: arg for arg in found.args}
        beside: dict[str, tuple[Fetch, tuple[tuple[str, ArgumentNode | None], ...]]] = {}
        for follow in fetches:
            if (
                follow.kind == "entity"
                and follow.stage == root.stage
                and follow.deps == (root.id,)
                and follow.path == ((found.key, None),)
                and follow.simple_inputs is not None
                and "representations" not in {*root.variable_names, *follow.variable_names}
            ):
                names = [name for name, _ in follow.simple_inputs if name != "__typename"]
                if not (
                    names and set(names) <= follow.key_fields and all(n in args for n in names)
                ):
                    continue
                predicted = tuple(
                    (name, None if name == "__typename" else args[name])
                    for name, _ in follow.simple_inputs
                )
                if follow.graph == root.graph:
                    if root.follow_up is None:
                        root.follow_up, root.follow_up_args = follow, predicted
                elif follow.graph not in beside:
                    beside[follow.graph] = (follow, predicted)
        root.beside = tuple(beside.values())


def _predicted_representation(
    rep_type: str, args: tuple[tuple[str, ArgumentNode | None], ...], variables: dict[str, Any]
) -> dict[str, Any] | None:
    """A follow-up's representation from the root field's arguments, or None when an
    argument is not a plain string (a variable's value or a literal)."""
    rep: dict[str, Any] = {}
    for name, arg in args:
        if arg is None:
            rep[name] = rep_type
            continue
        node = arg.value
        if isinstance(node, VariableNode):
            value = variables.get(node.name.value)
        elif isinstance(node, StringValueNode):
            value = node.value
        else:
            return None
        if not isinstance(value, str):
            return None
        rep[name] = value
    return rep


async def _together(jobs: list[Awaitable[Any]]) -> list[Any]:
    """Await ``jobs`` concurrently. A single one (the usual case) is awaited directly: gather
    would first wrap it in a task of its own."""
    if len(jobs) == 1:
        return [await jobs[0]]
    return await asyncio.gather(*jobs)


def _simple_inputs(inputs: SelSet) -> tuple[tuple[str, str], ...] | None:
    """(name, data key) pairs when a representation is just scalars, for a fast path."""
    if inputs.frags or any(node.sel is not None for node in inputs.fields.values()):
        return None
    return tuple((node.name, node.key) for node in inputs.fields.values())


def _has_restores(sel: SelSet) -> bool:
    for node in sel.fields.values():
        if node.restore is not None or (node.sel is not None and _has_restores(node.sel)):
            return True
    return any(_has_restores(sub) for sub in sel.frags.values())


def restore_keys(value, sel: SelSet) -> None:
    """Rename type-conflict aliases in a subgraph answer back to the client's keys."""
    if isinstance(value, list):
        for element in value:
            restore_keys(element, sel)
        return
    if not isinstance(value, dict):
        return
    typename = value.get("__typename")
    selections = [sel]
    if typename in sel.frags:
        selections.append(sel.frags[typename])
    for current in selections:
        for node in current.fields.values():
            if node.sel is not None and node.key in value:
                restore_keys(value[node.key], node.sel)
            if node.restore is not None and node.alias in value:
                value[node.restore] = value.pop(node.alias)


def schedule(fetches: list[Fetch]) -> list[list[list[Fetch]]]:
    """Order fetches into levels (a fetch runs after every fetch it depends on) and, within a
    level, batch the ``_entities`` fetches to one subgraph into one request."""
    by_id = {f.id: f for f in fetches}
    depth: dict[int, int] = {}

    def level_of(fetch: Fetch) -> int:
        if fetch.id not in depth:
            depth[fetch.id] = 1 + max((level_of(by_id[d]) for d in fetch.deps), default=-1)
        return depth[fetch.id]

    levels: dict[tuple[int, int], dict[tuple[str, str, int], list[Fetch]]] = {}
    for fetch in fetches:
        key = (fetch.stage, level_of(fetch))
        batch_key = (fetch.graph, fetch.kind, fetch.id if fetch.kind == "root" else -1)
        levels.setdefault(key, {}).setdefault(batch_key, []).append(fetch)
    return [list(levels[key].values()) for key in sorted(levels)]


def _batched_query(fetches: list[Fetch]) -> str:
    definitions: list[str] = []
    fields: list[str] = []
    for i, fetch in enumerate(fetches):
        definitions.append(f"$r{i}:[_Any!]!")
        for definition in fetch.variable_def_items:
            if definition not in definitions:
                definitions.append(definition)
        fields.append(
            f"_{i}:_entities(representations:$r{i}){{...on {fetch.rep_type}{fetch.sel.render()}}}"
        )
    return f"query({', '.join(definitions)}){{{' '.join(fields)}}}"


def _entities_query(rep_type: str, sel: SelSet, defs: str) -> str:
    variables = "$representations:[_Any!]!" + (", " + defs if defs else "")
    return (
        f"query({variables}){{_entities(representations:$representations)"
        f"{{...on {rep_type}{sel.render()}}}}}"
    )


class Executor:
    def __init__(
        self,
        client: HTTPClient,
        entity_hook: EntityHook | None = None,
        call_headers: CallHeaders | None = None,
        check_result: ResultCheck | None = None,
        timeouts: dict[str, float] | None = None,
        entity_preview: EntityPreview | None = None,
    ) -> None:
        self.client = client
        # Per-subgraph request timeouts in seconds, by subgraph name; others use the client's.
        self.timeouts = dict(timeouts or {})
        self.entity_hook = entity_hook
        # With a preview, root fetches and their follow-ups share requests (module docstring).
        self.entity_preview = entity_preview
        self.call_headers = call_headers
        self.check_result = check_result
        self.subgraph_requests = 0

    async def run(
        self,
        schedule: list[list[list[Fetch]]],
        variables: dict[str, Any],
        headers: dict[str, str] | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run ``schedule`` (levels of batches, see :func:`schedule`) and merge the answers."""
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        done: set[int] = set()  # follow-ups already answered with their root fetch
        for level in schedule:
            if done:
                level = [
                    kept for kept in ([f for f in b if f.id not in done] for b in level) if kept
                ]
            # Every fetch of a level collects its objects before any answer of the level is
            # merged (gather starts each batch up to its first await), so the objects found at a
            # path can be shared between the level's fetches.
            shared: dict = {}
            if len(level) == 1:
                await self._run_batch(level[0], data, errors, variables, headers, {}, done)
            elif level:
                await asyncio.gather(
                    *(
                        self._run_batch(batch, data, errors, variables, headers, shared, done)
                        for batch in level
                    )
                )
        return data, errors

    async def _run_batch(self, batch, data, errors, variables, headers, shared, done) -> None:
        if batch[0].kind == "root" and self.entity_preview is not None:
            fused = [f for f in batch if f.follow_up is not None or f.beside]
            if fused:
                batch = [f for f in batch if f.follow_up is None and not f.beside]
                jobs = [
                    self._run_with_follow_ups(f, data, errors, variables, headers, done)
                    for f in fused
                ]
                jobs += [
                    self._run_fetch(f, data, errors, variables, headers, shared) for f in batch
                ]
                await _together(jobs)
                return
        if len(batch) == 1 or batch[0].kind == "root":
            if len(batch) == 1:
                await self._run_fetch(batch[0], data, errors, variables, headers, shared)
            else:
                await asyncio.gather(
                    *(self._run_fetch(f, data, errors, variables, headers, shared) for f in batch)
                )
            return
        parts = []
        for fetch in batch:
            prepared = self._prepare(fetch, data, shared)
            if prepared is not None:
                parts.append((fetch, *prepared))
        if not parts:
            return
        if self.entity_hook is None:
            await self._send_parts(parts, errors, variables, headers)
            return
        decisions = await _together(
            [
                self.entity_hook(EntityRequest(fetch, reps, owners))
                for fetch, reps, owners, _ in parts
            ]
        )
        plain = []
        jobs = []
        for part, decision in zip(parts, decisions, strict=True):
            if decision is not None:
                errors.extend(decision.errors)
            if decision is None or all(allowed is None for allowed in decision.allowed):
                plain.append(part)
                continue
            fetch, reps, owners, _ = part
            fetch_vars = {n: variables[n] for n in fetch.variable_names if n in variables}
            jobs.append(
                self._run_partitioned(fetch, reps, owners, decision, errors, fetch_vars, headers)
            )
        # Unrestricted fetches share one request when their per-call headers agree.
        if len(plain) > 1 and self.call_headers is not None:
            first = self.call_headers(plain[0][0], None)
            if any(self.call_headers(part[0], None) != first for part in plain[1:]):
                jobs += [self._send_parts([part], errors, variables, headers) for part in plain]
                plain = []
        if plain:
            jobs.append(self._send_parts(plain, errors, variables, headers))
        await _together(jobs)

    async def _send_parts(self, parts, errors, variables, headers) -> None:
        """Send prepared ``_entities`` fetches to one subgraph as one request."""
        fetch_vars: dict[str, Any] = {}
        for fetch, *_ in parts:
            fetch_vars.update({n: variables[n] for n in fetch.variable_names if n in variables})
        first = parts[0][0]
        if len(parts) == 1:
            _, reps, owners, _ = parts[0]
            call = (first, "_entities", "representations", reps, owners)
            await self._run_entities(first, first.query, [call], fetch_vars, headers, errors)
        elif all(
            fetch.query == first.query and fetch.inputs_text == first.inputs_text
            for fetch, *_ in parts
        ):
            # Same selection at several paths: one representation list, deduplicated across them.
            index: dict[bytes, int] = {}
            reps: list[dict] = []
            owners: list[list] = []
            for _, part_reps, part_owners, digests in parts:
                for rep, owned, digest in zip(part_reps, part_owners, digests, strict=True):
                    position = index.get(digest)
                    if position is None:
                        position = index[digest] = len(reps)
                        reps.append(rep)
                        owners.append([])
                    owners[position].extend(owned)
            call = (first, "_entities", "representations", reps, owners)
            await self._run_entities(first, first.query, [call], fetch_vars, headers, errors)
        else:
            calls = [
                (fetch, f"_{i}", f"r{i}", reps, owners)
                for i, (fetch, reps, owners, _) in enumerate(parts)
            ]
            members = tuple(fetch.id for fetch, *_ in parts)
            query = first._batches.get(members)
            if query is None:
                query = first._batches[members] = _batched_query([f for f, *_ in parts])
            await self._run_entities(first, query, calls, fetch_vars, headers, errors)

    def _prepare(self, fetch: Fetch, data: dict, shared: dict | None = None):
        """Representations of the objects ``fetch`` completes, deduplicated, with their owners."""
        targets = collect(data, fetch.path, fetch.type_filter, shared)
        if not targets:
            return None
        reps: list[dict] = []
        digests: list = []
        index: dict = {}
        owners: list[list[tuple[dict, Any]]] = []
        simple = fetch.simple_inputs
        rep_type = fetch.rep_type
        if simple is not None:
            # Scalar representations: the tuple of values is the deduplication key, and a
            # representation dict is built only once per distinct entity.
            names = [name for name, _ in simple]
            keys = [None if name == "__typename" else key for name, key in simple]
            required = [i for i, name in enumerate(names) if name in fetch.key_fields]
            # Usually every value but __typename is a key field: one membership test suffices.
            all_keys = len(required) == len(names) - 1
            for obj, path in targets:
                get = obj.get
                values = tuple([rep_type if key is None else get(key) for key in keys])
                if all_keys:
                    if None in values:
                        continue
                elif any(values[i] is None for i in required):
                    continue
                try:
                    position = index.get(values)
                except TypeError:  # a list value: fall back to the general path
                    simple = None
                    break
                if position is None:
                    position = index[values] = len(reps)
                    reps.append(dict(zip(names, values, strict=True)))
                    digests.append(values)
                    owners.append([])
                owners[position].append((obj, path))
        if simple is None:
            reps, digests, index, owners = [], [], {}, []
            key_fields = fetch.key_fields
            for obj, path in targets:
                rep = build_representation(obj, fetch.inputs, rep_type)
                if any(rep.get(k) is None for k in key_fields):
                    continue
                digest = orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)
                position = index.get(digest)
                if position is None:
                    position = index[digest] = len(reps)
                    reps.append(rep)
                    digests.append(digest)
                    owners.append([])
                owners[position].append((obj, path))
        if not reps:
            return None
        return reps, owners, digests

    async def _run_fetch(self, fetch, data, errors, variables, headers, shared=None) -> None:
        fetch_vars = {n: variables[n] for n in fetch.variable_names if n in variables}
        if fetch.kind == "root":
            body = {"query": fetch.query}
            if fetch_vars:
                body["variables"] = fetch_vars
            result = await self._post(fetch, body, errors, [], headers)
            if result is not None:
                self._merge_root(fetch, result.get("data"), result.get("errors"), data, errors)
            return
        prepared = self._prepare(fetch, data, shared)
        if prepared is None:
            return
        reps, owners, _ = prepared
        if self.entity_hook is not None:
            decision = await self.entity_hook(EntityRequest(fetch, reps, owners))
            if decision is not None:
                errors.extend(decision.errors)
                await self._run_partitioned(
                    fetch, reps, owners, decision, errors, fetch_vars, headers
                )
                return
        call = (fetch, "_entities", "representations", reps, owners)
        await self._run_entities(fetch, fetch.query, [call], fetch_vars, headers, errors)

    def _merge_root(self, fetch: Fetch, sub_data, sub_errors, data, errors) -> None:
        if fetch.restores:
            restore_keys(sub_data, fetch.sel)
        if self.check_result is not None and isinstance(sub_data, dict):
            self.check_result(fetch, fetch.sel, sub_data)
        if isinstance(sub_data, dict):
            merge(data, sub_data)
        for error in sub_errors or ():
            errors.append(_subgraph_error(error, fetch, error.get("path")))

    async def _run_with_follow_ups(self, fetch, data, errors, variables, headers, done) -> None:
        """A root fetch with its follow-ups: the one to its own subgraph in its request, the
        others beside it; each follow-up the preview does not answer for, or whose answer
        is for another object, runs as planned."""
        guesses = []
        for follow, args in fetch.beside:
            rep = _predicted_representation(follow.rep_type, args, variables)
            if rep is not None:
                guesses.append((follow, rep))
        if fetch.follow_up is not None:
            root = self._run_fused(fetch, data, errors, variables, headers, done)
        else:
            root = self._run_fetch(fetch, data, errors, variables, headers)
        if not guesses:
            await root
            return
        answers = await asyncio.gather(
            root, *(self._run_guess(follow, rep, variables, headers) for follow, rep in guesses)
        )
        for (follow, rep), answer in zip(guesses, answers[1:], strict=True):
            if answer is not None:
                allowed, entities, sub_errors = answer
                await self._adopt(
                    follow,
                    rep,
                    allowed,
                    entities,
                    sub_errors,
                    data,
                    errors,
                    variables,
                    headers,
                    done,
                )

    async def _preview(self, follow: Fetch, rep: dict[str, Any]) -> frozenset[str] | None | bool:
        """What the preview lets a predicted follow-up select, or False when it cannot say,
        refuses something, or lets it select nothing."""
        chain = (None, follow.path[0][0])
        preview = await self.entity_preview(EntityRequest(follow, [rep], [[({}, chain)]]))
        if preview is None or preview.errors:
            return False
        allowed = preview.allowed[0]
        if allowed is not None and not allowed:
            return False
        return allowed

    async def _run_guess(self, follow: Fetch, rep: dict[str, Any], variables, headers):
        """Ask for a predicted follow-up beside its root fetch: (allowed fields, the one
        entity or None if the call failed, its errors), or None when it was not asked for or
        its answer is not one entity (it then runs as planned)."""
        allowed = await self._preview(follow, rep)
        if allowed is False:
            return None
        body_vars = {n: variables[n] for n in follow.variable_names if n in variables}
        body_vars["representations"] = [rep]
        query = follow.query if allowed is None else follow.query_for(allowed)
        body = {"query": query, "variables": body_vars}
        failed: list[dict[str, Any]] = []
        result = await self._post(follow, body, failed, [follow.path[0][0]], headers, allowed)
        if result is None:  # reported if the object is the one predicted, not asked again
            return allowed, None, failed
        sub_data = result.get("data")
        entities = sub_data.get("_entities") if isinstance(sub_data, dict) else None
        if not isinstance(entities, list) or len(entities) != 1:
            return None
        return allowed, entities, result.get("errors") or []

    async def _run_fused(self, fetch, data, errors, variables, headers, done) -> None:
        """A root fetch and its follow-up in one request, when the preview allows it; else
        the root fetch alone (the follow-up then runs at its level)."""
        follow: Fetch = fetch.follow_up
        rep = _predicted_representation(follow.rep_type, fetch.follow_up_args, variables)
        allowed = False if rep is None else await self._preview(follow, rep)
        if allowed is False:
            await self._run_fetch(fetch, data, errors, variables, headers)
            return
        names = set(fetch.variable_names) | set(follow.variable_names)
        body_vars = {n: variables[n] for n in names if n in variables}
        body_vars["representations"] = [rep]
        body = {"query": fetch.fused_query(allowed), "variables": body_vars}
        result = await self._post(follow, body, errors, [], headers, allowed)
        if result is None:
            return  # the failure is reported at the root; the follow-up has no object
        sub_data = result.get("data")
        if not isinstance(sub_data, dict):  # an error anywhere nulled both parts: ask apart
            await self._run_fetch(fetch, data, errors, variables, headers)
            return
        entities = sub_data.pop("_entities", None)
        root_errors, follow_errors = [], []
        for error in result.get("errors") or ():
            path = error.get("path")
            target = (
                follow_errors
                if isinstance(path, list) and path[:1] == ["_entities"]
                else root_errors
            )
            target.append(error)
        self._merge_root(fetch, sub_data, root_errors, data, errors)
        if isinstance(entities, list) and len(entities) == 1:
            await self._adopt(
                follow,
                rep,
                allowed,
                entities,
                follow_errors,
                data,
                errors,
                variables,
                headers,
                done,
            )

    async def _adopt(
        self, follow, rep, allowed, entities, sub_errors, data, errors, variables, headers, done
    ) -> None:
        """Merge a follow-up answered before its object was known, if the root field found
        exactly the object ``rep`` predicted; otherwise leave the follow-up to run as
        planned. The entity hook decides (and records) now that the object is known."""
        found = collect(data, follow.path, follow.type_filter)
        if len(found) != 1:
            return  # no object, or not one: the follow-up runs as planned, if at all
        obj, chain = found[0]
        if any(
            rep[name] != obj.get(key) for name, key in follow.simple_inputs if name != "__typename"
        ):
            return  # the field found another object than its arguments name: as planned
        done.add(follow.id)
        owners = [[(obj, chain)]]
        if self.entity_hook is not None:
            decision = await self.entity_hook(EntityRequest(follow, [rep], owners))
            if decision is not None:
                errors.extend(decision.errors)
                if decision.allowed[0] != allowed:  # the decision changed: ask again
                    fetch_vars = {n: variables[n] for n in follow.variable_names if n in variables}
                    await self._run_partitioned(
                        follow, [rep], owners, decision, errors, fetch_vars, headers
                    )
                    return
        if entities is None:  # the call failed: reported where the planned call's would be
            errors.extend(sub_errors)
            return
        self._merge_entities(follow, allowed, entities, owners)
        for error in sub_errors:
            path = error.get("path")
            where = (
                [*materialize(chain), *path[2:]]
                if isinstance(path, list) and len(path) >= 2 and path[1] == 0
                else None
            )
            errors.append(_subgraph_error(error, follow, where or materialize(chain)))

    def _merge_entities(self, part: Fetch, allowed, entities: list, owners: list) -> None:
        """Merge an ``_entities`` answer into the objects each representation stands for."""
        if part.restores:
            restore_keys(entities, part.sel)
        if self.check_result is not None:
            self.check_result(part, part.sel_for(allowed), entities)
        concrete = part.rep_type in (part.type_filter or ())
        for position, entity in enumerate(entities[: len(owners)]):
            if not isinstance(entity, dict):
                continue
            if not concrete and entity.get("__typename") == part.rep_type:
                # An interface object answers with the interface's name: keep the real type.
                entity = {k: v for k, v in entity.items() if k != "__typename"}
            for obj, _ in owners[position]:
                merge(obj, entity)

    async def _run_partitioned(self, fetch, reps, owners, decision, errors, fetch_vars, headers):
        groups: dict[frozenset[str] | None, list[int]] = {}
        for position, allowed in enumerate(decision.allowed):
            groups.setdefault(allowed, []).append(position)
        calls = []
        for allowed, positions in groups.items():
            if allowed is not None and not allowed:
                continue
            query = fetch.query if allowed is None else fetch.query_for(allowed)
            call = (
                fetch,
                "_entities",
                "representations",
                [reps[p] for p in positions],
                [owners[p] for p in positions],
            )
            calls.append(
                self._run_entities(fetch, query, [call], fetch_vars, headers, errors, allowed)
            )
        await _together(calls)

    async def _run_entities(self, fetch, query, calls, fetch_vars, headers, errors, allowed=None):
        """One ``_entities`` request (one aliased field per call) merged into the owners;
        ``allowed`` limits the top-level fields asked for (see :meth:`Fetch.query_for`)."""
        variables = dict(fetch_vars)
        for _, _, var, reps, _ in calls:
            variables[var] = reps
        first_path = materialize(calls[0][4][0][0][1])
        result = await self._post(
            fetch, {"query": query, "variables": variables}, errors, first_path, headers, allowed
        )
        if result is None:
            for part, _, _, _, owners in calls[1:]:
                errors.append(_fetch_failed(part, "request failed", materialize(owners[0][0][1])))
            return
        answered = result.get("data") or {}
        by_alias = {}
        for part, alias, _, _, owners in calls:
            by_alias[alias] = (part, owners)
            entities = answered.get(alias) if isinstance(answered, dict) else None
            if isinstance(entities, list):
                self._merge_entities(part, allowed, entities, owners)
        for error in result.get("errors") or ():
            path = error.get("path")
            target = by_alias.get(path[0]) if isinstance(path, list) and path else None
            if (
                target is not None
                and len(path) >= 2
                and isinstance(path[1], int)
                and path[1] < len(target[1])
            ):
                part, owners = target
                owner_path = materialize(owners[path[1]][0][1])
                errors.append(_subgraph_error(error, part, [*owner_path, *path[2:]]))
            else:
                errors.append(_subgraph_error(error, fetch, first_path or None))

    async def _post(self, fetch, body, errors, path, headers, allowed=None) -> dict | None:
        self.subgraph_requests += 1
        if self.call_headers is not None:
            extra = self.call_headers(fetch, allowed)
            if extra:
                headers = {**headers, **extra} if headers else extra
        try:
            status, raw = await self.client.post(
                fetch.url, orjson.dumps(body), headers, self.timeouts.get(fetch.service)
            )
        except SubgraphHTTPError as exc:
            errors.append(_fetch_failed(fetch, str(exc), path))
            return None
        try:
            result = orjson.loads(raw)
        except orjson.JSONDecodeError:
            errors.append(_fetch_failed(fetch, f"invalid JSON in HTTP {status} response", path))
            return None
        if not isinstance(result, dict) or ("data" not in result and "errors" not in result):
            errors.append(_fetch_failed(fetch, f"HTTP {status} without a GraphQL result", path))
            return None
        if "errors" in result:
            result["errors"] = _well_formed_errors(result["errors"])
        return result


def _fetch_failed(fetch: Fetch, reason: str, path) -> dict[str, Any]:
    return graphql_error(
        f"HTTP fetch failed from '{fetch.service}': {reason}",
        path or None,
        "SUBREQUEST_HTTP_ERROR",
        service=fetch.service,
    )


def _well_formed_errors(raw: Any) -> list[dict[str, Any]]:
    """A subgraph's ``errors`` as the executor reads them: a list of objects whose ``path``, if
    any, is a list of keys and indexes and whose ``extensions``, if any, is an object. Anything
    else a subgraph sends there is kept as a message, never trusted as a path."""
    if raw is None:
        return []
    out = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, dict):
            item = {"message": str(item)}
        path = item.get("path")
        if path is not None and not (
            isinstance(path, list) and all(type(step) in (str, int) for step in path)
        ):
            item = {k: v for k, v in item.items() if k != "path"}
        if not isinstance(item.get("extensions", {}), dict):
            item = {k: v for k, v in item.items() if k != "extensions"}
        out.append(item)
    return out


def _subgraph_error(error: dict[str, Any], fetch: Fetch, path) -> dict[str, Any]:
    result: dict[str, Any] = {"message": str(error.get("message", "subgraph error"))}
    if path:
        result["path"] = path
    extensions = dict(error.get("extensions") or {})
    extensions.setdefault("code", "DOWNSTREAM_SERVICE_ERROR")
    extensions.setdefault("service", fetch.service)
    result["extensions"] = extensions
    return result


def merge(target: dict, source: dict) -> None:
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge(current, value)
        elif isinstance(current, list) and isinstance(value, list) and len(current) == len(value):
            for index, (a, b) in enumerate(zip(current, value, strict=True)):
                if isinstance(a, dict) and isinstance(b, dict):
                    merge(a, b)
                elif isinstance(a, list) and isinstance(b, list):
                    holder_a, holder_b = {"v": a}, {"v": b}
                    merge(holder_a, holder_b)
                else:
                    current[index] = b
        else:
            target[key] = value


def collect(
    data: dict, path: Path, type_filter, shared: dict | None = None
) -> list[tuple[dict, Any]]:
    """Objects at ``path`` (lists flattened) with their response path as a (parent, key) chain.

    ``shared`` remembers the objects found at each path prefix, for fetches that collect from
    the same, unchanged data."""
    current: list[tuple[dict, Any]] = [(data, None)]
    start = 0
    if shared is not None:
        for end in range(len(path), 0, -1):
            hit = shared.get(path[:end])
            if hit is not None:
                current, start = hit, end
                break
    for position in range(start, len(path)):
        key, condition = path[position]
        found: list[tuple[dict, Any]] = []
        for obj, chain in current:
            value = obj.get(key)
            if value is None:
                continue
            base = (chain, key)
            if type(value) is list:
                for index, element in enumerate(value):
                    if type(element) is dict:
                        if condition is None or element.get("__typename") in condition:
                            found.append((element, (base, index)))
                    elif element is not None:
                        _flatten(element, (base, index), condition, found)
            else:
                _flatten(value, base, condition, found)
        current = found
        if shared is not None:
            shared[path[: position + 1]] = current
    if type_filter is not None:
        current = [(obj, c) for obj, c in current if obj.get("__typename") in type_filter]
    return current


def _flatten(value, chain, condition, out: list) -> None:
    if isinstance(value, dict):
        if condition is None or value.get("__typename") in condition:
            out.append((value, chain))
    elif isinstance(value, list):
        for index, element in enumerate(value):
            if element is not None:
                _flatten(element, (chain, index), condition, out)


def build_representation(obj: dict, inputs: SelSet, rep_type: str | None) -> dict:
    rep: dict[str, Any] = {}
    typename = obj.get("__typename")
    for node in inputs.fields.values():
        if node.name == "__typename":
            rep["__typename"] = rep_type or typename
            continue
        value = obj.get(node.key)
        if node.sel is not None and value is not None:
            value = _nested_representation(value, node.sel)
        rep[node.name] = value
    for type_name, sub in inputs.frags.items():
        if typename == type_name:
            rep.update(build_representation(obj, sub, None))
    return rep


def _nested_representation(value, sel: SelSet):
    if isinstance(value, list):
        return [_nested_representation(v, sel) for v in value]
    if isinstance(value, dict):
        return build_representation(value, sel, None)
    return value
