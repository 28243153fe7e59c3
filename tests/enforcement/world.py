"""A federated network for enforcement tests: the four demo agencies as real HTTP servers that
record what they were asked, a consent ledger in SQLite, real tokens, and the gateway itself
served over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from app.demo_idp import DemoIdentityProvider
from app.federation.compose import SubgraphSource, compose
from app.identity import ensure_gateway_key, gateway_key_path
from app.server import create_app
from app.settings import Settings
from examples.agencies import AGENCY_NAMES, create_agency_app
from examples.agencies.base import agency_schema
from examples.people import Population
from ledger import keys, store
from ledger.consent import Consent, new_consent
from ledger.entries import Entry
from ledger.log import open_ledger
from ledger.pseudonym import SecretStore
from ledger.registry import Registry
from schema.subgraph_auth import verify_gateway_token
from tests.consent.network import Network, activation
from tests.support import ServerThread

ORIGIN = "accord.example/ledger"
PEOPLE = Population(count=400, seed=7)
NOTABLE = PEOPLE.notable()


@dataclass
class Call:
    """One request an agency received."""

    query: str
    variables: dict[str, Any]
    authorization: str | None
    request_id: str | None = None  # the Accord-Request-Id header


class Recording:
    """ASGI wrapper that keeps every GraphQL request an agency receives, before anything
    else (the gateway-token check included) sees it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[Call] = []
        # Rewrites each JSON answer before it leaves: an agency that misbehaves.
        self.tamper: Callable[[dict], None] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/graphql":
            await self.app(scope, receive, send)
            return
        body = b""
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope.get("headers") or ())
        try:
            request = orjson.loads(body)
            self.calls.append(
                Call(
                    request.get("query", ""),
                    request.get("variables") or {},
                    (headers.get(b"authorization") or b"").decode() or None,
                    (headers.get(b"accord-request-id") or b"").decode() or None,
                )
            )
        except orjson.JSONDecodeError:
            pass

        async def replay():
            return messages.pop(0) if messages else await receive()

        tamper = self.tamper
        if tamper is None:
            await self.app(scope, replay, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def rewrite(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            answer = orjson.loads(b"".join(chunks))
            tamper(answer)
            data = orjson.dumps(answer)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, replay, rewrite)


@dataclass
class Agencies:
    servers: dict[str, ServerThread]
    recordings: dict[str, Recording]
    sources: list[SubgraphSource]
    supergraph: str
    gateway_public: Any
    home: Path  # holds the gateway key the agencies trust

    def data_dir(self, path: Path) -> Path:
        """Make ``path`` a data directory holding the gateway key the agencies trust, and
        forget the calls recorded so far."""
        source = gateway_key_path(self.home)
        target = gateway_key_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for key_file in source.parent.glob("gateway.*"):
            shutil.copy(key_file, target.parent / key_file.name)
        self.reset()
        return path

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def calls(self, agency: str) -> list[Call]:
        return self.recordings[agency].calls

    def reset(self) -> None:
        for recording in self.recordings.values():
            recording.calls.clear()


def start_agencies(data_dir: Path) -> Agencies:
    """The four demo agencies trusting the gateway key in ``data_dir``; each refuses governed
    fields its gateway token does not list."""
    key, _ = ensure_gateway_key(data_dir)
    servers: dict[str, ServerThread] = {}
    recordings: dict[str, Recording] = {}
    try:
        for name in AGENCY_NAMES:
            app = create_agency_app(
                name,
                people=PEOPLE,
                gateway_keys=[key.public_key()],
                enforce_permitted_fields=True,
            )
            recordings[name] = Recording(app)
            servers[name] = ServerThread(recordings[name]).start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    sources = [
        SubgraphSource(name, f"{servers[name].url}/graphql", agency_schema(name).as_str())
        for name in AGENCY_NAMES
    ]
    return Agencies(servers, recordings, sources, compose(sources), key.public_key(), data_dir)


def consent(subject: str, grantees: tuple[str, ...], **extra: Any) -> Consent:
    extra.setdefault("grantor", {"kind": "self"})
    extra.setdefault("start", datetime.now(UTC) - timedelta(days=1))
    identifier = extra.pop("id", None) or f"c-{uuid.uuid4().hex[:12]}"
    return new_consent(id=identifier, subject=subject, grantees=grantees, **extra)


@dataclass
class Ledgered:
    """The ledger the gateway will open: same store, same log key, members and contract."""

    data_dir: Path
    network: Network = field(default_factory=Network)
    dsn: str | None = None  # a PostgreSQL URL; SQLite in the data directory otherwise

    @property
    def url(self) -> str:
        return self.dsn or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    def signer(self) -> keys.Signer:
        return keys.load_or_create(self.data_dir / "keys", "log", ORIGIN)

    def pseudonym(self, person: str) -> str:
        engine = store.make_engine(self.url, writer=True)
        try:
            with engine.begin() as connection:
                store.create_schema(connection)
            return SecretStore(engine).pseudonym(person)
        finally:
            engine.dispose()

    def execute(self, statement: str) -> None:
        """Run raw SQL on the store from outside the gateway (to make it refuse writes)."""
        import sqlite3

        connection = sqlite3.connect(self.data_dir / "ledger.db", isolation_level=None)
        try:
            connection.execute(statement)
        finally:
            connection.close()

    def append(self, entries: list[Entry]) -> list[int]:
        """Append as a separate writer (another process would do the same)."""

        async def run() -> list[int]:
            registry = Registry(2)
            async with open_ledger(
                self.url, self.signer(), ORIGIN, on_commit=[registry.on_commit]
            ) as ledger:
                registry.load_from(self.url)
                return [r.index for r in await ledger.append_all(entries)]

        return asyncio.run(run())

    def start_network(self) -> None:
        from ledger.contracts.model import starter_contract

        contract = starter_contract()
        self.append(self.network.admissions())
        (proposed,) = self.append([self.network.proposal(contract)])
        approvals = self.append(
            [self.network.approval(contract, m) for m in ("health", "education")]
        )
        self.append([activation(contract, approvals)])
        assert proposed >= 0

    def grant(self, person: str, grantees: tuple[str, ...], **extra: Any) -> Consent:
        granted = consent(self.pseudonym(person), grantees, **extra)
        self.append([self.network.grant(granted, recorder=grantees[0])])
        return granted

    def revoke(self, granted: Consent, recorder: str) -> None:
        self.append([self.network.revoke(granted, recorder=recorder)])

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        engine = store.make_engine(self.url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    store.entries_table.select().order_by(store.entries_table.c.idx)
                ).all()
        finally:
            engine.dispose()
        return [(row.idx, orjson.loads(bytes(row.data))) for row in rows]


@dataclass
class Gateway:
    server: ServerThread
    client: httpx.Client
    idp: DemoIdentityProvider
    settings: Settings

    @property
    def app_state(self) -> dict[str, Any]:
        return self.server.server.config.app.state.accord

    def post(
        self,
        query: str,
        *,
        agency: str = "human_services",
        purpose: str = "COC",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        variables: dict[str, Any] | None = None,
    ) -> httpx.Response:
        if token is None:
            token = self.idp.case_worker_token(agency, purpose)
        sent = {"authorization": f"Bearer {token}"} if token else {}
        sent.update(headers or {})
        return self.client.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=sent,
        )

    def query(self, query: str, **options: Any) -> dict[str, Any]:
        response = self.post(query, **options)
        assert response.status_code == 200, response.text
        return response.json()


def start_gateway(data_dir: Path, supergraph: str, **overrides: Any) -> Gateway:
    idp = DemoIdentityProvider(data_dir)
    path = data_dir / "supergraph.graphql"
    path.write_text(supergraph, encoding="utf-8")
    settings = Settings(
        data_dir=data_dir,
        supergraph=path,
        issuers=idp.issuers(),
        log_origin=ORIGIN,
        **overrides,
    )
    server = ServerThread(create_app(settings), lifespan="on").start()
    return Gateway(server, httpx.Client(timeout=30), idp, settings)


def gateway_claims(call: Call, agency: str, public_key: Any):
    """The call's verified claims as the agency's middleware sees them (a shared token's
    request id taken from the call's header)."""
    token = (call.authorization or "").removeprefix("Bearer ")
    claims = verify_gateway_token(token, [public_key], agency)
    if claims.shared:
        claims = dataclasses.replace(claims, request_id=call.request_id or "*")
    return claims


def stop(gateway: Gateway) -> None:
    gateway.client.close()
    gateway.server.stop()


def iter_governed(entries: list[tuple[int, dict[str, Any]]], type_: str) -> Iterator[dict]:
    for _, entry in entries:
        if entry["type"] == type_:
            yield entry["body"]
