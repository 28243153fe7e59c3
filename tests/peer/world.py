"""A real log on 127.0.0.1 for peers to follow: the ledger's own store and writer, served by
the gateway's ledger read path under uvicorn in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app import peer
from app.ledger_http import LedgerReadPath, ledger_routes
from ledger import keys
from ledger.entries import Entry
from ledger.log import Ledger, open_ledger
from tests.ledger import samples
from tests.support import free_port

ORIGIN = "accord.test/peer-log"


@dataclass
class Log:
    """A running log: its base URL, the open ledger and the requests it answered."""

    url: str
    ledger: Ledger
    db: Path
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, query)

    def requests(self, path: str, method: str = "GET") -> list[str]:
        return [q for m, p, q in self.seen if p == path and m == method]

    def edit_row(self, index: int, old: bytes, new: bytes) -> None:
        """Rewrite a stored entry behind the log's back, as someone with database access would."""
        with contextlib.closing(sqlite3.connect(self.db)) as connection:
            (data,) = connection.execute(
                "SELECT data FROM ledger_entries WHERE idx = ?", (index,)
            ).fetchone()
            assert old in data
            connection.execute(
                "UPDATE ledger_entries SET data = ? WHERE idx = ?",
                (bytes(data).replace(old, new), index),
            )
            connection.commit()

    def replace_checkpoint(self, size: int, note: str) -> None:
        with contextlib.closing(sqlite3.connect(self.db)) as connection:
            connection.execute(
                "UPDATE ledger_checkpoints SET note = ? WHERE size = ?", (note, size)
            )
            connection.commit()


def _recording(app: Any, seen: list[tuple[str, str, str]]) -> Any:
    async def asgi(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["method"], scope["path"], scope["query_string"].decode()))
        await app(scope, receive, send)

    return asgi


@contextlib.asynccontextmanager
async def serve_log(
    db: Path, signer: keys.Signer, witnesses: Sequence[keys.Verifier] = ()
) -> AsyncIterator[Log]:
    """Open the log at ``db`` and serve its read path until the block ends."""
    url = f"sqlite:///{db}"
    async with open_ledger(url, signer, ORIGIN, witnesses=witnesses) as ledger:
        read_path = LedgerReadPath(url, lambda: ledger)
        seen: list[tuple[str, str, str]] = []
        app = _recording(Starlette(routes=ledger_routes(lambda: read_path)), seen)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            yield Log(f"http://127.0.0.1:{port}", ledger, db, seen)
        finally:
            server.should_exit = True
            await task
            read_path.close()


def entries(start: int, count: int, subject: str = "ab" * 32) -> list[Entry]:
    return [samples.disclosure(number, subject) for number in range(start, start + count)]


def members(count: int = 2) -> tuple[list[Entry], dict[str, keys.Signer]]:
    """Admissions and a consent per member: entries whose author signatures the peer checks."""
    signers = {f"agency{i}": keys.generate(f"agency{i}") for i in range(count)}
    out = [samples.admission(name, signer) for name, signer in signers.items()]
    out += [samples.consent(name, signer, i) for i, (name, signer) in enumerate(signers.items())]
    return out, signers


def witness(name: str) -> keys.Signer:
    return keys.generate(name, keys.ALG_COSIGNATURE_V1)


def config(
    tmp: Path, log: Log, log_key: keys.Verifier, witness_key: keys.Signer, name: str = "peer"
) -> peer.PeerConfig:
    state = tmp / name
    return peer.PeerConfig(
        log_url=log.url,
        origin=ORIGIN,
        log_key=log_key,
        witness=witness_key,
        store_url=f"sqlite:///{state / 'ledger.db'}",
        state_dir=state,
    )


async def follow(cfg: peer.PeerConfig) -> peer.Outcome:
    """One round with a freshly opened copy and client (as a restarted peer would)."""
    import httpx

    async with peer.open_copy(cfg) as copy, httpx.AsyncClient(timeout=30) as http:
        return await peer.follow_once(cfg, peer.LogClient(cfg.log_url, http), copy)
