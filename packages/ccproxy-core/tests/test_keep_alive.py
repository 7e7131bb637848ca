"""Idle keep-alive connections of ``ccproxy serve`` (its uvicorn configuration, real sockets).

A server that closes an idle connection at the moment a client reuses it loses that request
(the proxy never re-sends one that may have reached the upstream), so the server keeps idle
connections longer than clients do: httpx expires its idle connections after 5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from fastapi import FastAPI

from ccproxy.cli.server import server_config
from ccproxy.config import Settings
from ccproxy.testing.network import free_port

pytestmark = pytest.mark.timeout(30)

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def ping_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[uvicorn.Server]:
    server = uvicorn.Server(server_config(ping_app(), settings))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server stopped before it started"
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return head.split(b"\r\n", 1)[0] + b" " + await reader.readexactly(length)


async def test_an_idle_connection_outlives_the_clients_pool_expiry() -> None:
    settings = Settings(server={"port": free_port()})
    assert settings.server.keep_alive_seconds > 5
    async with serving(settings):
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.server.port)
        assert await ping(reader, writer) == b'HTTP/1.1 200 OK {"ok":true}'
        await asyncio.sleep(5.5)  # longer than uvicorn's own default (5 s) and httpx's expiry
        assert not reader.at_eof()
        assert await ping(reader, writer) == b'HTTP/1.1 200 OK {"ok":true}'
        writer.close()


async def test_the_keep_alive_setting_closes_idle_connections() -> None:
    settings = Settings(server={"port": free_port(), "keep_alive_seconds": 1})
    async with serving(settings):
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.server.port)
        await ping(reader, writer)
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        waited = asyncio.get_running_loop().time() - started
        writer.close()
    assert 0.8 <= waited < 5
