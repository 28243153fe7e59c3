"""The ledger's plain HTTP read path, for peers, witnesses and standard log clients.

``/ledger/checkpoint`` (the latest signed note with its cosignatures), ``/ledger/entries``
(canonical entries as newline-delimited JSON, the exact bytes that are hashed),
``/ledger/proof/inclusion`` and ``/ledger/proof/consistency`` (RFC 9162 proofs, base64
hashes), ``/ledger/key`` (the log's verifier key), ``POST /ledger/cosign`` (a witness hands
back its cosignature), and the C2SP ``tlog-tiles`` layout: ``/ledger/tile/<L>/<N>[.p/<W>]``
are the stored tiles as they are, and ``/ledger/tile/entries/<N>[.p/<W>]`` bundles of 256
entries, each prefixed by its 16-bit big-endian length. Full tiles and bundles never change,
so they are served as immutable.

Everything here only reads the store (the cosign endpoint writes through the log) and needs no
credentials: entries carry pseudonyms, categories and agency names, never personal data, and
every partner agency holds a copy of the log anyway.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger import checkpoint as notes
from ledger import merkle, store, view

TILE_WIDTH = store.TILE_WIDTH
HASH_SIZE = merkle.HASH_SIZE
MAX_ENTRIES = 1000
MAX_NOTE = 64_000
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
NO_CACHE = {"Cache-Control": "no-cache"}

_ELEMENT = re.compile(r"^x\d{3}$")
_LAST = re.compile(r"^\d{3}$")


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def tile_index_path(index: int) -> str:
    """A tile index as C2SP path elements: 1234067 -> ``x001/x234/067``."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(rest: str) -> tuple[str, int, int | None]:
    """``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` -> (level or "entries", N, W or None).

    Only the canonical spelling is accepted, so each tile has exactly one URL.
    """
    parts = rest.split("/")
    if len(parts) < 2:
        raise BadRequest("not a tile path", 404)
    level, elements = parts[0], parts[1:]
    width = None
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        raw = elements[-1]
        if not raw.isdigit() or str(int(raw)) != raw or not 1 <= int(raw) < TILE_WIDTH:
            raise BadRequest(f"partial tile width must be 1 to {TILE_WIDTH - 1}", 404)
        width = int(raw)
        elements = [*elements[:-2], elements[-2][:-2]]
    if (
        not elements
        or not _LAST.match(elements[-1])
        or not all(_ELEMENT.match(e) for e in elements[:-1])
    ):
        raise BadRequest("tile index is not in the x001/x234/067 form", 404)
    index = int("".join(e.lstrip("x") for e in elements))
    if tile_index_path(index) != "/".join(elements):
        raise BadRequest("tile index is not written canonically", 404)
    if level != "entries" and (not level.isdigit() or str(int(level)) != level or int(level) > 63):
        raise BadRequest("tile level must be 0 to 63", 404)
    return level, index, width


def _int_param(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"the {name!r} parameter is required")
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name!r} must be a non-negative integer, not {raw[:20]!r}")
    return int(raw)


class LedgerReadPath:
    """Read-only access to the store at ``url``; ``ledger`` (the open log, when there is one)
    takes cosignatures."""

    def __init__(self, url: str, ledger: Callable[[], Any] = lambda: None) -> None:
        self.url = url
        self.ledger = ledger
        self.cache = store.TileCache()
        self._engine: Engine | None = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def _read(self, function: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            if self._engine is None:
                self._engine = store.make_engine(self.url)
            with self._engine.connect() as connection, connection.begin():
                store.check_schema(connection)
                return function(connection)

        return await asyncio.to_thread(run)

    # -- endpoints -----------------------------------------------------------------------

    async def key(self, request: Request) -> Response:
        """The log's verifier key (C2SP signed-note form), to check checkpoint signatures.

        A client that already trusts a key (from the operator, or a witness) should compare
        it with this one rather than take it from here."""
        ledger = self.ledger()
        if ledger is None:
            raise BadRequest("this gateway has no open ledger", 503)
        return Response(
            ledger.signer.verifier.encode() + "\n", 200, media_type="text/plain; charset=utf-8"
        )

    async def checkpoint(self, request: Request) -> Response:
        _, note = await self._read(view.latest_checkpoint)
        return Response(note, 200, media_type="text/plain; charset=utf-8", headers=NO_CACHE)

    async def entries(self, request: Request) -> Response:
        start = _int_param(request, "start", 0)

        def run(connection: Connection) -> list[bytes]:
            size = store.head_size(connection)
            end = _int_param(request, "end", min(size, start + MAX_ENTRIES))
            if start > end:
                raise BadRequest(f"start {start} is after end {end}")
            if end > size:
                raise BadRequest(f"end {end} is beyond the log's size {size}")
            if end - start > MAX_ENTRIES:
                raise BadRequest(f"at most {MAX_ENTRIES} entries per request")
            return view.entry_bytes(connection, start, end)

        data = await self._read(run)
        body = b"".join(item + b"\n" for item in data)
        return Response(body, 200, media_type="application/x-ndjson")

    async def inclusion(self, request: Request) -> Response:
        index = _int_param(request, "index")

        def run(connection: Connection) -> dict[str, Any]:
            committed = store.head_size(connection)
            size = _int_param(request, "size", committed)
            if size > committed:
                raise BadRequest(f"tree size {size} is beyond the log's size {committed}")
            if index >= size:
                raise BadRequest(f"entry {index} is not in a tree of size {size}")
            proof = view.prove(
                connection, size, lambda r: merkle.inclusion_proof(r, index, size), self.cache
            )
            (data,) = view.entry_bytes(connection, index, index + 1)
            return {
                "index": index,
                "tree_size": size,
                "leaf_hash": _b64(merkle.leaf_hash(data)),
                "hashes": [_b64(h) for h in proof],
                "checkpoint": view.checkpoint_at(connection, size, cosigned=True)
                if _has_checkpoint(connection, size)
                else None,
            }

        return _json(await self._read(run))

    async def consistency(self, request: Request) -> Response:
        old = _int_param(request, "from")

        def run(connection: Connection) -> dict[str, Any]:
            committed = store.head_size(connection)
            new = _int_param(request, "to", committed)
            if new > committed:
                raise BadRequest(f"tree size {new} is beyond the log's size {committed}")
            if old > new:
                raise BadRequest(f"no consistency proof from size {old} to the smaller {new}")
            proof = view.prove(
                connection, new, lambda r: merkle.consistency_proof(r, old, new), self.cache
            )
            return {"from": old, "to": new, "hashes": [_b64(h) for h in proof]}

        return _json(await self._read(run))

    async def cosign(self, request: Request) -> Response:
        ledger = self.ledger()
        if ledger is None:
            raise BadRequest("this gateway does not take cosignatures (no open ledger)", 503)
        body = await request.body()
        if len(body) > MAX_NOTE:
            raise BadRequest("cosigned note is too large", 413)
        try:
            note = body.decode("utf-8")
            accepted = await ledger.add_cosignature(note)
        except UnicodeDecodeError:
            raise BadRequest("the note must be UTF-8 text") from None
        except (notes.CheckpointError, ValueError) as exc:
            raise BadRequest(str(exc)) from None
        return _json({"accepted": accepted})

    async def tile(self, request: Request) -> Response:
        level, index, width = parse_tile_path(request.path_params["rest"])
        if level == "entries":
            return await self._bundle(index, width)
        tile_level = int(level)

        def run(connection: Connection) -> bytes:
            size = store.head_size(connection)
            available = (size >> (store.TILE_HEIGHT * tile_level)) - index * TILE_WIDTH
            wanted = width or TILE_WIDTH
            if available < wanted:
                raise BadRequest("the log has no such tile yet", 404)
            key = (tile_level, index)
            data = store.read_tiles(connection, [key]).get(key)
            if data is None or len(data) < wanted * HASH_SIZE:
                raise BadRequest("tile is missing from the store", 500)
            return data[: wanted * HASH_SIZE]

        data = await self._read(run)
        return Response(
            data, 200, media_type="application/octet-stream", headers=IMMUTABLE if not width else {}
        )

    async def _bundle(self, index: int, width: int | None) -> Response:
        def run(connection: Connection) -> bytes:
            size = store.head_size(connection)
            wanted = width or TILE_WIDTH
            start = index * TILE_WIDTH
            if size - start < wanted:
                raise BadRequest("the log has no such entry bundle yet", 404)
            table = store.entries_table
            rows = connection.execute(
                select(table.c.data)
                .where(table.c.idx >= start, table.c.idx < start + wanted)
                .order_by(table.c.idx)
            ).all()
            out = bytearray()
            for (data,) in rows:
                if len(data) > 0xFFFF:
                    raise BadRequest("an entry of this bundle is too large for the format", 500)
                out += len(data).to_bytes(2, "big") + bytes(data)
            return bytes(out)

        data = await self._read(run)
        return Response(
            data, 200, media_type="application/octet-stream", headers=IMMUTABLE if not width else {}
        )


def _has_checkpoint(connection: Connection, size: int) -> bool:
    table = store.checkpoints_table
    return connection.execute(select(table.c.size).where(table.c.size == size)).first() is not None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def ledger_routes(read_path: Callable[[], LedgerReadPath | None]) -> list[Route]:
    """Routes under ``/ledger``; ``read_path`` returns the read path once the app has one."""

    def wrap(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            path = read_path()
            if path is None:
                return _json({"error": "the ledger is not open yet"}, 503)
            try:
                return await getattr(path, name)(request)
            except BadRequest as exc:
                return _json({"error": str(exc)}, exc.status)
            except (store.StoreError, SQLAlchemyError) as exc:
                return _json({"error": f"ledger unavailable: {str(exc)[:200]}"}, 503)
            except merkle.ProofError as exc:
                return _json({"error": str(exc)}, 400)

        return endpoint

    return [
        Route("/ledger/checkpoint", wrap("checkpoint"), methods=["GET"]),
        Route("/ledger/key", wrap("key"), methods=["GET"]),
        Route("/ledger/entries", wrap("entries"), methods=["GET"]),
        Route("/ledger/proof/inclusion", wrap("inclusion"), methods=["GET"]),
        Route("/ledger/proof/consistency", wrap("consistency"), methods=["GET"]),
        Route("/ledger/cosign", wrap("cosign"), methods=["POST"]),
        Route("/ledger/tile/{rest:path}", wrap("tile"), methods=["GET"]),
    ]
