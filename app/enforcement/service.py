"""The enforcing gateway's request path around the federation engine.

Authenticate, run the operation with the guard deciding before each subject's entity fetch,
append the request's ledger entries in one group-committed batch, and only then release the
response, with the receipt in ``extensions.accord``. If the entries cannot be made durable,
every governed value is withheld (``LEDGER_UNAVAILABLE`` at its path) and ``/readyz`` says so
until an append succeeds again.

The ledger is written by a process of its own (``ledger.process``): the gateway's event loop
only hands it each request's entries and reads the receipts back, so committing, the consent
registry's and the history index's hooks and the checkpoint signature cost this process no
CPU. This process keeps its own copy of the consent registry for decisions, brought up to date
before each request's first decision from what the log has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.enforcement import context
from app.enforcement.context import (
    COURT_ORDER_HEADER,
    JUSTIFICATION_HEADER,
    RequestContext,
    court_order,
    user_hash,
)
from app.enforcement.governed import GovernedFields
from app.enforcement.guard import Guard
from app.enforcement.metrics import Metrics
from app.enforcement.recorder import request_entries
from app.enforcement.tokens import TokenSigner
from app.enforcement.unasked import UnaskedFieldFilter
from app.federation.errors import RequestError
from app.federation.gateway import Gateway
from app.federation.http import parse_url
from app.federation.planner import Options
from app.identity import PURPOSE_HEADER, Authenticator, Principal, ensure_gateway_key
from app.settings import Settings
from ledger import keys, store
from ledger.decisions import DecisionEngine
from ledger.entries import now_ms
from ledger.process import LedgerProcess, consent_registry
from ledger.registry import FOLDED_TYPES, Registry

log = logging.getLogger("accord.enforcement")

MAX_JUSTIFICATION = 1000
# Whether entries in [start, end) include one the registry folds (a consent, a contract, a
# member change); ``{}`` is the driver's placeholder. Most batches are disclosures only.
FOLDED_QUERY = (
    f"SELECT 1 FROM {store.entries_table.name} WHERE idx >= {{0}} AND idx < {{0}} AND type IN ("
    + ", ".join(f"'{t}'" for t in FOLDED_TYPES)
    + ") LIMIT 1"
)


@dataclass
class Enforcement:
    """Everything the enforcing request path needs, opened together and closed together."""

    settings: Settings
    authenticator: Authenticator
    ledger: LedgerProcess
    registry: Registry
    engine: DecisionEngine
    guard: Guard
    metrics: Metrics
    reader: Any  # the engine reading the registry's catch-up
    _lock: threading.Lock  # held while the registry's state changes or is decided on
    ledger_ok: bool = True
    ledger_problem: str | None = None  # why the last append failed, for /readyz
    _head: Any = None  # a DBAPI connection for the head-size check
    _autocommit: bool = False
    _folded_query: str = ""
    # The event loop's thread while the registry's check made in this turn of the loop stands
    # (only that thread may rely on it), else None.
    _checked_on: int | None = None
    _id_prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:22])
    _requests: int = 0

    # -- wiring --------------------------------------------------------------------------

    def attach(self, gateway: Gateway, key_signer: TokenSigner) -> None:
        """Make ``gateway`` plan key-first and run the guard, token signer and unasked-field
        filter on its fetches."""
        gateway.options = Options(
            entity_only=gateway.options.entity_only | self.guard.governed.entity_only
        )
        gateway._plans.clear()
        gateway.executor.entity_hook = self.guard
        gateway.executor.entity_preview = self.guard.preview
        gateway.executor.call_headers = key_signer
        gateway.executor.check_result = UnaskedFieldFilter(self.metrics)

    def sync_registry(self) -> None:
        """Fold consents and contracts other processes committed since the last request, so a
        revocation committed anywhere before a request reached the gateway changes its
        decisions. The check is one primary-key read on a connection kept open for it. When the
        log grew, a range read over the new entries says whether any is of a type the registry
        folds; only then are they folded (most batches are disclosures, which no decision
        depends on).

        One check serves every request that decides in the same turn of the event loop: each
        of them was read from its socket at or before the poll that began the turn, so after
        anything a client saw committed before sending it, and the check, made during the turn,
        saw that commit too. The next turn checks again. A call from any other thread checks."""
        thread = threading.get_ident()
        if self._checked_on == thread:
            return
        self._check_registry()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to say when the turn ends: check every time
            return
        self._checked_on = thread
        loop.call_soon(self._stale)

    def _stale(self) -> None:
        # Scheduled during the turn that checked, so it runs in the next turn before the
        # callbacks of anything that turn's poll read.
        self._checked_on = None

    def _check_registry(self) -> None:
        if self._head is None:
            self._head = self.reader.raw_connection()
            self._folded_query = FOLDED_QUERY.format(
                store.placeholder(self.reader.dialect.paramstyle)
            )
        folded = self.registry.state.index
        try:
            cursor = self._head.cursor()
            cursor.execute(store.HEAD_QUERY)
            row = cursor.fetchone()
            relevant = True
            if row is not None and folded < row[0]:
                cursor.execute(self._folded_query, (folded, row[0]))
                relevant = cursor.fetchone() is not None
            cursor.close()
            if not self._autocommit:
                self._head.rollback()  # end the read so the next one sees new commits
        except Exception:
            with contextlib.suppress(Exception):
                self._head.close()
            self._head = None
            raise
        if row is None or folded >= row[0]:
            return
        if not relevant:  # disclosures only: nothing a decision depends on changed
            with self._lock:
                self.registry.skip(folded, row[0])
            return
        with self._lock, self.reader.connect() as connection:
            if self.registry.state.index < store.head_size(connection):
                self.registry.sync(connection)
        request = context.current.get()
        if request is not None:  # an admission folded just now changes what the caller is
            request.requester_kind = self.registry.state.agency_kind(request.principal.agency)

    # -- the request path ----------------------------------------------------------------

    def _request_id(self) -> str:
        """Unique per gateway process and unguessable across processes: a random prefix drawn
        once, then a counter (a fresh UUID per request costs a system call)."""
        self._requests += 1
        return f"{self._id_prefix}{self._requests:010x}"

    async def authenticate(self, headers: Any) -> Principal:
        """The caller, with the purpose this request acts under; raises IdentityError.

        A purpose of use is required only of a request that reaches an agency (see
        :meth:`execute`): reading Accord's own API (disclosure history, consents, the ledger)
        discloses nothing an agency holds."""
        return await self.authenticator.authenticate(
            headers.get("authorization"), headers.get(PURPOSE_HEADER)
        )

    def context(self, principal: Principal, query: str, headers: Any) -> RequestContext:
        justification = (headers.get(JUSTIFICATION_HEADER) or "").strip()[:MAX_JUSTIFICATION]
        try:
            order = court_order(headers.get(COURT_ORDER_HEADER))
        except ValueError as exc:
            raise RequestError(str(exc), "BAD_REQUEST", 400) from None
        return RequestContext(
            principal=principal,
            request_id=self._request_id(),
            query_hash=_query_hash(query),
            user=user_hash(principal.agency, principal.user),
            requester_kind=self.registry.state.agency_kind(principal.agency),
            justification=justification or None,
            court_order=order,
            decided_at=now_ms(),
        )

    async def execute(
        self,
        gateway: Gateway,
        principal: Principal,
        params: dict[str, Any],
        headers: Any,
        allowed_operations: tuple[str, ...],
    ) -> dict[str, Any]:
        query = params["query"]
        ctx = self.context(principal, query, headers)
        with contextlib.suppress(Exception):  # a bad request fails again in execute, clearly
            ctx.fetches = tuple(
                gateway.plan(query, params.get("operationName"), params.get("variables")).fetches
            )
        if any(not gateway.client.serves_locally(fetch.url) for fetch in ctx.fetches):
            principal.require_purpose()
        token = context.current.set(ctx)
        receipt: dict[str, Any] = {"requestId": ctx.request_id, "entries": []}

        async def record(data: dict[str, Any], errors: list[dict[str, Any]]) -> None:
            await self.record(ctx, receipt, data, errors)

        try:
            result = await gateway.execute(
                query,
                params.get("operationName"),
                params.get("variables"),
                allowed_operations=allowed_operations,
                before_release=record,
            )
        finally:
            context.current.reset(token)
        self.metrics.requests += 1
        if ctx.obligations and receipt["entries"]:
            receipt["obligations"] = [
                {"obligation": text, "paths": paths} for text, paths in ctx.obligations.items()
            ]
        if self.settings.dry_run:
            receipt["dryRun"] = True
        result.setdefault("extensions", {})["accord"] = receipt
        return result

    async def record(
        self,
        ctx: RequestContext,
        receipt: dict[str, Any],
        data: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> None:
        """Append the request's entries before anything is released; if they cannot be made
        durable, null every governed value in ``data`` with an error at its path."""
        entries = request_entries(ctx)
        if not self.settings.dry_run:
            self.metrics.fields_withheld += sum(len(r.fields) for r in ctx.refused.values())
        if not entries:
            return
        try:
            receipts = await self.ledger.append_all(entries)
        except Exception as exc:  # whatever the cause, nothing governed is released
            log.error("request %s: ledger append failed: %s", ctx.request_id, exc)
            self.ledger_ok = False
            self.ledger_problem = str(exc)[:300] or type(exc).__name__
            self.metrics.ledger_failures += 1
            ctx.obligations.clear()
            _withhold_governed(ctx, data, errors)
            return
        self.ledger_ok = True
        self.ledger_problem = None
        self.metrics.entries_appended += len(receipts)
        receipt["entries"] = [r.index for r in receipts]
        receipt["checkpoint"] = receipts[-1].checkpoint

    # -- health --------------------------------------------------------------------------

    async def readiness(self, gateway: Gateway) -> dict[str, Any]:
        subgraphs = await _reachable(
            [g.url for g in gateway.supergraph.graphs.values()],
            timeout=min(2.0, self.settings.subgraph_timeout_seconds),
        )
        healthy = await self.ledger.healthy()  # the last batch committed, the store answers
        ledger: dict[str, Any] = {"writable": healthy and self.ledger_ok, "size": self.ledger.size}
        if not ledger["writable"]:
            ledger["reason"] = (
                self.ledger.last_error or self.ledger_problem or "the ledger store does not answer"
            )
        ready = ledger["writable"] and all(subgraphs.values())
        return {"ready": ready, "ledger": ledger, "subgraphs": subgraphs}

    def render_metrics(self) -> str:
        return self.metrics.render(
            {
                "ledger_size": self.ledger.size,
                "ledger_writable": 1 if self.ledger.writable and self.ledger_ok else 0,
                "decision_memo_hits": self.engine.memo_hits + self.guard.memo_hits,
                "decision_cedar_calls": self.engine.cedar_calls,
            }
        )


@functools.lru_cache(maxsize=4096)
def _query_hash(query: str) -> str:
    """The query's digest for the ledger; a client repeats its queries, so they are kept."""
    return hashlib.sha256(query.encode()).hexdigest()


def _withhold_governed(
    ctx: RequestContext, data: dict[str, Any], errors: list[dict[str, Any]]
) -> None:
    """Null every governed value the request would have released, with an error at its path."""
    seen: set[tuple] = set()
    for record in ctx.disclosed.values():
        for path in record.value_paths():
            marker = tuple(path)
            if marker in seen:
                continue
            seen.add(marker)
            _null_at(data, path)
            errors.append(
                {
                    "message": "governed data withheld: the disclosure could not be recorded",
                    "path": path,
                    "extensions": {"code": "LEDGER_UNAVAILABLE"},
                }
            )


def _null_at(data: Any, path: list[Any]) -> None:
    node = data
    for step in path[:-1]:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return
    last = path[-1] if path else None
    if isinstance(node, dict) and last in node:
        node[last] = None


async def _reachable(urls: list[str], timeout: float) -> dict[str, bool]:
    async def probe(url: str) -> bool:
        if not url.startswith(("http://", "https://")):
            return True  # served in process (the gateway's own API at local://accord)
        try:
            origin = parse_url(url)
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(origin.host, origin.port), timeout
            )
        except (OSError, TimeoutError, ValueError):
            return False
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True

    results = await asyncio.gather(*(probe(u) for u in urls))
    return dict(zip(urls, results, strict=True))


def ledger_process(settings: Settings) -> LedgerProcess:
    """The log's own process for ``settings``, not yet started. It runs the consent registry's
    hook (its index tables commit with the log); the gateway's process folds what was
    committed before each request decides (:meth:`Enforcement.sync_registry`)."""
    return LedgerProcess(
        settings.ledger_dsn,
        keys.load_or_create(settings.data_dir / "keys", "log", settings.log_origin),
        settings.log_origin,
        [keys.parse_verifier(w.key) for w in settings.witnesses],
        [consent_registry(settings.contract_approvals_required)],
    )


@contextlib.asynccontextmanager
async def open_enforcement(
    settings: Settings, gateway: Gateway, ledger: LedgerProcess
) -> AsyncIterator[Enforcement]:
    """Open the registry and decision engine for ``settings`` over ``ledger`` (started here if
    it is not yet; its owner closes it) and attach the guard to ``gateway``."""
    authenticator = Authenticator.from_settings(settings)
    governed = GovernedFields.from_supergraph(gateway.supergraph)
    registry = Registry(settings.contract_approvals_required)
    metrics = Metrics()
    reader = store.make_engine(settings.ledger_dsn)
    lock = threading.Lock()  # the registry's state: folded by sync_registry, read by decisions
    enforcement: Enforcement | None = None

    try:
        await ledger.start()
        engine = DecisionEngine(registry.state)
        guard = Guard(
            governed,
            engine,
            ledger.secrets.pseudonym,
            dry_run=settings.dry_run,
            metrics=metrics,
        )
        enforcement = Enforcement(
            settings, authenticator, ledger, registry, engine, guard, metrics, reader, lock
        )

        def load() -> None:
            with enforcement._lock, reader.connect() as connection, connection.begin():
                registry.load(connection)

        await asyncio.to_thread(load)
        enforcement._autocommit = reader.dialect.name == "sqlite"
        guard.before_decide = enforcement.sync_registry
        guard.state_lock = enforcement._lock
        gateway_key, _ = ensure_gateway_key(settings.data_dir)
        enforcement.attach(gateway, TokenSigner(gateway_key, governed))
        yield enforcement
    finally:
        head = enforcement._head if enforcement is not None else None
        if head is not None:
            with contextlib.suppress(Exception):
                head.close()
        reader.dispose()
