"""An httpx transport that sends requests with aiohttp.

Plugins and tests see ``httpx`` everywhere (``context.http_client``, injected transports); under
it, the default backend is aiohttp, whose C-accelerated HTTP/1.1 client costs about a third of
httpcore's time per request — the largest share of the proxy's own latency. Bytes are relayed
raw (no automatic decompression), so httpx decodes exactly as it would with its own transport.
aiohttp is imported on the first request, not at start-up.

Proxies come from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``)
read once, when the transport is built, as httpx does. aiohttp's own ``trust_env`` is off: it
re-reads the environment and the ``~/.netrc`` file in a worker thread on every request, which
cost more than the rest of the upstream call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from ccproxy.http_proxies import EnvironmentProxies

if TYPE_CHECKING:
    import aiohttp

    from ccproxy.config.settings import HttpSettings

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` backed by one ``aiohttp.ClientSession`` (created lazily on the
    running loop, closed with the client). Proxies come from the environment as it was when the
    transport was built."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._proxies = EnvironmentProxies()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            settings = self._settings
            connector = aiohttp.TCPConnector(
                limit=settings.max_connections,
                limit_per_host=0,
                keepalive_timeout=30,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=settings.connect_timeout_seconds,
                    sock_read=settings.read_timeout_seconds,
                ),
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        session = self._get_session()
        data: bytes | AsyncIterator[bytes]
        if isinstance(request.stream, httpx.ByteStream):
            data = request.content
        else:
            data = _request_body(request)
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=data,
                proxy=_proxy_url(self._proxies.proxy_for(request.url)),
                allow_redirects=False,
                compress=None,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=_ResponseStream(response, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _proxy_url(proxy: httpx.URL | None) -> str | None:
    return str(proxy) if proxy is not None else None


async def _request_body(request: httpx.Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream:  # type: ignore[union-attr]
        yield chunk


class _ResponseStream(httpx.AsyncByteStream):
    """The body as aiohttp receives it; releases the connection when done, drops it when not."""

    def __init__(self, response: Any, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
            self._finished = True
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=self._request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc), request=self._request) from exc

    async def aclose(self) -> None:
        if self._finished:
            self._response.release()
        else:
            # An unfinished body cannot be reused: close the connection, which also tells the
            # upstream to stop (client disconnect reaches the upstream).
            self._response.close()
