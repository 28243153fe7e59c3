"""The gateway's HTTP face: a Starlette app serving the federated API over GraphQL-over-HTTP.

``POST /graphql`` and ``GET /graphql`` (queries only) run operations through the federation
gateway; a browser asking ``GET /graphql`` for HTML gets GraphiQL (Accord's own query console
when GraphiQL's CDN is out of reach). ``/healthz`` answers 2xx only once the supergraph is
loaded. Status codes follow the GraphQL-over-HTTP specification: with
``application/graphql-response+json`` a request refused before execution is a 4xx, with plain
``application/json`` a well-formed request is a 200 whatever its GraphQL errors. Clients never
see a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from app.accord_api import audit_routes, open_audit
from app.enforcement.service import Enforcement, ledger_process, open_enforcement
from app.federation.errors import RequestError, SupergraphError
from app.federation.gateway import Gateway, Limits
from app.federation.http import HTTPClient
from app.federation.supergraph import load_supergraph_file
from app.identity import IdentityError
from app.settings import Settings

log = logging.getLogger("accord.server")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# The young generation's collection threshold. A young collection walks every container
# allocated since the last one that is still alive, and under load that is the state of the
# requests in flight, which is not garbage: with Python's default (700) the enforcing gateway
# collected about 90 times per 1,000 requests and spent 33-44 us of CPU per request doing so
# at 32 concurrent requests, 104 us at 128 (plain federation: 11 us at 32). Requests leave
# little cyclic garbage, so a threshold above what the requests in flight hold makes
# collections rare (at 128 concurrent requests, 4 per 10,000 requests, 5 us per request).
YOUNG_COLLECTION_THRESHOLD = 20_000


def create_app(settings: Settings, gateway: Gateway | None = None) -> Starlette:
    """Build the ASGI app; the supergraph named by ``settings`` is loaded at startup unless a
    ready ``gateway`` is passed. With ``settings.enforcement`` (the default) every request is
    authenticated, consent is enforced on every fetch and disclosures are recorded on the ledger
    before the response is released (see docs/enforcement.md)."""
    state: dict[str, Any] = {"gateway": gateway, "enforcement": None}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if state["gateway"] is None and settings.supergraph is None:
            raise SupergraphError("no supergraph configured (--supergraph or ACCORD_SUPERGRAPH)")
        thresholds = gc.get_threshold()  # the collector is the process's: given back at shutdown
        try:
            async with contextlib.AsyncExitStack() as stack:
                ledger, starting = None, None
                if settings.enforcement:
                    # The ledger's process starts (a new interpreter, then the log) while the
                    # supergraph is loaded off the loop: startup waits for the slower of the two.
                    ledger = ledger_process(settings)
                    stack.push_async_callback(ledger.close)
                    starting = asyncio.ensure_future(ledger.start())
                if state["gateway"] is None:
                    try:
                        state["gateway"] = await asyncio.to_thread(build_gateway, settings)
                    except BaseException:
                        if starting is not None:
                            await asyncio.gather(starting, return_exceptions=True)
                        raise
                if ledger is not None and starting is not None:
                    await starting
                    state["enforcement"] = await stack.enter_async_context(
                        open_enforcement(settings, state["gateway"], ledger)
                    )
                await stack.enter_async_context(open_audit(settings, state))
                # What startup built (schemas, plans, contracts) lives as long as the process:
                # keep it out of the collector's full passes, which would otherwise walk it
                # again every few thousand requests.
                gc.collect()
                gc.freeze()
                gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
                yield
        finally:
            state["enforcement"] = None
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            if state["gateway"] is not None:
                await state["gateway"].aclose()

    async def healthz(request: Request) -> Response:
        if state["gateway"] is None:
            return _json({"status": "starting"}, 503)
        return _json({"status": "ok"}, 200)

    async def graphql(request: Request) -> Response:
        gw: Gateway | None = state["gateway"]
        accept = request.headers.get("accept", "")
        strict = GRAPHQL_RESPONSE in accept and JSON not in accept.split(GRAPHQL_RESPONSE)[0]
        media = GRAPHQL_RESPONSE if strict else JSON
        if request.method == "GET":
            if not request.query_params.get("query") and "text/html" in accept:
                return HTMLResponse(GRAPHIQL_PAGE, headers=GRAPHIQL_HEADERS)
            allowed: tuple[str, ...] = ("query",)
            try:
                params = _params_from_query(request)
            except RequestError as exc:
                return _error_response(exc, media)
        else:
            allowed = ("query", "mutation")
            try:
                params = await _params_from_body(request, settings.max_body_bytes)
            except RequestError as exc:
                return _error_response(exc, media)
        if gw is None:
            return _error_response(RequestError("gateway is starting", "UNAVAILABLE", 503), media)
        enforcement: Enforcement | None = state["enforcement"]
        if settings.enforcement and enforcement is None:
            return _error_response(RequestError("gateway is starting", "UNAVAILABLE", 503), media)
        try:
            if enforcement is not None:
                try:
                    principal = await enforcement.authenticate(request.headers)
                    result = await enforcement.execute(
                        gw, principal, params, request.headers, allowed
                    )
                except IdentityError as exc:
                    enforcement.metrics.requests_refused += 1
                    body = orjson.dumps({"errors": [exc.graphql_error()]})
                    return Response(body, exc.status, media_type=media, headers=exc.headers)
            else:
                result = await gw.execute(
                    params["query"],
                    params.get("operationName"),
                    params.get("variables"),
                    allowed_operations=allowed,
                )
        except RequestError as exc:
            if exc.status in (405, 500, 503) or strict:
                return _error_response(exc, media)
            return _error_response(exc, media, status=200)
        except Exception:  # never leak internals to the client
            log.exception("request failed")
            error = RequestError("Internal server error", "INTERNAL_SERVER_ERROR", 500)
            return _error_response(error, media)
        return Response(orjson.dumps(result), 200, media_type=media)

    async def readyz(request: Request) -> Response:
        gw: Gateway | None = state["gateway"]
        enforcement: Enforcement | None = state["enforcement"]
        if gw is None or (settings.enforcement and enforcement is None):
            return _json({"ready": False, "status": "starting"}, 503)
        if enforcement is None:
            return _json({"ready": True, "enforcement": False}, 200)
        report = await enforcement.readiness(gw)
        return _json(report, 200 if report["ready"] else 503)

    async def metrics(request: Request) -> Response:
        enforcement: Enforcement | None = state["enforcement"]
        text = enforcement.render_metrics() if enforcement is not None else ""
        return Response(text, 200, media_type="text/plain; version=0.0.4")

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *audit_routes(state),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.accord = state
    return app


def build_gateway(settings: Settings) -> Gateway:
    """The gateway over ``settings.supergraph``, with the configured subgraph timeouts;
    raises :class:`SupergraphError` for a missing or malformed supergraph."""
    if settings.supergraph is None:
        raise SupergraphError("no supergraph configured (--supergraph or ACCORD_SUPERGRAPH)")
    return Gateway(
        load_supergraph_file(settings.supergraph),
        HTTPClient(timeout=settings.subgraph_timeout_seconds),
        timeouts={s.name: s.timeout_seconds for s in settings.subgraphs if s.timeout_seconds},
        limits=Limits(
            settings.max_query_depth, settings.max_query_aliases, settings.max_query_fields
        ),
    )


def _json(value: Any, status: int) -> Response:
    return Response(orjson.dumps(value), status, media_type=JSON)


def _error_response(exc: RequestError, media: str, status: int | None = None) -> Response:
    body: dict[str, Any] = {"errors": [exc.to_dict()]}
    if exc.code in ("QUERY_PLANNING_FAILED", "INTERNAL_SERVER_ERROR"):
        body["data"] = None
    headers = {"Allow": "POST"} if exc.status == 405 else None
    return Response(orjson.dumps(body), status or exc.status, media_type=media, headers=headers)


def _params_from_query(request: Request) -> dict[str, Any]:
    query = request.query_params.get("query")
    if not query:
        raise RequestError("a GET request needs a 'query' parameter", "BAD_REQUEST", 400)
    params: dict[str, Any] = {"query": query}
    if request.query_params.get("operationName"):
        params["operationName"] = request.query_params["operationName"]
    raw = request.query_params.get("variables")
    if raw:
        try:
            params["variables"] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RequestError("'variables' is not valid JSON", "BAD_REQUEST", 400) from None
    return _check_params(params)


async def _params_from_body(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"request body exceeds {limit} bytes", "PAYLOAD_TOO_LARGE", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(f"request body exceeds {limit} bytes", "PAYLOAD_TOO_LARGE", 413)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/graphql") and "json" not in content_type:
        return _check_params({"query": body.decode("utf-8", "replace")})
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("request body is not valid JSON", "BAD_REQUEST", 400) from None
    if not isinstance(params, dict):
        raise RequestError("request body must be a JSON object", "BAD_REQUEST", 400)
    return _check_params(params)


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError("'query' must be a non-empty string", "BAD_REQUEST", 400)
    name = params.get("operationName")
    if name is not None and not isinstance(name, str):
        raise RequestError("'operationName' must be a string", "BAD_REQUEST", 400)
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("'variables' must be a JSON object", "BAD_REQUEST", 400)
    return params


# GraphiQL comes from its CDN when the browser can reach it; when the CDN scripts fail or do not
# arrive in time, graphiql.js mounts Accord's own console (app/ui/console/, served under /ui), so
# the page works on a closed network. The page script is a file, never inline.
GRAPHIQL_CDN = "https://unpkg.com"
GRAPHIQL_PAGE = """<!doctype html>
<html lang="en" class="ac-graphiql">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Accord GraphiQL</title>
  <link rel="stylesheet" href="/ui/console/console.css">
  <script src="/ui/console/console.js" defer></script>
  <script src="/ui/console/graphiql.js" defer></script>
</head>
<body>
  <div id="editor" role="status">Loading the query editor&hellip;</div>
  <noscript>The query editor needs JavaScript; POST queries to this URL instead.</noscript>
</body>
</html>
"""

# What the page needs and nothing more: its own scripts plus GraphiQL's from the CDN; GraphiQL
# sets inline styles and loads its fonts and icons from the CDN or as data URLs; queries go to
# the gateway only. A bearer token is typed into the page: no framing, no referrer.
GRAPHIQL_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'self' {GRAPHIQL_CDN}; "
        f"style-src 'self' 'unsafe-inline' {GRAPHIQL_CDN}; font-src {GRAPHIQL_CDN} data:; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
