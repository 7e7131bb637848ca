"""The default upstream backend: httpx's API over aiohttp, against a real loopback server."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ccproxy.config import HttpSettings
from ccproxy.http import build_http_client
from ccproxy.http_aiohttp import AiohttpTransport
from ccproxy.testing import LiveServer, free_port


def upstream(closed: asyncio.Event) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(
            body, headers={"x-seen-content-type": request.headers.get("content-type", "")}
        )

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                for i in range(3):
                    yield f"chunk-{i};".encode()
                    await asyncio.sleep(0.05)
                await asyncio.sleep(float(request.query_params.get("hang", "0")))
            finally:
                closed.set()

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def gzipped(request: Request) -> Response:
        return Response(gzip.compress(b"hello gzip"), headers={"content-encoding": "gzip"})

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
            Route("/gzip", gzipped),
        ]
    )


async def test_default_backend_is_aiohttp_and_round_trips_a_request() -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(HttpSettings()) as client:
        assert isinstance(client._transport, AiohttpTransport)  # type: ignore[attr-defined]
        response = await client.post(
            f"{server.url}/echo", content=b'{"a":1}', headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.content == b'{"a":1}'
    assert response.headers["x-seen-content-type"] == "application/json"


async def test_stream_arrives_chunk_by_chunk() -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(HttpSettings()) as client:
        async with client.stream("GET", f"{server.url}/stream") as response:
            received = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(received) == b"chunk-0;chunk-1;chunk-2;"
    assert len(received) >= 2


async def test_closing_early_drops_the_upstream_connection() -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(HttpSettings()) as client:
        async with client.stream("GET", f"{server.url}/stream?hang=30") as response:
            async for _chunk in response.aiter_raw():
                break
        await asyncio.wait_for(closed.wait(), timeout=5)


async def test_read_timeout_becomes_httpx_read_timeout() -> None:
    closed = asyncio.Event()
    settings = HttpSettings(read_timeout_seconds=0.2)
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:

        async def read_all() -> None:
            async with client.stream("GET", f"{server.url}/stream?hang=5") as response:
                async for _chunk in response.aiter_raw():
                    pass

        with pytest.raises(httpx.ReadTimeout):
            await read_all()


async def test_refused_connection_becomes_httpx_connect_error() -> None:
    async with build_http_client(HttpSettings()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_bodies_are_relayed_raw_and_decoded_by_httpx() -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(HttpSettings()) as client:
        async with client.stream("GET", f"{server.url}/gzip") as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        decoded = await client.get(f"{server.url}/gzip")
    assert gzip.decompress(raw) == b"hello gzip"
    assert decoded.content == b"hello gzip"
