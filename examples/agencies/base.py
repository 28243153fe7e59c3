"""What every demo agency shares: the ASGI app around its schema, and its request context.

An agency is a strawberry Federation v2 schema plus three things a real partner would run
in production: ``/healthz`` for the orchestrator, the gateway-token check in front of
``/graphql`` (nothing but the gateway may ask), and optionally a check that each governed
field asked for is one the gateway's decision permitted for this call.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from examples.agencies.registry import AGENCY_NAMES
from examples.people import Population
from schema.subgraph import PermittedFields
from schema.subgraph_auth import (
    GATEWAY_ISSUER,
    STATE_KEY,
    GatewayAuthMiddleware,
    PublicKeys,
)


def population(info: Info) -> Population:
    """The people this agency serves, from the request context."""
    return info.context["population"]


def known(info: Info, pid: str) -> bool:
    return pid in population(info)


def check_choice(kind: str, value: str, known: tuple[str, ...]) -> str:
    """``value`` if it is one of ``known``, else a GraphQL error that lists them."""
    if value not in known:
        raise GraphQLError(
            f"unknown {kind} {value!r}; known: {', '.join(known)}",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return value


def standard_extensions() -> list[Any]:
    """Parse and validation caches: the gateway sends the same few documents again and
    again, and validating one costs more than resolving a small batch of people."""
    # Factories: strawberry builds extensions per request; the caches themselves are shared
    # (validation results are keyed by schema, so agencies in one process never mix).
    return [lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)]


def agency_schema(name: str, extensions: Iterable[Any] = ()) -> strawberry.federation.Schema:
    """Agency ``name``'s schema (each agency module has ``build_schema(extensions)``)."""
    if name not in AGENCY_NAMES:
        raise ValueError(f"unknown agency {name!r}; choose one of: {', '.join(AGENCY_NAMES)}")
    module = importlib.import_module(f"examples.agencies.{name}")
    return module.build_schema(extensions=list(extensions)) if extensions else module.schema


class AgencyGraphQL(GraphQL):
    """Strawberry's ASGI GraphQL app with the agency's population and the verified gateway
    claims in the context."""

    def __init__(self, schema: strawberry.federation.Schema, people: Population) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=False)
        self.people = people

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        state = request.scope.get("state") or {}
        return {
            "request": request,
            "response": response,
            "population": self.people,
            "claims": state.get(STATE_KEY),
        }


def create_agency_app(
    name: str,
    people: Population | int | None = None,
    gateway_keys: PublicKeys | None = None,
    *,
    audience: str | None = None,
    issuer: str = GATEWAY_ISSUER,
    require_gateway_token: bool = True,
    enforce_permitted_fields: bool = False,
    public_sdl: bool = True,
) -> Any:
    """The ASGI app of agency ``name``: ``/graphql`` behind the gateway token, ``/healthz``.

    ``people`` is a :class:`Population` or its size (default: the default population).
    ``gateway_keys`` are the gateway's Ed25519 public keys; tokens must name ``audience``
    (default: the agency's name). Without keys the app refuses to exist unless
    ``require_gateway_token`` is false, which only a local experiment should do. With
    ``public_sdl`` (the default) ``{ _service { sdl } }`` alone needs no token, so
    ``accord compose`` can read the schema.
    """
    schema = agency_schema(name)
    if people is None:
        people = Population()
    elif isinstance(people, int):
        people = Population(count=people)
    if enforce_permitted_fields:
        schema = agency_schema(name, extensions=[PermittedFields])
    graphql = AgencyGraphQL(schema, people)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "agency": name, "people": len(people)})

    app: Any = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), Route("/graphql", graphql)]
    )
    keys = _keys(gateway_keys)
    if keys:
        app = GatewayAuthMiddleware(
            app, keys, audience or name, issuer=issuer, public_sdl=public_sdl
        )
    elif require_gateway_token:
        raise ValueError(
            f"agency {name!r} needs the gateway's public key to check gateway tokens"
            " (or explicitly run without gateway authentication)"
        )
    return app


def _keys(gateway_keys: PublicKeys | None) -> PublicKeys | None:
    if gateway_keys is None:
        return None
    if isinstance(gateway_keys, Mapping):
        return dict(gateway_keys) or None
    keys = list(gateway_keys) if isinstance(gateway_keys, Iterable) else [gateway_keys]
    return keys or None
