"""Small real subgraphs for federation tests: graphql-core schemas served over HTTP on 127.0.0.1.

A subgraph is plain SDL plus Python data; ``_entities`` resolves representations through a
function per entity type. Each server runs uvicorn in its own thread and records every request
it receives, so tests can assert how many requests the gateway made and what it asked for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLUnionType,
    build_schema,
    graphql_sync,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import ServerThread

Resolver = Callable[..., Any]


@dataclass
class Subgraph:
    """One subgraph: SDL without federation directives, resolvers and entity loaders."""

    name: str
    sdl: str
    resolvers: dict[str, dict[str, Resolver]] = field(default_factory=dict)
    entities: dict[str, Callable[[dict], Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def schema(self):
        sdl = self.sdl + "\nscalar _Any\n"
        if self.entities:
            base = build_schema(sdl)
            members: list[str] = []
            for name in self.entities:
                entity_type = base.get_type(name)
                names = (
                    [t.name for t in base.get_possible_types(entity_type)]
                    if isinstance(entity_type, GraphQLInterfaceType)
                    else [name]
                )
                members += [n for n in names if n not in members]
            sdl += f"union _Entity = {' | '.join(members)}\n"
            sdl += "extend type Query { _entities(representations: [_Any!]!): [_Entity]! }\n"
        schema = build_schema(sdl)
        for type_name, fields in self.resolvers.items():
            graphql_type = schema.get_type(type_name)
            for field_name, resolver in fields.items():
                graphql_type.fields[field_name].resolve = resolver
        for type_ in schema.type_map.values():
            if hasattr(type_, "resolve_type") and not type_.name.startswith("__"):
                type_.resolve_type = _typename
        if self.entities:
            entity_field: GraphQLField = schema.query_type.fields["_entities"]
            entity_field.resolve = self._resolve_entities
            union = schema.get_type("_Entity")
            assert isinstance(union, GraphQLUnionType)
            assert isinstance(schema.get_type("_Any"), GraphQLScalarType)
            assert isinstance(entity_field.type, GraphQLNonNull)
            assert isinstance(entity_field.type.of_type, GraphQLList)
        return schema

    def _resolve_entities(self, _root, _info, representations):
        results = []
        for rep in representations:
            loader = self.entities.get(rep.get("__typename"))
            if loader is None:
                results.append(GraphQLError(f"unknown entity type {rep.get('__typename')}"))
                continue
            found = loader(rep)
            if found is not None and "__typename" not in found:
                found = {"__typename": rep["__typename"], **found}
            results.append(found)
        return results


def _typename(value, _info, _type):
    return value.get("__typename") if isinstance(value, dict) else None


def default_field_resolver(source, info, **args):
    if isinstance(source, dict):
        value = source.get(info.field_name)
        return value(info, **args) if callable(value) else value
    return getattr(source, info.field_name, None)


class SubgraphServer:
    """Serve subgraphs on 127.0.0.1 from a background thread; stop() ends it."""

    def __init__(self, subgraphs: list[Subgraph]) -> None:
        self.subgraphs = {s.name: s for s in subgraphs}
        routes = [
            Route(f"/{s.name}/graphql", self._endpoint(s), methods=["POST"]) for s in subgraphs
        ]
        self.app = Starlette(routes=routes)
        self.thread = ServerThread(self.app)
        for subgraph in subgraphs:
            subgraph.port = self.thread.port

    @property
    def port(self) -> int:
        return self.thread.port

    def url(self, name: str) -> str:
        return f"{self.thread.url}/{name}/graphql"

    def _endpoint(self, subgraph: Subgraph):
        schema = subgraph.schema()

        async def endpoint(request: Request) -> JSONResponse:
            body = await request.json()
            subgraph.requests.append(body)
            if subgraph.delay:
                await asyncio.sleep(subgraph.delay)
            result = graphql_sync(
                schema,
                body["query"],
                variable_values=body.get("variables"),
                field_resolver=default_field_resolver,
            )
            payload: dict[str, Any] = {"data": result.data}
            if result.errors:
                payload["errors"] = [e.formatted for e in result.errors]
            return JSONResponse(json.loads(json.dumps(payload)))

        return endpoint

    def start(self) -> SubgraphServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()

    def reset(self) -> None:
        for subgraph in self.subgraphs.values():
            subgraph.requests.clear()


def supergraph_sdl(graphs: dict[str, str], body: str) -> str:
    """A supergraph document: the link/join header for ``graphs`` (name -> url) plus ``body``."""
    values = "\n".join(
        f'  {name.upper()} @join__graph(name: "{name}", url: "{url}")'
        for name, url in graphs.items()
    )
    return (
        "schema\n"
        '  @link(url: "https://specs.apollo.dev/link/v1.0")\n'
        '  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)\n'
        '  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)\n'
        "{ query: Query mutation: Mutation }\n"
        f"enum join__Graph {{\n{values}\n}}\n" + body
    )
