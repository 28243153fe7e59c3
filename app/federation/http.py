"""A small HTTP/1.1 client for subgraph requests: pooled keep-alive connections on asyncio.

Subgraph calls are JSON POSTs to a handful of origins, so a general-purpose client's per-call
overhead dominates. This client keeps idle connections per origin, writes one request, reads
``Content-Length`` or chunked bodies, and retries once when a reused connection turns out to
have been closed by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Answers a subgraph request in process: (body, headers) -> (status, response body).
LocalHandler = Callable[[bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]


class SubgraphHTTPError(Exception):
    """The subgraph could not be reached or answered with something that is not HTTP."""


@dataclass(frozen=True)
class Origin:
    host: str
    port: int
    path: str
    host_header: str
    tls: bool


def parse_url(url: str) -> Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"subgraph URL must be http(s)://host[:port]/path, not {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Origin(parts.hostname, port, path, parts.netloc, tls)


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# Idle connections kept per origin. A connection given back beyond this is closed, so a load
# whose calls to one origin overlap more than this opens and closes a connection for each
# call over it, costing both ends a connect, an accept and a close. At 128 concurrent
# enforcing requests (each calling three agencies at once) 64 was too few: the gateway left
# about 770 connections a second in TIME-WAIT. An idle connection is a file descriptor and
# a few kB; a pool holds no more of them than its origin's peak of overlapping calls.
MAX_IDLE_PER_ORIGIN = 256


class HTTPClient:
    """Keep-alive connection pool; ``post`` returns (status, body bytes)."""

    def __init__(
        self, timeout: float = 10.0, max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN
    ) -> None:
        self.timeout = timeout
        self.max_idle = max_idle_per_origin
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._origins: dict[str, Origin] = {}
        self._local: dict[str, LocalHandler] = {}
        self._closed = False

    def mount(self, url: str, handler: LocalHandler) -> None:
        """Serve requests to ``url`` in process instead of over the network (the gateway's own
        API subgraph at ``local://accord``)."""
        self._local[url] = handler

    def serves_locally(self, url: str) -> bool:
        """Whether ``url`` is answered in process (nothing to probe on the network)."""
        return url in self._local

    def origin(self, url: str) -> Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = self._origins[url] = parse_url(url)
        return origin

    async def post(
        self, url: str, body: bytes, headers: dict[str, str] | None = None, timeout=None
    ) -> tuple[int, bytes]:
        local = self._local.get(url)
        if local is not None:
            return await local(body, headers or {})
        origin = self.origin(url)
        head = (
            f"POST {origin.path} HTTP/1.1\r\nHost: {origin.host_header}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        )
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        request = head.encode("latin-1") + b"\r\n" + body
        try:
            # A timeout scope, not wait_for: on Python 3.11 wait_for runs the call as a task
            # of its own, one more task for every subgraph call.
            async with asyncio.timeout(timeout or self.timeout):
                return await self._send(origin, request)
        except TimeoutError:
            raise SubgraphHTTPError(f"no answer within {timeout or self.timeout:g}s") from None

    async def _send(self, origin: Origin, request: bytes) -> tuple[int, bytes]:
        pool_key = (origin.host, origin.port, origin.tls)
        idle = self._idle.setdefault(pool_key, [])
        while idle:
            connection = idle.pop()
            try:
                return await self._exchange(connection, pool_key, request)
            except (ConnectionError, asyncio.IncompleteReadError, _Stale):
                connection.close()
        try:
            reader, writer = await asyncio.open_connection(
                origin.host, origin.port, ssl=True if origin.tls else None
            )
        except OSError as exc:
            raise SubgraphHTTPError(
                f"cannot connect to {origin.host}:{origin.port}: {exc}"
            ) from None
        try:
            return await self._exchange(_Connection(reader, writer), pool_key, request)
        except (ConnectionError, asyncio.IncompleteReadError, _Stale) as exc:
            raise SubgraphHTTPError(
                f"connection to {origin.host}:{origin.port} failed: {exc}"
            ) from None

    async def _exchange(self, connection: _Connection, pool_key, request: bytes):
        try:
            return await self._exchange_on(connection, pool_key, request)
        except BaseException:
            # Timed out, cancelled or broken mid-exchange: the connection cannot be reused.
            connection.close()
            raise

    async def _exchange_on(self, connection: _Connection, pool_key, request: bytes):
        reader = connection.reader
        connection.writer.write(request)
        status_line = await reader.readline()
        if not status_line:
            raise _Stale("connection closed")
        try:
            status = int(status_line.split(b" ", 2)[1])
        except (IndexError, ValueError):
            connection.close()
            raise SubgraphHTTPError(f"not an HTTP response: {status_line[:80]!r}") from None
        length = -1
        chunked = False
        keep_alive = not status_line.startswith(b"HTTP/1.0")
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection":
                keep_alive = value.strip().lower() == b"keep-alive" or (
                    keep_alive and value.strip().lower() != b"close"
                )
        if chunked:
            body = bytearray()
            while True:
                size_line = await reader.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            data = bytes(body)
        elif length >= 0:
            data = await reader.readexactly(length)
        else:
            data = await reader.read()
            keep_alive = False
        if keep_alive and not self._closed:
            idle = self._idle.setdefault(pool_key, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        return status, data

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


class _Stale(Exception):
    pass
