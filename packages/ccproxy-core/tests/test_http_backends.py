"""The upstream backends of our own (native, aiohttp) under httpx's API, against real loopback
servers: the same behaviour from each."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ccproxy.config import HttpSettings
from ccproxy.http import build_http_client
from ccproxy.http_aiohttp import AiohttpTransport
from ccproxy.http_native import NativeTransport
from ccproxy.testing import LiveServer, free_port

BACKENDS = {"native": NativeTransport, "aiohttp": AiohttpTransport}


@pytest.fixture(params=sorted(BACKENDS))
def settings(request: pytest.FixtureRequest) -> HttpSettings:
    return HttpSettings(backend=request.param)


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


async def test_default_backend_is_native() -> None:
    async with build_http_client(HttpSettings()) as client:
        assert isinstance(client._transport, NativeTransport)  # type: ignore[attr-defined]


async def test_round_trips_a_request(settings: HttpSettings) -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:
        transport = client._transport  # type: ignore[attr-defined]
        assert isinstance(transport, BACKENDS[settings.backend])
        response = await client.post(
            f"{server.url}/echo", content=b'{"a":1}', headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.content == b'{"a":1}'
    assert response.headers["x-seen-content-type"] == "application/json"


async def test_stream_arrives_chunk_by_chunk(settings: HttpSettings) -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:
        async with client.stream("GET", f"{server.url}/stream") as response:
            received = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(received) == b"chunk-0;chunk-1;chunk-2;"
    assert len(received) >= 2


async def test_closing_early_drops_the_upstream_connection(settings: HttpSettings) -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:
        async with client.stream("GET", f"{server.url}/stream?hang=30") as response:
            async for _chunk in response.aiter_raw():
                break
        await asyncio.wait_for(closed.wait(), timeout=5)


async def test_read_timeout_becomes_httpx_read_timeout(settings: HttpSettings) -> None:
    closed = asyncio.Event()
    settings = settings.model_copy(update={"read_timeout_seconds": 0.2})
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:

        async def read_all() -> None:
            async with client.stream("GET", f"{server.url}/stream?hang=5") as response:
                async for _chunk in response.aiter_raw():
                    pass

        with pytest.raises(httpx.ReadTimeout):
            await read_all()


async def test_refused_connection_becomes_httpx_connect_error(settings: HttpSettings) -> None:
    async with build_http_client(settings) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_bodies_are_relayed_raw_and_decoded_by_httpx(settings: HttpSettings) -> None:
    closed = asyncio.Event()
    async with LiveServer(upstream(closed)) as server, build_http_client(settings) as client:
        async with client.stream("GET", f"{server.url}/gzip") as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        decoded = await client.get(f"{server.url}/gzip")
    assert gzip.decompress(raw) == b"hello gzip"
    assert decoded.content == b"hello gzip"


class RecordingProxy:
    """A loopback HTTP proxy stand-in: answers every request with the request line it got."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        self.request_lines.append(line)
        body = line.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


async def test_proxy_variables_are_read_when_the_client_is_built(
    settings: HttpSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with build_http_client(settings) as client:
            # Changing the environment later does not reroute a built client (as with httpx).
            monkeypatch.delenv("HTTP_PROXY")
            response = await client.get("http://upstream.invalid/v1/models")
    assert response.text == "GET http://upstream.invalid/v1/models HTTP/1.1"
    assert proxy.request_lines == ["GET http://upstream.invalid/v1/models HTTP/1.1"]


async def test_no_proxy_hosts_are_reached_directly(
    settings: HttpSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = asyncio.Event()
    async with RecordingProxy() as proxy, LiveServer(upstream(closed)) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with build_http_client(settings) as client:
            direct = await client.post(f"{server.url}/echo", content=b"straight")
            proxied = await client.get("http://upstream.invalid/x")
    assert direct.content == b"straight"
    assert proxied.text == "GET http://upstream.invalid/x HTTP/1.1"
    assert proxy.request_lines == ["GET http://upstream.invalid/x HTTP/1.1"]


async def test_netrc_is_not_consulted(
    settings: HttpSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # aiohttp's trust_env would read ~/.netrc on every request and send its credentials.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[str | None] = []

    async def headers(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return Response(b"ok")

    app = Starlette(routes=[Route("/h", headers)])
    async with LiveServer(app) as server, build_http_client(settings) as client:
        assert (await client.get(f"{server.url}/h")).content == b"ok"
    assert seen == [None]
