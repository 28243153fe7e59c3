"""The registry head check before a request's first decision: a commit made before a request
arrived is always seen, and one check serves every request that arrived before it began."""

from __future__ import annotations

import threading

import pytest

from app.enforcement import context
from app.enforcement.context import RequestContext
from app.enforcement.metrics import Metrics
from app.enforcement.service import Enforcement
from app.identity import Principal
from ledger import store
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.registry import Registry
from tests.consent.network import NOW, Live, consent, pseudonym

pytestmark = pytest.mark.anyio

ALICE = pseudonym("alice")


def _enforcement(url: str) -> Enforcement:
    """The parts of the enforcing path the head check uses, over the store at ``url``."""
    registry = Registry(2)
    registry.load_from(url)
    engine = DecisionEngine(registry.state)
    return Enforcement(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        registry,
        engine,
        None,  # type: ignore[arg-type]
        Metrics(),
        store.make_engine(url),
        threading.Lock(),
        _autocommit=True,
    )


def _arrive(enforcement: Enforcement) -> RequestContext:
    """A request arriving now, numbered as the gateway numbers them."""
    enforcement._request_id()
    return RequestContext(
        principal=Principal("education", "u", frozenset(), frozenset({"COC"}), "COC", None, "idp"),
        request_id=str(enforcement._requests),
        query_hash="",
        user="u",
        requester_kind="school",
        number=enforcement._requests,
    )


def _check(enforcement: Enforcement, request: RequestContext) -> None:
    token = context.current.set(request)
    try:
        enforcement.sync_registry()
    finally:
        context.current.reset(token)


def _permits(enforcement: Enforcement) -> bool:
    question = DecisionRequest(
        "education", "school", "u", (), "COC", ALICE, "human_services", "human_services.benefits"
    )
    return enforcement.engine.decide([question], at=NOW)[0].permit


async def test_one_check_serves_requests_that_arrived_before_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with Live(url) as live:
        await live.start()
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        enforcement = _enforcement(url)
        try:
            early, waiting = _arrive(enforcement), _arrive(enforcement)
            _check(enforcement, early)
            assert _permits(enforcement)

            await live.append(live.network.revoke(granted, recorder="education"))
            # ``waiting`` arrived before the check above began: that check answers for it,
            # and it decides as the ledger stood when it arrived.
            _check(enforcement, waiting)
            assert _permits(enforcement)

            # A request arriving after the revocation was committed always sees it.
            _check(enforcement, _arrive(enforcement))
            assert not _permits(enforcement)
        finally:
            if enforcement._head is not None:
                enforcement._head.close()
            enforcement.reader.dispose()


async def test_a_failed_check_answers_for_nobody(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with Live(url) as live:
        await live.start()
        granted = consent("c-1", subject=ALICE, grantees=("education",))
        await live.append(live.network.grant(granted))
        enforcement = _enforcement(url)
        try:
            first, second = _arrive(enforcement), _arrive(enforcement)
            enforcement._folded_query = "SELECT no_such_column FROM nowhere"
            enforcement._head = enforcement.reader.raw_connection()
            await live.append(live.network.revoke(granted, recorder="education"))
            with pytest.raises(Exception):  # noqa: B017 - the driver's own error
                _check(enforcement, first)
            assert enforcement._head is None  # the connection is dropped, the check not kept
            _check(enforcement, second)  # reconnects, reads the head, folds the revocation
            assert not _permits(enforcement)
        finally:
            if enforcement._head is not None:
                enforcement._head.close()
            enforcement.reader.dispose()
