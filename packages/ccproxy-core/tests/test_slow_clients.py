"""Slow clients: stalled headers or bodies get 408 and lose the connection (real uvicorn, raw sockets).

Headers are the server's job (``ccproxy.cli.http_protocol``, for both uvicorn HTTP/1.1
implementations); bodies are ``SecurityMiddleware``'s (answered in the route's dialect).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from starlette.responses import StreamingResponse

from ccproxy.cli.http_protocol import HttpImplementation, header_timeout_protocol
from ccproxy.config import Settings
from ccproxy.proxy import install_error_handlers
from ccproxy.security import SecurityMiddleware
from ccproxy.testing import LiveServer
from ccproxy.testing.network import free_port

TIMEOUT = 0.5
IMPLEMENTATIONS: list[HttpImplementation] = ["h11", "httptools"]
HOST = b"Host: 127.0.0.1\r\n"

pytestmark = pytest.mark.timeout(30)


def guarded_app() -> SecurityMiddleware:
    """Echoes the body length; ``/stream`` answers in pieces for longer than TIMEOUT."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/stream")
    async def stream(request: Request) -> StreamingResponse:
        await request.body()

        async def pieces() -> AsyncIterator[bytes]:
            for n in range(4):
                await asyncio.sleep(TIMEOUT / 2)
                yield f"piece {n}\n".encode()

        return StreamingResponse(pieces(), media_type="text/plain")

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(request: Request, path: str) -> dict[str, Any]:
        return {"path": "/" + path, "received": len(await request.body())}

    settings = Settings(server={"request_read_timeout_seconds": TIMEOUT})
    return SecurityMiddleware(app, settings=settings)


def live(implementation: HttpImplementation) -> LiveServer:
    return LiveServer(guarded_app(), http=header_timeout_protocol(implementation, seconds=TIMEOUT))


async def read_until_closed(reader: asyncio.StreamReader, within: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    return await asyncio.wait_for(reader.read(), within)


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One Content-Length response: (head, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return status_line, headers, body


# --- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_unfinished_headers_get_408_and_the_connection_closes(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /claude/v1/messages HTTP/1.1\r\n" + HOST + b"Content-Type: app")
        await writer.drain()
        started = asyncio.get_running_loop().time()
        response = await read_until_closed(reader)
        waited = asyncio.get_running_loop().time() - started
        writer.close()
    status_line, headers, body = split(response)
    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert "server.request_read_timeout_seconds" in json.loads(body)["error"]["message"]
    assert TIMEOUT * 0.8 <= waited < TIMEOUT + 2


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_headers_trickling_in_are_cut_off_at_the_deadline(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        request = b"GET /x HTTP/1.1\r\n" + HOST + b"X-Slow: " + b"a" * 100
        closed = asyncio.create_task(read_until_closed(reader, within=10))
        for byte in request:  # every gap is shorter than the timeout, the total is longer
            if closed.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(TIMEOUT / 5)
        response = await closed
        writer.close()
    assert response.startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        assert await read_until_closed(reader) == b""
        writer.close()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_keep_alive_connections_serve_requests_after_idling(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        for path in (b"/one", b"/two"):
            writer.write(b"GET " + path + b" HTTP/1.1\r\n" + HOST + b"\r\n")
            await writer.drain()
            head, body = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body)["path"] == path.decode()
            # Longer than the header deadline, shorter than uvicorn's keep-alive (5 s).
            await asyncio.sleep(TIMEOUT * 1.6)
        writer.close()


# --- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_stalled_body_gets_408_in_the_routes_dialect_and_the_connection_closes(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /claude/v1/messages HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"model": "'
        )
        await writer.drain()
        response = await read_until_closed(reader)
        writer.close()
    status_line, headers, body = split(response)
    assert status_line.startswith("HTTP/1.1 408 ")
    assert headers["connection"] == "close"
    error = json.loads(body)
    assert error["type"] == "error"  # the Anthropic shape, as the route speaks
    assert "server.request_read_timeout_seconds" in error["error"]["message"]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_stalled_chunked_body_gets_408_in_the_openai_dialect(
    implementation: HttpImplementation,
) -> None:
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /codex/v1/chat/completions HTTP/1.1\r\n"
            + HOST
            + b'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
        )
        await writer.drain()
        response = await read_until_closed(reader)
        writer.close()
    status_line, _, body = split(response)
    assert status_line.startswith("HTTP/1.1 408 ")
    assert set(json.loads(body)["error"]) >= {"message", "type"}


async def test_a_slow_body_that_keeps_moving_is_accepted() -> None:
    async with live("auto") as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        pieces = [b'{"a": ', b'"bcdef', b'gh"}']
        size = sum(map(len, pieces))
        writer.write(
            b"POST /v1/x HTTP/1.1\r\n"
            + HOST
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        for piece in pieces:  # the whole body takes longer than the timeout; no gap does
            await asyncio.sleep(TIMEOUT * 0.6)
            writer.write(piece)
            await writer.drain()
        head, body = await read_response(reader)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["received"] == size


async def test_a_response_streaming_longer_than_the_timeout_is_not_cut() -> None:
    async with live("auto") as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /stream HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        await writer.drain()
        response = await read_until_closed(reader)
        writer.close()
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"piece 3" in response


# --- ccproxy serve -----------------------------------------------------------------------------


async def test_serve_answers_stalled_headers_with_408(tmp_path: Path) -> None:
    port = free_port()
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env["PLUGINS_DISABLE_LOCAL_DISCOVERY"] = "true"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccproxy",
        "serve",
        "--port",
        str(port),
        "--set",
        f"server.request_read_timeout_seconds={TIMEOUT}",
        "--disable-plugin",
        "permissions",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), 15)
        while b"listening on" not in line:
            assert line, "ccproxy serve exited before listening"
            line = await asyncio.wait_for(process.stderr.readline(), 15)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.")
        await writer.drain()
        response = await read_until_closed(reader)
        writer.close()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
