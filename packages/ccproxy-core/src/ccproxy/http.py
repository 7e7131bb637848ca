"""The one place an upstream ``httpx.AsyncClient`` is built.

Plugins get the shared client from their context and never build their own, so pool limits,
timeouts, TLS trust and proxy settings are the same everywhere and tests can swap the transport.
Requests go out through httpx's own transport (httpcore): no HTTP/1.1 is written here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

from ccproxy._version import __version__
from ccproxy.config.settings import HttpSettings
from ccproxy.http_proxies import environment_proxy_mounts
from ccproxy.http_tls import client_ssl_context

__all__ = [
    "DEFAULT_USER_AGENT",
    "UpstreamClient",
    "build_http_client",
    "http_limits",
    "http_timeout",
    "send_upstream",
]

#: Sent upstream unless a provider profile sets its own ``User-Agent``.
DEFAULT_USER_AGENT = f"ccproxy/{__version__}"


def http_timeout(settings: HttpSettings) -> httpx.Timeout:
    """Timeouts of the shared client.

    ``read`` is the idle time allowed between upstream bytes (a long generation streams slowly,
    so it is generous); ``write`` uses the same idle limit for large request bodies; ``pool`` is
    how long a request waits for a free connection once ``max_connections`` are busy.
    """
    return httpx.Timeout(
        connect=settings.connect_timeout_seconds,
        read=settings.read_timeout_seconds,
        write=settings.read_timeout_seconds,
        pool=settings.pool_timeout_seconds,
    )


def http_limits(settings: HttpSettings) -> httpx.Limits:
    """Connection pool limits of the shared client."""
    return httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive_connections,
    )


class _DroppingJar(CookieJar):
    """A cookie jar that keeps nothing, whoever sets a cookie."""

    def set_cookie(self, cookie: Cookie) -> None:
        """Drop ``cookie``."""


class _NoCookies(httpx.Cookies):
    """Cookies of a client that keeps none: responses are not even parsed for them."""

    def __init__(self) -> None:
        super().__init__(_DroppingJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing from ``response``."""


class UpstreamClient(httpx.AsyncClient):
    """The shared upstream client: an :class:`httpx.AsyncClient` that never keeps cookies.

    The official clients keep none, and one client serves several accounts, whose cookies must
    never meet: a ``set-cookie`` from upstream is dropped, never replayed, and assigning
    ``cookies`` has no effect. (httpx would otherwise parse every response for cookies, a
    visible share of its time per request.)
    """

    def __init__(self, **kwargs: Any) -> None:
        self._no_cookies = _NoCookies()
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        """Ignored: this client keeps no cookies."""


#: The largest piece of a request body written to the connection at once. OpenSSL's buffer
#: behind an upstream TLS connection keeps the size of the largest write for as long as the
#: connection lives (pooled ones included): written whole, a 256 KiB body left 256 KiB behind.
_BODY_PIECE_BYTES = 64 * 1024


class _OneShotBody(httpx.AsyncByteStream):
    """A request body that lets go of its bytes once sent, written in pieces.

    A streamed response keeps its request alive until the stream ends; conversations reach
    megabytes, so an open stream should not also hold the body it was asked with. Being one-shot,
    it also cannot be sent twice. The bytes on the wire are the same as one write's (the length
    is in ``Content-Length``); only the writes are at most ``_BODY_PIECE_BYTES``.
    """

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content, self._content = self._content, None
        if content is None:
            raise httpx.StreamConsumed()
        # A body within one piece is yielded as it is (a whole slice of bytes is the same object).
        for start in range(0, len(content), _BODY_PIECE_BYTES):
            yield content[start : start + _BODY_PIECE_BYTES]


async def send_upstream(
    client: httpx.AsyncClient, method: str, url: httpx.URL, headers: dict[str, str], content: bytes
) -> httpx.Response:
    """Send one upstream request with ``client`` and return the response unread.

    ``headers`` replace the client's defaults of the same name, which keep their place (the
    order :meth:`httpx.AsyncClient.build_request` gives). The request is built here rather than by
    ``build_request``, whose general merging of URL, parameters, cookies and headers the proxy
    does not need and which costs more than the rest of httpx's client; no auth is applied and
    redirects are relayed, not followed.
    """
    merged = {b"host": (b"Host", url.netloc)}
    merged.update((name.lower(), (name, value)) for name, value in client.headers.raw)
    for name, value in headers.items():
        key = name.encode("latin-1")
        merged[key.lower()] = (key, value.encode("latin-1"))
    merged[b"content-length"] = (b"Content-Length", b"%d" % len(content))
    request = httpx.Request(
        method,
        url,
        headers=list(merged.values()),
        stream=_OneShotBody(content),
        extensions={"timeout": client.timeout.as_dict()},
    )
    return await client.send(request, stream=True, auth=None, follow_redirects=False)


class _BoundedTransport(httpx.AsyncBaseTransport):
    """httpx's transport with a real bound on the pool wait and only httpx errors.

    httpcore restarts a request's pool wait whenever a freed connection goes to another waiter,
    so under a steady load ``pool`` timed nothing. Here the wait is bounded from the start: the
    first event httpcore reports through the ``trace`` extension (connecting, or sending on a
    pooled connection) means the request has left the queue, and the bound is lifted; if the
    bound passes first, nothing was sent and the request fails with ``httpx.PoolTimeout``.

    Errors the transport lets through that are not httpx's (socksio's ``ProtocolError`` from a
    SOCKS proxy speaking nonsense) become ``httpx.ProxyError`` behind a proxy and
    ``httpx.TransportError`` otherwise, so callers need to handle httpx's errors only.
    """

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, pool_timeout: float, proxied: bool
    ) -> None:
        self._transport = transport
        self._pool_timeout = pool_timeout
        self._foreign_error: type[httpx.TransportError] = (
            httpx.ProxyError if proxied else httpx.TransportError
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport."""
        try:
            return await self._bounded(request)
        except (httpx.HTTPError, httpx.StreamError):
            raise
        except Exception as exc:
            raise self._foreign_error(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def _bounded(self, request: httpx.Request) -> httpx.Response:
        pool_timeout = self._pool_timeout
        extensions = request.extensions
        outer = extensions.get("trace")
        waiting = True
        try:
            async with asyncio.timeout(pool_timeout) as bound:

                async def trace(event_name: str, info: dict[str, Any]) -> None:
                    nonlocal waiting
                    if waiting and not bound.expired():
                        waiting = False
                        bound.reschedule(None)
                    if outer is not None:
                        await outer(event_name, info)

                extensions["trace"] = trace
                return await self._transport.handle_async_request(request)
        except TimeoutError:
            if not waiting:
                raise  # not the bound's: the request was already on its way
            raise httpx.PoolTimeout(
                f"No connection became free within {pool_timeout:g} s.", request=request
            ) from None
        finally:
            # The request is the caller's; its body events need no tracing of ours.
            if outer is None:
                extensions.pop("trace", None)
            else:
                extensions["trace"] = outer

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()


def build_http_client(
    settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Build the shared upstream client.

    Without ``transport`` requests go through httpx's transport with one TLS context (see
    :mod:`ccproxy.http_tls`) and the proxies of the environment (see :mod:`ccproxy.http_proxies`),
    both read now; a request then waits at most ``pool_timeout_seconds`` in all for a
    connection, and every transport failure is an ``httpx.TransportError``. With one (tests pass ``httpx.MockTransport`` or a fake upstream's ASGI
    transport) the environment is ignored, so an ambient proxy variable can never route a test
    around its fake. Redirects are not followed, and cookies are never kept.
    """
    limits = http_limits(settings)
    mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None
    if transport is None:
        ssl_context = client_ssl_context()
        pool_timeout = settings.pool_timeout_seconds
        transport = _BoundedTransport(
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, trust_env=False),
            pool_timeout=pool_timeout,
            proxied=False,
        )
        mounts = {
            pattern: None
            if mounted is None
            else _BoundedTransport(mounted, pool_timeout=pool_timeout, proxied=True)
            for pattern, mounted in environment_proxy_mounts(
                ssl_context=ssl_context, limits=limits
            ).items()
        }
    return UpstreamClient(
        transport=transport,
        mounts=mounts,
        trust_env=False,  # proxies and CAs were read above; ~/.netrc is never consulted
        timeout=http_timeout(settings),
        limits=limits,
        follow_redirects=False,
        headers={"User-Agent": DEFAULT_USER_AGENT},
    )
