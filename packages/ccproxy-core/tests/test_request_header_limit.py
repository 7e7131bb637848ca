"""Request heads larger than ``server.max_request_header_bytes`` get 431 and lose the connection.

Enforced by the server's protocol wrapper (``ccproxy.cli.http_protocol``) for both uvicorn
HTTP/1.1 implementations, against real uvicorn on 127.0.0.1 with raw sockets: before the limit,
uvicorn buffers header bytes for as long as a client sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from structlog.testing import capture_logs

from ccproxy.cli.http_protocol import HttpImplementation, header_timeout_protocol
from ccproxy.config import Settings
from ccproxy.testing import LiveServer
from ccproxy.testing.network import free_port

IMPLEMENTATIONS: list[HttpImplementation] = ["h11", "httptools"]
LIMIT = Settings().server.max_request_header_bytes
# Long enough that a stalled-headers 408 (the unfixed behaviour) cannot pass for a 431.
HEADER_TIMEOUT = 20.0
HOST = b"Host: 127.0.0.1\r\n"

pytestmark = pytest.mark.timeout(60)


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(request: Request, path: str) -> dict[str, Any]:
        return {
            "path": "/" + path,
            "headers": len(request.headers.raw),
            "received": len(await request.body()),
        }

    return app


def live(implementation: HttpImplementation) -> LiveServer:
    protocol = header_timeout_protocol(
        implementation, seconds=HEADER_TIMEOUT, max_header_bytes=LIMIT
    )
    return LiveServer(echo_app(), http=protocol)


def padding_headers(total: int) -> bytes:
    """About ``total`` bytes of ordinary 1 KiB header lines."""
    line = b"X-Pad-%05d: " + b"a" * 1000 + b"\r\n"
    return b"".join(line % n for n in range(total // len(line % 0)))


async def send_ignoring_reset(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send ``data`` in pieces; the server may close the connection part-way (that is the point)."""
    with contextlib.suppress(ConnectionError):
        for start in range(0, len(data), 64 * 1024):
            writer.write(data[start : start + 64 * 1024])
            await writer.drain()


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One Content-Length response: (head, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


async def oversized_head(server: LiveServer, unfinished: bytes) -> bytes:
    """What the server answers to a head of ``unfinished`` bytes that never ends, until it closes."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    sending = asyncio.create_task(send_ignoring_reset(writer, unfinished))
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        await sending
        writer.close()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape", ["many headers", "one long header", "long request line"])
async def test_a_megabyte_of_header_bytes_gets_431_and_the_connection_closes(
    implementation: HttpImplementation, shape: str
) -> None:
    megabyte = 1024 * 1024
    unfinished = {
        "many headers": b"GET /x HTTP/1.1\r\n" + HOST + padding_headers(megabyte),
        "one long header": b"GET /x HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * megabyte,
        "long request line": b"GET /" + b"a" * megabyte,
    }[shape]
    async with live(implementation) as server:
        response = await oversized_head(server, unfinished)
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    assert status_line == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    message = json.loads(body)["error"]["message"]
    assert "server.max_request_header_bytes" in message
    assert str(LIMIT) in message


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_oversized_heads_do_not_grow_the_servers_memory(
    implementation: HttpImplementation,
) -> None:
    connections, size = 8, 2 * 1024 * 1024
    # Built before tracing: the client's own bytes are not the server's memory.
    unfinished = b"GET /x HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * size
    async with live(implementation) as server:
        tracemalloc.start()
        try:
            responses = await asyncio.gather(
                *(oversized_head(server, unfinished) for _ in range(connections))
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert all(r.startswith(b"HTTP/1.1 431 ") for r in responses)
    # 16 MiB were sent; the server holds at most about one limit and one read per connection.
    assert peak < connections * (LIMIT + 512 * 1024), peak


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_requests_with_30_kib_of_headers_are_served_on_a_kept_alive_connection(
    implementation: HttpImplementation,
) -> None:
    extra = padding_headers(30 * 1024)
    body = b'{"pad": "' + b"b" * (2 * LIMIT) + b'"}'  # a body is not a head, however large
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        # Three requests of 30 KiB heads: the count starts again with each request.
        for path in (b"/one", b"/two", b"/three"):
            writer.write(b"GET " + path + b" HTTP/1.1\r\n" + HOST + extra + b"\r\n")
            await writer.drain()
            head, answer = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert json.loads(answer)["path"] == path.decode()
        writer.write(
            b"POST /body HTTP/1.1\r\n"
            + HOST
            + extra
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        head, answer = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert json.loads(answer)["received"] == len(body)
        writer.close()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_pipelined_requests_with_bodies_are_all_served(
    implementation: HttpImplementation,
) -> None:
    body = b"c" * (LIMIT + 1)
    one = b"POST /p HTTP/1.1\r\n" + HOST + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(one * 3)
        await writer.drain()
        for _ in range(3):
            head, answer = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert json.loads(answer)["received"] == len(body)
        writer.close()


async def test_a_pipelined_head_over_the_limit_is_refused_after_the_answer_before_it() -> None:
    """httptools parses a pipelined request while the one before it is answered; its head is
    counted too, and refused once that answer (an upstream call already spent) is complete.
    (h11 stops reading until the answer is done, so the kernel holds the bytes.)"""
    release = asyncio.Event()
    app = echo_app()

    @app.get("/wait")
    async def wait() -> dict[str, bool]:
        await release.wait()
        return {"released": True}

    app.router.routes.insert(0, app.router.routes.pop())  # before the catch-all echo
    protocol = header_timeout_protocol("httptools", seconds=HEADER_TIMEOUT, max_header_bytes=LIMIT)
    unfinished = b"GET /wait HTTP/1.1\r\n" + HOST + b"\r\nGET /x HTTP/1.1\r\n" + HOST
    unfinished += b"X-Big: " + b"a" * (1024 * 1024)
    async with LiveServer(app, http=protocol) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        with capture_logs() as events:
            sending = asyncio.create_task(send_ignoring_reset(writer, unfinished))
            # The pipelined head is refused while the first answer is still being worked on.
            for _ in range(500):
                if any(e["event"] == "request_headers_too_large" for e in events):
                    break
                await asyncio.sleep(0.02)
        try:
            assert not release.is_set()
            assert any(e["event"] == "request_headers_too_large" for e in events)
            release.set()
            head, answer = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert json.loads(answer) == {"released": True}
            head, answer = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 431 "), head
            assert await asyncio.wait_for(reader.read(), 10) == b""  # and the connection closes
        finally:
            release.set()
            await sending
            writer.close()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [LIMIT + 1024, LIMIT + 40 * 1024])
@pytest.mark.parametrize("shape", ["one long header", "many small headers"])
async def test_a_head_over_the_limit_is_refused_when_it_arrives_complete_in_one_write(
    implementation: HttpImplementation, size: int, shape: str
) -> None:
    """A whole head a little over the limit, written at once, may arrive in one read."""
    if shape == "one long header":
        fields = b"X-Big: " + b"a" * size + b"\r\n"
    else:
        fields = b"".join(b"X-%05d: v\r\n" % n for n in range(size // 11 + 1))
    request = b"GET /x HTTP/1.1\r\n" + HOST + fields + b"\r\n"
    assert len(request) > LIMIT
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(request)
        await writer.drain()
        try:
            head, _ = await read_response(reader)
        finally:
            writer.close()
    assert head.startswith(b"HTTP/1.1 431 "), head


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_a_head_just_under_the_limit_with_a_large_body_in_the_same_write_is_served(
    implementation: HttpImplementation,
) -> None:
    body = b"d" * (4 * LIMIT)
    start = b"POST /near HTTP/1.1\r\n" + HOST + f"Content-Length: {len(body)}\r\n".encode()
    pad = b"X-Pad: " + b"p" * (LIMIT - len(start) - len(b"X-Pad: \r\n\r\n")) + b"\r\n\r\n"
    head = start + pad
    assert len(head) == LIMIT
    async with live(implementation) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(head + body)
        await writer.drain()
        try:
            status, answer = await read_response(reader)
        finally:
            writer.close()
    assert status.startswith(b"HTTP/1.1 200 "), status
    assert json.loads(answer)["received"] == len(body)


async def test_bytes_after_a_body_do_not_cut_a_slow_answer() -> None:
    """A stray CRLF after a body arms the head deadline (httptools), but an answer that takes
    longer than the deadline still arrives."""
    app = FastAPI()
    body_read = asyncio.Event()

    @app.post("/slow")
    async def slow(request: Request) -> dict[str, int]:
        size = len(await request.body())
        body_read.set()
        await asyncio.sleep(1.0)
        return {"received": size}

    protocol = header_timeout_protocol("httptools", seconds=0.3, max_header_bytes=LIMIT)
    async with LiveServer(app, http=protocol) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /slow HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.wait_for(body_read.wait(), 10)
        writer.write(b"\r\n")
        await writer.drain()
        head, answer = await read_response(reader)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert json.loads(answer) == {"received": 2}


async def test_serve_applies_the_configured_limit(tmp_path: Path) -> None:
    port = free_port()
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env["PLUGINS_DISABLE_LOCAL_DISCOVERY"] = "true"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "ccproxy", "serve", "--port", str(port)),
        *("--set", "server.max_request_header_bytes=2048", "--disable-plugin", "permissions"),
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
        writer.write(b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 4096)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    assert response.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"larger than 2048 bytes" in response
