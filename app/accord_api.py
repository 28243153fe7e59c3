"""Accord's own API inside the gateway: the ``accord`` subgraph, its exports and its endpoint.

The API schema (``schema.api``) is composed into the supergraph as the subgraph ``accord`` at
``local://accord``; the gateway's HTTP client answers that URL in process, so a federated
query may mix agency data and audit data, and the API sees the principal the gateway already
authenticated for the request. The same schema is also served at ``POST /accord/graphql``,
authenticated here without a purpose of use: reading the disclosure history, or giving and
withdrawing one's own consent, discloses no agency's data. Exports of the accounting of
disclosures (CSV and a printable page) sit next to it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.enforcement import context as enforcement_context
from app.identity import Authenticator, IdentityError, Principal
from app.ledger_http import LedgerReadPath, ledger_routes
from app.settings import Settings
from ledger import keys
from ledger.entries import now_ms
from ledger.log import Ledger
from ledger.process import LedgerProcess
from schema.api import SUBGRAPH_NAME, ApiContext, Backend, Caller, execute
from schema.api import accounting as accounting_export
from schema.api.resolvers import accounting_rows
from schema.api.types import iso

log = logging.getLogger("accord.api")

LOCAL_URL = f"local://{SUBGRAPH_NAME}"
MAX_BODY = 256_000


def caller_of(principal: Principal) -> Caller:
    return Caller(principal.agency, principal.user, principal.roles, principal.subject)


class AccordApi:
    """The running API: its backend over the gateway's ledger, and an authenticator."""

    def __init__(self, backend: Backend, authenticator: Authenticator) -> None:
        self.backend = backend
        self.authenticator = authenticator

    async def local_subgraph(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """The in-process subgraph: the caller is the principal of the gateway request."""
        request = enforcement_context.current.get()
        caller = caller_of(request.principal) if request is not None else None
        return 200, await self._run(body, caller)

    async def authenticate(self, request: Request) -> Caller | None:
        """The caller of a direct API request (no purpose of use needed); None if anonymous."""
        authorization = request.headers.get("authorization")
        if not authorization:
            return None
        principal = await self.authenticator.authenticate(authorization, None)
        return caller_of(principal)

    async def _run(self, body: bytes, caller: Caller | None) -> bytes:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return orjson.dumps(_error("request body is not valid JSON", "BAD_REQUEST"))
        result = await execute(payload, ApiContext(caller, self.backend, {}))
        return orjson.dumps(result)

    # -- HTTP endpoints ------------------------------------------------------------------

    async def graphql(self, request: Request) -> Response:
        try:
            caller = await self.authenticate(request)
        except IdentityError as exc:
            body = orjson.dumps({"errors": [exc.graphql_error()]})
            return Response(body, exc.status, media_type="application/json", headers=exc.headers)
        body = await _body(request)
        if body is None:
            return Response(
                orjson.dumps(_error(f"request body exceeds {MAX_BODY} bytes", "PAYLOAD_TOO_LARGE")),
                413,
                media_type="application/json",
            )
        return Response(await self._run(body, caller), 200, media_type="application/json")

    async def accounting(self, request: Request) -> Response:
        """``/accord/accounting.csv`` and ``/accord/accounting.html`` (``?subject=`` for an
        auditor; a citizen always gets their own)."""
        try:
            caller = await self.authenticate(request)
        except IdentityError as exc:
            return Response(exc.reason, exc.status, headers=exc.headers)
        context = ApiContext(caller, self.backend, {})
        try:
            subject, rows = await accounting_rows(context, request.query_params.get("subject"))
        except Exception as exc:  # GraphQLError from the same checks the API makes
            code = (getattr(exc, "extensions", None) or {}).get("code")
            status = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BAD_USER_INPUT": 400}.get(code)
            if status is None:
                log.exception("accounting export failed")
                return Response("Internal server error", 500)
            return Response(str(exc), status, media_type="text/plain")
        generated = iso(now_ms())
        name = f"accounting-of-disclosures-{subject[:12]}"
        if request.url.path.endswith(".csv"):
            return Response(
                accounting_export.to_csv(rows),
                200,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        return HTMLResponse(accounting_export.to_html(subject, generated, rows))


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


async def _body(request: Request) -> bytes | None:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            return None
    return bytes(data)


def _recorder(settings: Settings) -> tuple[str, keys.Signer] | None:
    agency = settings.consent_recorder
    if not agency:
        return None
    from app.commands.contracts import member_key_path

    path = member_key_path(settings, agency)
    if not path.exists():
        log.warning(
            "no key for consent recorder %s at %s: citizens cannot record consents", agency, path
        )
        return None
    return agency, keys.load_signer(path)


@contextlib.asynccontextmanager
async def open_accord_api(
    settings: Settings,
    ledger: Ledger | LedgerProcess,
    authenticator: Authenticator,
    client: Any = None,
) -> AsyncIterator[AccordApi]:
    """Start the API over ``ledger`` (hooking the history index into it, in whichever process
    writes the log) and, when ``client`` is the gateway's HTTP client, answer
    ``local://accord`` in process."""
    backend = Backend(
        ledger,
        approvals_required=settings.contract_approvals_required,
        recorder=_recorder(settings),
        witnesses=[w.key for w in settings.witnesses],
        quorum=settings.cosignature_quorum,
        default_consent_days=settings.default_consent_days,
    )
    await backend.start()
    api = AccordApi(backend, authenticator)
    if client is not None:
        client.mount(LOCAL_URL, api.local_subgraph)
    try:
        yield api
    finally:
        backend.close()


def api_routes(state: dict[str, Any]) -> list[Route]:
    """The API's own endpoints; they answer 503 until the API has started."""

    def bound(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            api: AccordApi | None = state.get("accord")
            if api is None:
                body = _error("the Accord API is starting or disabled", "UNAVAILABLE")
                return Response(orjson.dumps(body), 503, media_type="application/json")
            return await getattr(api, name)(request)

        return endpoint

    return [
        Route("/accord/graphql", bound("graphql"), methods=["POST"]),
        Route("/accord/accounting.csv", bound("accounting"), methods=["GET"]),
        Route("/accord/accounting.html", bound("accounting"), methods=["GET"]),
    ]


UI_DIRECTORY = Path(__file__).parent / "ui"


@contextlib.asynccontextmanager
async def open_audit(settings: Settings, state: dict[str, Any]) -> AsyncIterator[None]:
    """Start what auditors and citizens use, over the app's ``state``: the ledger read path
    (always) and the API (when the enforcing gateway has opened the ledger)."""
    enforcement = state.get("enforcement")
    read_path = LedgerReadPath(
        settings.ledger_dsn, lambda: enforcement.ledger if enforcement is not None else None
    )
    state["ledger_http"] = read_path
    try:
        async with contextlib.AsyncExitStack() as stack:
            if enforcement is not None:
                gateway = state.get("gateway")
                state["accord"] = await stack.enter_async_context(
                    open_accord_api(
                        settings,
                        enforcement.ledger,
                        enforcement.authenticator,
                        gateway.client if gateway is not None else None,
                    )
                )
            yield
    finally:
        state["accord"] = None
        state["ledger_http"] = None
        read_path.close()


# The interface holds a bearer token: scripts only from the gateway itself, no framing, no
# referrer. Inline styles are allowed for the printable accounting page opened from a blob.
UI_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def _with_headers(app: Any) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def add(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *UI_HEADERS]}
            await send(message)

        await app(scope, receive, add)

    return wrapped


def audit_routes(state: dict[str, Any]) -> list[BaseRoute]:
    """The API endpoints, the ledger read path and the web interface at ``/ui``."""

    async def ui_root(request: Request) -> Response:
        return RedirectResponse("/ui/", 308)

    return [
        *api_routes(state),
        *ledger_routes(lambda: state.get("ledger_http")),
        Route("/ui", ui_root, methods=["GET"]),
        Mount("/ui", _with_headers(StaticFiles(directory=UI_DIRECTORY, html=True)), name="ui"),
    ]
