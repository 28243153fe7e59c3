"""The pooled HTTP/1.1 subgraph client against raw asyncio servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from app.federation.http import HTTPClient, SubgraphHTTPError, parse_url
from tests.support import free_port

pytestmark = pytest.mark.anyio


class RawServer:
    """Answers each request with ``reply(body)``; counts connections; closes when told to."""

    def __init__(self, chunked=False, close_after=False, delay=0.0):
        self.chunked = chunked
        self.close_after = close_after
        self.delay = delay
        self.connections = 0
        self.bodies: list[bytes] = []

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.bodies.append(body)
                if self.delay:
                    await asyncio.sleep(self.delay)
                answer = b'{"data":{"echo":' + body + b"}}"
                if self.chunked:
                    half = len(answer) // 2
                    payload = b"".join(
                        b"%x\r\n%s\r\n" % (len(part), part)
                        for part in (answer[:half], answer[half:])
                    )
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + payload
                        + b"0\r\n\r\n"
                    )
                else:
                    close = b"Connection: close\r\n" if self.close_after else b""
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(answer), close)
                        + answer
                    )
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.port = free_port()
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/graphql"


async def test_keep_alive_connections_are_reused():
    async with RawServer() as server:
        client = HTTPClient()
        for n in range(5):
            status, body = await client.post(server.url, b"%d" % n)
            assert (status, body) == (200, b'{"data":{"echo":%d}}' % n)
        await client.aclose()
    assert server.connections == 1


async def test_concurrent_requests_open_parallel_connections_then_pool_them():
    async with RawServer(delay=0.05) as server:
        client = HTTPClient()
        results = await asyncio.gather(*(client.post(server.url, b"1") for _ in range(4)))
        assert all(r == (200, b'{"data":{"echo":1}}') for r in results)
        await client.post(server.url, b"2")
        await client.aclose()
    assert server.connections == 4


async def test_a_burst_of_overlapping_calls_keeps_its_connections_for_the_next():
    # 128 overlapping calls to one agency (128 concurrent requests, each calling it once): a
    # second burst reuses every connection the first opened instead of reconnecting.
    async with RawServer(delay=0.05) as server:
        client = HTTPClient()
        for _ in range(2):
            results = await asyncio.gather(*(client.post(server.url, b"1") for _ in range(128)))
            assert all(r == (200, b'{"data":{"echo":1}}') for r in results)
        await client.aclose()
    assert server.connections == 128


async def test_chunked_responses_are_read():
    async with RawServer(chunked=True) as server:
        client = HTTPClient()
        assert await client.post(server.url, b"[1,2,3]") == (200, b'{"data":{"echo":[1,2,3]}}')
        assert await client.post(server.url, b"4") == (200, b'{"data":{"echo":4}}')
        await client.aclose()
    assert server.connections == 1


async def test_connection_close_is_honoured():
    async with RawServer(close_after=True) as server:
        client = HTTPClient()
        for _ in range(3):
            assert (await client.post(server.url, b"1"))[0] == 200
        await client.aclose()
    assert server.connections == 3


async def test_unreachable_and_slow_subgraphs_raise_clear_errors():
    client = HTTPClient(timeout=0.2)
    with pytest.raises(SubgraphHTTPError, match="cannot connect"):
        await client.post(f"http://127.0.0.1:{free_port()}/graphql", b"{}")
    async with RawServer(delay=1.0) as server:
        with pytest.raises(SubgraphHTTPError, match="no answer within 0.2s"):
            await client.post(server.url, b"{}")
    await client.aclose()


def test_urls_are_checked():
    assert parse_url("http://127.0.0.1:4001/a/graphql?x=1").path == "/a/graphql?x=1"
    with pytest.raises(ValueError, match="must be http"):
        parse_url("ftp://example/graphql")
