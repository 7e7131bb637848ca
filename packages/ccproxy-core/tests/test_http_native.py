"""The native HTTP/1.1 client against hand-written loopback servers: the protocol cases."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from ccproxy.config import HttpSettings
from ccproxy.http import build_http_client, send_upstream
from ccproxy.http_native import client_tls_context

#: Every case runs on asyncio's loop and on uvloop's, the one uvicorn serves with (conftest.py).
EVENT_LOOPS = ("asyncio", "uvloop")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """A loopback TCP server; ``handler`` gets each connection and its number (0, 1, ...)."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.heads: list[bytes] = []
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def read_head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            await self.handler(reader, writer, number)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def native(**overrides: object) -> HttpSettings:
    return HttpSettings(backend="native", **overrides)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read_head(reader)
            writer.write(ok(b"hello"))
            await writer.drain()

    async with RawServer(handler) as server, build_http_client(native()) as client:
        first = await client.get(f"{server.url}/a")
        second = await client.get(f"{server.url}/b")
    assert (first.text, second.text) == ("hello", "hello")
    assert server.connections == 1
    assert [h.split(b"\r\n")[0] for h in server.heads] == [
        b"GET /a HTTP/1.1",
        b"GET /b HTTP/1.1",
    ]


async def test_an_idle_connection_the_server_closed_is_replaced_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_head(reader)
        if n == 0:
            # Answers, promises keep-alive, then drops the connection when the next request comes.
            writer.write(ok(b"first"))
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            writer.transport.abort()
            return
        writer.write(ok(b"second"))
        await writer.drain()

    async with RawServer(handler) as server, build_http_client(native()) as client:
        assert (await client.post(f"{server.url}/x", content=b"1")).text == "first"
        assert (await client.post(f"{server.url}/x", content=b"2")).text == "second"
    assert server.connections == 2


async def test_a_fresh_connection_closed_without_an_answer_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_head(reader)
        writer.transport.abort()

    async with RawServer(handler) as server, build_http_client(native()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/")
    assert server.connections == 1  # never replayed


async def test_chunked_and_until_close_bodies() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await server.read_head(reader)
        if head.startswith(b"GET /chunked"):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b"data: one\n\n", b"data: two\n\n"):
                writer.write(b"%x\r\n%b\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ")
            await writer.drain()
            writer.write(b"the end")
            await writer.drain()
            writer.close()

    async with RawServer(handler) as server, build_http_client(native()) as client:
        async with client.stream("GET", f"{server.url}/chunked") as response:
            parts = [chunk async for chunk in response.aiter_raw()]
        until_close = await client.get(f"{server.url}/eof")
    assert b"".join(parts) == b"data: one\n\ndata: two\n\n"
    assert len(parts) == 2
    assert until_close.content == b"until the end"


async def test_a_body_cut_mid_way_raises_remote_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")
        await writer.drain()
        writer.transport.abort()

    async with RawServer(handler) as server, build_http_client(native()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/")


async def test_streamed_request_bodies_go_out_chunked() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await server.read_head(reader)
        assert b"transfer-encoding: chunked" in head.lower()
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
        received.append(body)
        writer.write(ok(b"done"))
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"alpha,", b"", b"beta"):
            yield part

    async with RawServer(handler) as server, build_http_client(native()) as client:
        response = await client.post(f"{server.url}/upload", content=parts())
    assert response.text == "done"
    assert received == [b"alpha,beta"]


async def test_head_and_informational_answers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await server.read_head(reader)
        if head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))
        await writer.drain()
        await asyncio.sleep(5)

    async with RawServer(handler) as server, build_http_client(native()) as client:
        head = await asyncio.wait_for(client.head(f"{server.url}/"), timeout=2)
        final = await asyncio.wait_for(client.post(f"{server.url}/", content=b"x"), timeout=2)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1000")
    assert (final.status_code, final.text) == (200, "final")


async def test_the_pool_limit_queues_and_times_out() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"done")
            await writer.drain()

    settings = native(max_connections=1, connect_timeout_seconds=0.3)
    async with RawServer(handler) as server, build_http_client(settings) as client:
        held = await client.send(client.build_request("GET", f"{server.url}/1"), stream=True)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(f"{server.url}/2")
        waiting = asyncio.create_task(client.get(f"{server.url}/3"))
        await asyncio.sleep(0.05)
        release.set()
        assert await held.aread() == b"done"
        await held.aclose()
        assert (await asyncio.wait_for(waiting, timeout=2)).text == "done"
    assert server.connections == 1


async def test_plain_http_through_a_proxy_with_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await proxy.read_head(reader)
        writer.write(ok(b"via proxy"))
        await writer.drain()

    async with RawServer(handler) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pa%20ss@127.0.0.1:{proxy.port}")
        async with build_http_client(native()) as client:
            response = await client.get("http://upstream.invalid/v1/models?x=1")
    assert response.text == "via proxy"
    request_line, *headers = proxy.heads[0].decode().split("\r\n")
    assert request_line == "GET http://upstream.invalid/v1/models?x=1 HTTP/1.1"
    assert "Proxy-Authorization: Basic dXNlcjpwYSBzcw==" in headers


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (made with the openssl tool)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def subject_hash(certificate: tuple[Path, Path]) -> str:
    """The certificate's name in an OpenSSL hashed CA directory, without the ``.0``."""
    return subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(certificate[0])],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    writer.write(ok(b"secret-free answer"))
    await writer.drain()
    return head


async def test_https_verifies_the_certificate(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await answer_once(reader, writer)

    tls = tls_server_context(certificate)
    async with RawServer(handler, tls=tls) as server:
        async with build_http_client(native()) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(f"https://localhost:{server.port}/")
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        async with build_http_client(native()) as client:
            response = await client.get(f"https://localhost:{server.port}/")
    assert response.text == "secret-free answer"


async def test_https_reads_a_hashed_ca_directory_on_demand(
    certificate: tuple[Path, Path],
    subject_hash: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # SSL_CERT_DIR: an OpenSSL hashed directory, read per handshake instead of loaded whole.
    empty, trusting = tmp_path / "empty", tmp_path / "trusting"
    empty.mkdir()
    trusting.mkdir()
    (empty / "00000000.0").write_text("")  # hashed-looking, but not our CA
    (trusting / f"{subject_hash}.0").write_bytes(certificate[0].read_bytes())

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await answer_once(reader, writer)

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    async with RawServer(handler, tls=tls_server_context(certificate)) as server:
        url = f"https://localhost:{server.port}/"
        monkeypatch.setenv("SSL_CERT_DIR", str(empty))
        async with build_http_client(native()) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(url)
        monkeypatch.setenv("SSL_CERT_DIR", str(trusting))
        async with build_http_client(native()) as client:
            response = await client.get(url)
    assert response.text == "secret-free answer"


async def test_https_through_a_connect_tunnel(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def origin_handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await origin.read_head(reader)
        writer.write(ok(b"through the tunnel"))
        await writer.drain()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        sink.close()

    async def proxy_handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        head = await proxy.read_head(reader)
        target = head.split(b" ")[1].decode()
        assert target == f"localhost:{origin.port}"
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", origin.port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    tls = tls_server_context(certificate)
    async with RawServer(origin_handler, tls=tls) as origin, RawServer(proxy_handler) as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        origin_port = origin.port
        async with build_http_client(native()) as client:
            response = await client.get(f"https://localhost:{origin_port}/secure")
    assert response.text == "through the tunnel"
    assert proxy.heads[0].startswith(f"CONNECT localhost:{origin_port} HTTP/1.1\r\n".encode())
    assert origin.heads[0].startswith(b"GET /secure HTTP/1.1\r\n")


async def test_a_held_response_does_not_keep_the_request_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await server.read_head(reader)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(ok(b"streamed"))
        await writer.drain()

    body = b"x" * 200_000  # a long conversation
    async with RawServer(handler) as server, build_http_client(native()) as client:
        url = httpx.URL(f"{server.url}/v1/messages")
        response = await send_upstream(client, "POST", url, {}, body)
        assert (response.request.method, response.request.url) == ("POST", url)
        assert response.request.content == b""
        assert await response.aread() == b"streamed"


def test_the_tls_context_loads_no_ca_up_front_from_a_hashed_directory(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "0123abcd.0").write_bytes(certificate[0].read_bytes())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    lazy = client_tls_context()
    assert lazy.cert_store_stats()["x509_ca"] == 0
    assert (lazy.verify_mode, lazy.check_hostname) == (ssl.CERT_REQUIRED, True)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert client_tls_context().cert_store_stats()["x509_ca"] == 1
