"""The federation gateway: request in, GraphQL result out.

Parsing, validation and planning are cached per operation (text, name, and the values that
decide ``@skip``/``@include``), so a repeated operation costs only its subgraph round trips,
the merge and the projection.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute,
    parse,
    print_ast,
    validate,
)
from graphql.execution.values import get_variable_values

from app.federation.api_schema import build_api_schema
from app.federation.errors import PlanningError, RequestError
from app.federation.executor import (
    EntityHook,
    Executor,
    Fetch,
    compile_fetch,
    pair_follow_ups,
    schedule,
)
from app.federation.http import HTTPClient
from app.federation.operation import conditional_variables, normalize, select_operation
from app.federation.planner import Options, Planner
from app.federation.response import Projection, project_root
from app.federation.supergraph import Supergraph

_INTROSPECTION_FIELDS = {"__schema", "__type", "__typename"}

# Awaited with (merged data, errors) between execution and projection.
BeforeRelease = Callable[[dict[str, Any], list[dict[str, Any]]], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """Operation size limits, checked once per document before planning."""

    max_depth: int = 32
    max_aliases: int = 200
    max_fields: int = 5000


@dataclass
class Prepared:
    """A parsed and validated document, cached by its text."""

    document: DocumentNode
    conditionals: list[str]


@dataclass
class OperationPlan:
    """Everything needed to run one operation again: fetches and the response projection."""

    operation: str
    fetches: list[Fetch]
    projection: Projection | None
    introspection: bool
    definition: OperationDefinitionNode
    schedule: list = field(default_factory=list)
    # Root __schema/__type fields beside federated ones: answered from the API schema.
    introspection_part: DocumentNode | None = None
    root_keys: tuple[str, ...] = ()

    def describe(self) -> str:
        return describe_plan(self.fetches)


class LRU(OrderedDict):
    """A bounded cache that forgets the least recently used entry first."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get(self, key, default=None):
        value = super().get(key, default)
        if value is not default:
            self.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class Gateway:
    def __init__(
        self,
        supergraph: Supergraph,
        client: HTTPClient | None = None,
        options: Options | None = None,
        entity_hook: EntityHook | None = None,
        cache_size: int = 1000,
        timeouts: dict[str, float] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.supergraph = supergraph
        self.schema: GraphQLSchema = build_api_schema(supergraph)
        self.options = options or Options()
        self.limits = limits or Limits()
        self.client = client or HTTPClient()
        self.executor = Executor(self.client, entity_hook, timeouts=timeouts)
        self._documents: LRU = LRU(cache_size)
        self._plans: LRU = LRU(cache_size)

    def prepare(self, query: str) -> Prepared:
        prepared = self._documents.get(query)
        if prepared is not None:
            return prepared
        try:
            document = parse(query)
        except GraphQLSyntaxError as exc:
            raise RequestError(exc.message, "GRAPHQL_PARSE_FAILED", 400, _locations(exc)) from None
        errors = validate(self.schema, document)
        if errors:
            raise RequestError(
                errors[0].message, "GRAPHQL_VALIDATION_FAILED", 400, _locations(errors[0])
            )
        check_limits(document, self.limits)
        prepared = Prepared(document, conditional_variables(document))
        self._documents.put(query, prepared)
        return prepared

    def plan(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None = None
    ) -> OperationPlan:
        variables = variables or {}
        prepared = self.prepare(query)
        key = (
            query,
            operation_name,
            tuple(bool(variables.get(name)) for name in prepared.conditionals),
        )
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        definition = select_operation(prepared.document, operation_name)
        if definition is None:
            message = (
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            raise RequestError(message, "GRAPHQL_VALIDATION_FAILED", 400)
        operation = definition.operation.value
        if operation == "subscription":
            raise RequestError("Subscriptions are not supported.", "OPERATION_NOT_SUPPORTED", 400)
        items = normalize(prepared.document, definition, variables)
        root_names = {getattr(i, "name", None) for i in items}
        introspection = bool(root_names) and root_names <= _INTROSPECTION_FIELDS
        fetches: list[Fetch] = []
        projection = None
        if not introspection:
            groups = Planner(self.supergraph, self.options).plan(operation, items)
            variable_defs = {
                d.variable.name.value: print_ast(d).split(" @", 1)[0]
                for d in definition.variable_definitions or ()
            }
            for group in groups:
                graph = self.supergraph.graphs[group.graph]
                fetches.append(compile_fetch(group, graph.name, graph.url, variable_defs))
            known = {f.id for f in fetches}
            for fetch in fetches:
                fetch.deps = tuple(d for d in fetch.deps if d in known)
            pair_follow_ups(fetches)
            projection = Projection(self.schema, self.supergraph.root_types[operation], items)
        plan = OperationPlan(
            operation, fetches, projection, introspection, definition, schedule(fetches)
        )
        if not introspection and root_names & {"__schema", "__type"}:
            plan.introspection_part = _introspection_part(prepared.document, definition)
            plan.root_keys = tuple(dict.fromkeys(i.key for i in items if hasattr(i, "key")))
        self._plans.put(key, plan)
        return plan

    async def execute(
        self,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        allowed_operations: tuple[str, ...] = ("query", "mutation"),
        before_release: BeforeRelease | None = None,
    ) -> dict[str, Any]:
        """Run one GraphQL request; raises :class:`RequestError` for a request that is refused
        before execution. ``before_release`` is awaited with the merged subgraph data and the
        errors before the response is shaped: it may null values and add errors there (the
        projection then applies GraphQL null propagation)."""
        if variables is not None and not isinstance(variables, dict):
            raise RequestError("variables must be a JSON object", "BAD_REQUEST", 400)
        try:
            plan = self.plan(query, operation_name, variables)
        except PlanningError as exc:
            raise RequestError(
                f"cannot plan operation: {exc}", "QUERY_PLANNING_FAILED", 500
            ) from None
        if plan.operation not in allowed_operations:
            raise RequestError(
                f"{plan.operation} operations are not allowed with this request method",
                "OPERATION_NOT_ALLOWED",
                405,
            )
        coerced = get_variable_values(
            self.schema, plan.definition.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            raise RequestError(coerced[0].message, "BAD_USER_INPUT", 400, _locations(coerced[0]))
        if plan.introspection:
            prepared = self.prepare(query)
            result = execute(
                self.schema,
                prepared.document,
                operation_name=operation_name,
                variable_values=variables or {},
            )
            response: dict[str, Any] = {"data": result.data}
            if result.errors:
                response["errors"] = [e.formatted for e in result.errors]
            return response
        data, errors = await self.executor.run(plan.schedule, variables or {}, headers)
        if before_release is not None:
            await before_release(data, errors)
        shaped = project_root(plan.projection, data, errors)
        if plan.introspection_part is not None and shaped is not None:
            shaped = self._add_introspection(plan, shaped, operation_name, variables, errors)
        response = {"data": shaped}
        if errors:
            response["errors"] = errors
        return response

    def _add_introspection(self, plan, shaped, operation_name, variables, errors) -> dict:
        result = execute(
            self.schema,
            plan.introspection_part,
            operation_name=operation_name,
            variable_values=variables or {},
        )
        answered = result.data or {}
        errors.extend(e.formatted for e in result.errors or ())
        return {
            key: answered[key] if key in answered else shaped.get(key)
            for key in plan.root_keys
            if key in answered or key in shaped
        }

    async def aclose(self) -> None:
        await self.client.aclose()


def _introspection_part(document: DocumentNode, operation: OperationDefinitionNode) -> DocumentNode:
    """The operation with only its root ``__schema``/``__type`` fields (and the fragments)."""
    fields = tuple(
        s
        for s in operation.selection_set.selections
        if isinstance(s, FieldNode) and s.name.value in ("__schema", "__type")
    )
    part = replace(operation, selection_set=replace(operation.selection_set, selections=fields))
    fragments = tuple(d for d in document.definitions if isinstance(d, FragmentDefinitionNode))
    return DocumentNode(definitions=(part, *fragments))


def check_limits(document: DocumentNode, limits: Limits) -> None:
    """Refuse documents nested, aliased or sized beyond ``limits`` (fragments are counted at
    every spread, so a fragment cannot hide size)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    totals = {"fields": 0, "aliases": 0}

    def walk(selection_set, depth: int, seen: frozenset[str]) -> None:
        if depth > limits.max_depth:
            raise RequestError(
                f"operation is nested deeper than {limits.max_depth} levels",
                "QUERY_TOO_COMPLEX",
                400,
            )
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                totals["fields"] += 1
                if selection.alias is not None:
                    totals["aliases"] += 1
                if selection.selection_set is not None:
                    walk(selection.selection_set, depth + 1, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    walk(fragments[name].selection_set, depth, seen | {name})
            else:
                walk(selection.selection_set, depth, seen)
            if totals["fields"] > limits.max_fields:
                raise RequestError(
                    f"operation selects more than {limits.max_fields} fields",
                    "QUERY_TOO_COMPLEX",
                    400,
                )
            if totals["aliases"] > limits.max_aliases:
                raise RequestError(
                    f"operation uses more than {limits.max_aliases} aliases",
                    "QUERY_TOO_COMPLEX",
                    400,
                )

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, 1, frozenset())


def describe_plan(fetches: list[Fetch]) -> str:
    """Render a plan as it runs: a Sequence of levels, each a Parallel set of fetches; a
    ``Batch`` groups the ``_entities`` fetches sent to one subgraph as one request."""
    lines = ["QueryPlan {", "  Sequence {"]
    for level in schedule(fetches):
        indent = "    "
        if len(level) > 1:
            lines.append(indent + "Parallel {")
            indent += "  "
        for batch in level:
            inner = indent
            if len(batch) > 1:
                lines.append(f'{indent}Batch(service: "{batch[0].service}") {{')
                inner += "  "
            for fetch in batch:
                lines.extend(_describe_fetch(fetch, inner))
            if len(batch) > 1:
                lines.append(indent + "}")
        if len(level) > 1:
            lines.append("    }")
    lines += ["  }", "}"]
    return "\n".join(lines)


def _describe_fetch(fetch: Fetch, indent: str) -> list[str]:
    node = f'Fetch(service: "{fetch.service}") {{ {fetch.query} }}'
    if fetch.kind != "entity":
        return [indent + node]
    path = ".".join(
        key + ("|" + ",".join(sorted(cond)) if cond else "") for key, cond in fetch.path
    )
    return [f'{indent}Flatten(path: "{path}") {{', f"{indent}  {node}", indent + "}"]


def _locations(error: GraphQLError) -> list[dict[str, int]] | None:
    if not error.locations:
        return None
    return [{"line": loc.line, "column": loc.column} for loc in error.locations]
