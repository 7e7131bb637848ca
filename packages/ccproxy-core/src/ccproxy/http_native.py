"""An httpx transport with a small HTTP/1.1 client of its own: asyncio protocols and httptools.

The proxy's upstream traffic is plain HTTP/1.1 to a handful of hosts, mostly long streams. This
client does exactly that and nothing else: a keep-alive pool, TLS (the system's trust store,
ALPN ``http/1.1``), proxies from the environment (``CONNECT`` tunnels for ``https``), timeouts,
and bodies relayed raw as they arrive (httpx decodes ``content-encoding`` on top). It parses with
httptools, which uvicorn already loaded, so it adds no memory at start-up and little per stream:
that, and being a thin layer, is why it is the default ``http.backend``.

A request whose reused keep-alive connection turns out to be closed by the server before any byte
of the answer is sent again once on a new connection (its body is in memory); streamed request
bodies are never replayed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import httptools
import httpx

from ccproxy.http_proxies import EnvironmentProxies

if TYPE_CHECKING:
    from ccproxy.config.settings import HttpSettings

__all__ = ["NativeTransport", "client_tls_context"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Buffered body bytes above which the socket stops being read (the client reads slowly).
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
_KEEPALIVE_EXPIRY = 30.0
#: How OpenSSL names certificates in a hashed CA directory (``<subject hash>.<n>``).
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")

_Origin = tuple[str, str, int, "httpx.URL | None"]


class _ConnectionLost(Exception):
    """The connection closed before the answer was complete."""


class _Connection(asyncio.Protocol):
    """One upstream HTTP/1.1 connection: sends a request, parses its answer with httptools."""

    def __init__(self, pool: _Pool, origin: _Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.served = 0  # answers read to the end on this connection
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.received_any = False
        self.complete = False
        self.error: BaseException | None = None
        self.head_only = False
        self._until_eof = False
        self._informational = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._reading_paused = False
        self._head: asyncio.Future[None] | None = None
        self._data: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport, hence the cast).
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Invalid upstream response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._until_eof and not self.complete and self.error is None:
            self.complete = True  # a body without length ends with the connection
            self._wake()
        elif not self.complete:
            self._fail(_ConnectionLost(str(exc) if exc else "connection closed"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self.pool.forget(self)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # --- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes | None) -> None:
        self.headers.append((name, value or b""))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue and friends: wait for the real answer
            self.headers = []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        if not self.head_only and status not in (204, 304):
            names = {name.lower() for name, _ in self.headers}
            self._until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        if self._head is not None and not self._head.done():
            self._head.set_result(None)
        if self.head_only:
            # No body follows a HEAD answer, whatever its headers say; do not reuse the parser.
            self.keep_alive = False
            self.complete = True
            self._wake()

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._wake()

    # --- used by the transport and the response stream ---------------------------------------

    async def send(self, head: bytes, body: bytes | AsyncIterator[bytes], chunked: bool) -> None:
        assert self.transport is not None
        if isinstance(body, bytes):
            self.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.transport.write(body)
            return
        self.transport.write(head)
        async for chunk in body:
            if self.closed:
                raise _ConnectionLost("connection closed while sending the request")
            if not chunk:
                continue
            if chunked:
                self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                self.transport.write(chunk)
            if self._drain is not None and not self._drain.done():
                await self._drain
        if chunked:
            self.transport.write(b"0\r\n\r\n")

    async def read_head(self, limit_seconds: float) -> None:
        if self.status or self.error is not None:
            self._raise_error()
            return
        self._head = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(limit_seconds):
                await self._head
        except TimeoutError:
            raise httpx.ReadTimeout("The upstream sent no answer in time.") from None
        self._raise_error()

    async def next_chunk(self, limit_seconds: float) -> bytes | None:
        """The next body bytes, or None at the end of the body."""
        while not self._chunks:
            if self.error is not None:
                self._raise_error()
            if self.complete:
                return None
            self._data = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(limit_seconds):
                    await self._data
            except TimeoutError:
                raise httpx.ReadTimeout("The upstream sent nothing in time.") from None
        # Whatever has arrived goes out as one piece: fewer, larger writes to the client.
        chunks = self._chunks
        chunk = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._reading_paused and self._buffered < _LOW_WATER and self.transport:
            self._reading_paused = False
            self.transport.resume_reading()
        return chunk

    def start_next(self) -> None:
        """Ready for the next request on this keep-alive connection."""
        self._reset()

    def replace_parser(self) -> None:
        """A fresh parser (after a proxy's ``CONNECT`` answer, before TLS starts)."""
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        if self._head is not None and not self._head.done():
            self._head.set_result(None)
        self._wake()

    def _wake(self) -> None:
        if self._data is not None and not self._data.done():
            self._data.set_result(None)

    def _raise_error(self) -> None:
        error = self.error
        if error is None:
            return
        if isinstance(error, httpx.TransportError):
            raise error
        if self.status:
            raise httpx.RemoteProtocolError(
                "The upstream closed the connection before the body was complete."
            )
        raise _ConnectionLost(str(error))


class _Pool:
    """Open connections per origin: at most ``limit`` at once, idle ones kept for reuse."""

    def __init__(self, settings: HttpSettings) -> None:
        self.limit = settings.max_connections
        self.max_idle = settings.max_keepalive_connections
        self.open = 0
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._members: set[_Connection] = set()

    def take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if not conn.closed and now - conn.idle_since < _KEEPALIVE_EXPIRY:
                return conn
            conn.close()
        return None

    async def acquire(self, origin: _Origin, limit_seconds: float) -> _Connection | None:
        """An idle connection to ``origin``, or None with room reserved for a new one."""
        while True:
            conn = self.take_idle(origin)
            if conn is not None:
                return conn
            if self.open < self.limit:
                self.open += 1
                return None
            if self._idle_count:
                self._close_oldest_idle()  # an idle connection elsewhere gives way
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(limit_seconds):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout("No upstream connection became free in time.") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def adopt(self, conn: _Connection) -> None:
        self._members.add(conn)

    def unreserve(self) -> None:
        self.open -= 1
        self._wake_one()

    def release(self, conn: _Connection) -> None:
        """An answer was read to the end: keep the connection for the next request, or close."""
        conn.served += 1
        if conn.closed or not conn.keep_alive or self._idle_count >= self.max_idle:
            conn.close()
            return
        conn.start_next()
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(conn.origin, []).append(conn)
        self._idle_count += 1
        self._wake_one()

    def forget(self, conn: _Connection) -> None:
        """Called when a connection closes: its slot is free again."""
        if conn not in self._members:
            return
        self._members.discard(conn)
        idle = self._idle.get(conn.origin)
        if idle and conn in idle:
            idle.remove(conn)
            self._idle_count -= 1
        self.open -= 1
        self._wake_one()

    def close_all(self) -> None:
        for conn in list(self._members):
            conn.close()

    def _close_oldest_idle(self) -> None:
        oldest = min(
            (conn for conns in self._idle.values() for conn in conns), key=lambda c: c.idle_since
        )
        self._idle[oldest.origin].remove(oldest)
        self._idle_count -= 1
        self._members.discard(oldest)
        self.open -= 1
        oldest.close()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class NativeTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` over this module's HTTP/1.1 client."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._pool = _Pool(settings)
        self._proxies = EnvironmentProxies()
        self._ssl: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Unsupported URL scheme {url.scheme!r}.")
        proxy = self._proxies.proxy_for(url)
        origin: _Origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme], proxy)
        forward = proxy is not None and url.scheme == "http"  # plain HTTP through the proxy
        extra = _proxy_authorization(proxy) if forward and proxy is not None else []
        head, body, chunked = _serialise(request, absolute=forward, extra=extra)
        timeout = request.extensions.get("timeout", {})
        read_timeout = timeout.get("read") or self._settings.read_timeout_seconds
        for attempt in (1, 2):
            pool_timeout = timeout.get("pool") or self._settings.connect_timeout_seconds
            conn = await self._pool.acquire(origin, pool_timeout)
            if conn is None:
                conn = await self._connect(origin, timeout)
            conn.head_only = request.method == "HEAD"
            try:
                await conn.send(head, body, chunked)
                await conn.read_head(read_timeout)
            except _ConnectionLost as exc:
                conn.close()
                if (
                    attempt == 1
                    and conn.served
                    and not conn.received_any
                    and isinstance(body, bytes)
                ):
                    continue  # the server had closed the idle connection: once more, on a new one
                raise httpx.RemoteProtocolError(
                    f"The upstream closed the connection without answering ({exc})."
                ) from None
            except BaseException:
                conn.close()
                raise
            return httpx.Response(
                status_code=conn.status,
                headers=conn.headers,
                stream=_ResponseStream(conn, self._pool, read_timeout),
                # The request line only: a conversation's body can be megabytes, and the
                # response (a stream) lives for minutes.
                request=httpx.Request(request.method, url),
                extensions={"http_version": b"HTTP/1.1"},
            )
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self._pool.close_all()

    async def _connect(self, origin: _Origin, timeouts: dict[str, float | None]) -> _Connection:
        """A new connection to ``origin`` (its pool slot is already reserved)."""
        scheme, host, port, proxy = origin
        connect_timeout = timeouts.get("connect") or self._settings.connect_timeout_seconds
        loop = asyncio.get_running_loop()
        conn = _Connection(self._pool, origin)
        try:
            async with asyncio.timeout(connect_timeout):
                if proxy is None:
                    tls = self._tls() if scheme == "https" else None
                    await loop.create_connection(
                        lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                    )
                else:
                    await loop.create_connection(
                        lambda: conn, proxy.host, proxy.port or _DEFAULT_PORTS[proxy.scheme]
                    )
                    if scheme == "https":
                        await self._tunnel(conn, host, port, proxy)
        except TimeoutError:
            self._release_failed(conn)
            raise httpx.ConnectTimeout(f"Connecting to {host}:{port} timed out.") from None
        except (OSError, ssl.SSLError, _ConnectionLost) as exc:
            self._release_failed(conn)
            raise httpx.ConnectError(f"Cannot connect to {host}:{port}: {exc}") from None
        except BaseException:
            self._release_failed(conn)
            raise
        self._pool.adopt(conn)
        return conn

    def _release_failed(self, conn: _Connection) -> None:
        conn.close()
        self._pool.unreserve()

    async def _tunnel(self, conn: _Connection, host: str, port: int, proxy: httpx.URL) -> None:
        authority = f"{host}:{port}".encode()
        lines = [b"CONNECT " + authority + b" HTTP/1.1", b"Host: " + authority]
        lines += _proxy_authorization(proxy)
        conn.head_only = True
        await conn.send(b"\r\n".join(lines) + b"\r\n\r\n", b"", False)
        await conn.read_head(self._settings.connect_timeout_seconds)
        if not 200 <= conn.status < 300:
            raise _ConnectionLost(f"the proxy refused the tunnel with status {conn.status}")
        conn.replace_parser()
        assert conn.transport is not None
        loop = asyncio.get_running_loop()
        tls_transport = await loop.start_tls(
            conn.transport, conn, self._tls(), server_hostname=host
        )
        conn.transport = cast("asyncio.Transport", tls_transport)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = client_tls_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context
        return self._ssl


class _ResponseStream(httpx.AsyncByteStream):
    """The body as it arrives; the connection goes back to the pool when it was read to the end,
    and is closed (which tells the upstream to stop) when it was not."""

    def __init__(self, conn: _Connection, pool: _Pool, read_timeout: float) -> None:
        self._conn = conn
        self._pool = pool
        self._read_timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            try:
                chunk = await conn.next_chunk(self._read_timeout)
            except _ConnectionLost:
                raise httpx.RemoteProtocolError(
                    "The upstream closed the connection before the body was complete."
                ) from None
            if chunk is None:
                break
            yield chunk
        self._finish(reusable=True)

    async def aclose(self) -> None:
        self._finish(reusable=False)

    def _finish(self, *, reusable: bool) -> None:
        if self._done:
            return
        self._done = True
        conn = self._conn
        if reusable and conn.complete and conn.error is None:
            self._pool.release(conn)
        else:
            conn.close()


def client_tls_context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, reading the system's CAs from its hashed directory.

    The default loads the whole CA bundle file up front (about 1.7 MB resident for some 140
    certificates); from an OpenSSL hashed directory only the CAs a handshake needs are read.
    ``SSL_CERT_FILE``, or a system without such a directory, keeps the default.
    """
    paths = ssl.get_default_verify_paths()
    if os.environ.get(paths.openssl_cafile_env) or not _is_hashed_ca_directory(paths.capath):
        return ssl.create_default_context()
    return ssl.create_default_context(capath=paths.capath)


def _is_hashed_ca_directory(path: str | None) -> bool:
    if not path or not os.path.isdir(path):
        return False
    try:
        with os.scandir(path) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def _serialise(
    request: httpx.Request, *, absolute: bool, extra: list[bytes]
) -> tuple[bytes, bytes | AsyncIterator[bytes], bool]:
    """The request head, the body (bytes, or the stream) and whether it is sent chunked.

    ``absolute``: the target is the whole URL (a request to a forwarding proxy); ``extra``:
    header lines added as they are.
    """
    url = request.url
    target = str(url).encode("ascii") if absolute else url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    chunked = False
    for name, value in request.headers.raw:
        lines.append(name + b": " + value)
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
    lines += extra
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        return head, request.content, False
    assert isinstance(stream, httpx.AsyncByteStream)
    return head, stream.__aiter__(), chunked


def _proxy_authorization(proxy: httpx.URL) -> list[bytes]:
    if not proxy.username:
        return []
    credentials = f"{proxy.username}:{proxy.password}".encode()
    return [b"Proxy-Authorization: Basic " + base64.b64encode(credentials)]
