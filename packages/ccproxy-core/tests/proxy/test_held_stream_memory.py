"""An open stream does not hold its request body, and a large body reaches the upstream whole.

Conversations reach megabytes and an answer can stream for minutes: what a stream keeps while
it is open is multiplied by every stream at once. Real uvicorn on 127.0.0.1 and a raw-socket
upstream that reads the body and drops it, so the test process's Python allocations while the
stream is held are the proxy's (``tracemalloc``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from provider_kit import ListTokenSource, provider, raw_upstream

from ccproxy.config import Settings
from ccproxy.testing import LiveServer, started_app

HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY_BYTES = 4 * 1024 * 1024
FIRST_EVENT = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
)


@dataclass
class DroppingUpstream:
    """Reads each request's body in small reads and keeps only its size, then starts an event
    stream and holds it open until ``release``."""

    heads: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    answering: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            size = 0
            while size < length:
                piece = await reader.read(min(65536, length - size))
                if not piece:
                    return
                size += len(piece)
            self.sizes.append(size)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(FIRST_EVENT), FIRST_EVENT)
            )
            await writer.drain()
            self.answering.set()
            await self.release.wait()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def proxy_in_front_of(
    upstream: DroppingUpstream,
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The Messages URL of a proxy on real uvicorn in front of ``upstream``, and a client."""
    settings = Settings(plugins_disable_local_discovery=True)
    async with raw_upstream(upstream.serve) as upstream_url:
        entry = provider(base_url=upstream_url, token_source=ListTokenSource("tok"))
        try:
            async with (
                started_app(settings, entry_points=[entry]) as app,
                LiveServer(app) as proxy,
                httpx.AsyncClient(timeout=30) as client,
            ):
                yield f"{proxy.url}/testprov/v1/messages", client
        finally:
            upstream.release.set()  # a stream still held ends, so the upstream can close


def large_message() -> bytes:
    text = "x" * BODY_BYTES
    message = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps(message).encode()


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("traced")
async def test_an_open_stream_holds_nothing_of_its_request_body() -> None:
    upstream = DroppingUpstream()
    content = large_message()
    async with proxy_in_front_of(upstream) as (url, client):
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        # The client's copy of the body is ``content`` itself, allocated before ``before``.
        async with client.stream("POST", url, content=content, headers=HEADERS) as response:
            assert response.status_code == 200
            chunks = response.aiter_raw()
            first = await asyncio.wait_for(chunks.__anext__(), 10)
            assert first.startswith(b"event: message_start")
            await asyncio.wait_for(upstream.answering.wait(), 10)
            gc.collect()
            held, peak = tracemalloc.get_traced_memory()
            upstream.release.set()
            async for _ in chunks:
                pass

    [size] = upstream.sizes
    assert size > BODY_BYTES
    # The body passed through the proxy (several copies of it at the peak)...
    assert peak - before > 2 * BODY_BYTES
    # ...and none is left while the answer streams (Starlette's cached body was one whole copy).
    assert held - before < BODY_BYTES // 4


async def test_a_large_body_reaches_the_upstream_whole_with_its_length() -> None:
    upstream = DroppingUpstream()
    upstream.release.set()
    content = large_message()
    async with proxy_in_front_of(upstream) as (url, client):
        response = await client.post(url, content=content, headers=HEADERS)

    assert response.status_code == 200
    [head] = upstream.heads
    assert b"transfer-encoding" not in head.lower()
    # The whole body, as long as its Content-Length says (the profile edits it on the way).
    [size] = upstream.sizes
    assert size > BODY_BYTES
    assert b"content-length: %d\r\n" % size in head.lower()
