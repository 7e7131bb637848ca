"""The one place an upstream ``httpx.AsyncClient`` is built.

Plugins get the shared client from their context and never build their own, so pool limits,
timeouts and proxy settings are the same everywhere and tests can swap the transport.
"""

from __future__ import annotations

from typing import Any

import httpx

from ccproxy._version import __version__
from ccproxy.config.settings import HttpSettings

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
    so it is generous); ``write`` uses the same idle limit for large request bodies; waiting for
    a free pooled connection (``pool``) is bounded like opening one (``connect``).
    """
    return httpx.Timeout(
        connect=settings.connect_timeout_seconds,
        read=settings.read_timeout_seconds,
        write=settings.read_timeout_seconds,
        pool=settings.connect_timeout_seconds,
    )


def http_limits(settings: HttpSettings) -> httpx.Limits:
    """Connection pool limits of the shared client."""
    return httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive_connections,
    )


class UpstreamClient(httpx.AsyncClient):
    """The shared client, with a lean send for the proxy's hot path.

    ``send_prepared`` hands a request straight to the transport: no base-URL merging, auth,
    redirect or event-hook machinery (the proxy uses none of them), which is a sizeable share of
    the proxy's own time per request. The client's default headers, timeouts and cookie jar are
    still applied, so the bytes on the wire match :meth:`httpx.AsyncClient.send`.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        # With no transport given, httpx picks one per URL (proxy mounts): send normally then.
        self._direct_transport = transport
        self._timeout_extension = self.timeout.as_dict()

    async def send_prepared(
        self, method: str, url: httpx.URL, headers: dict[str, str], content: bytes
    ) -> httpx.Response:
        """Send ``content`` to ``url`` and return the response unread (``stream=True``)."""
        transport = self._direct_transport
        if transport is None:
            request = self.build_request(method, url, headers=headers, content=content)
            return await self.send(request, stream=True)
        # The client's defaults, each replaced in place by a request header of the same name:
        # the order httpx's own merge gives, without building two Headers objects to get it.
        merged = {name.lower(): (name, value) for name, value in self.headers.raw}
        for name, value in headers.items():
            key = name.encode("latin-1")
            merged[key.lower()] = (key, value.encode("latin-1"))
        request = httpx.Request(
            method,
            url,
            headers=list(merged.values()),
            content=content,
            extensions={"timeout": self._timeout_extension},
        )
        if self.cookies.jar:
            self.cookies.set_cookie_header(request)
        response = await transport.handle_async_request(request)
        try:
            response.request  # noqa: B018 - our transports attach a slim copy of the request
        except RuntimeError:
            response.request = request
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        return response


async def send_upstream(
    client: httpx.AsyncClient, method: str, url: httpx.URL, headers: dict[str, str], content: bytes
) -> httpx.Response:
    """Send one upstream request with ``client`` (lean when it is an :class:`UpstreamClient`)."""
    if isinstance(client, UpstreamClient):
        return await client.send_prepared(method, url, headers, content)
    request = client.build_request(method, url, headers=headers, content=content)
    return await client.send(request, stream=True)


def build_http_client(
    settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Build the shared upstream client.

    Without ``transport`` requests go out through aiohttp (``http.backend``, see
    ``ccproxy.http_aiohttp``) or httpx's own transport.

    Without ``transport`` the client reads proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) and CA
    settings from the environment. With one (tests pass ``httpx.MockTransport`` or a fake
    upstream's ASGI transport) the environment is ignored, so an ambient proxy variable can never
    route a test around its fake. Redirects are not followed: the proxy relays them as received.
    """
    if transport is None and settings.backend != "httpx":
        if settings.backend == "native":
            from ccproxy.http_native import NativeTransport

            transport = NativeTransport(settings)
        else:
            from ccproxy.http_aiohttp import AiohttpTransport

            transport = AiohttpTransport(settings)
        return UpstreamClient(
            transport=transport,
            trust_env=False,  # the transport reads proxies from the environment itself
            timeout=http_timeout(settings),
            follow_redirects=False,
            headers={"User-Agent": DEFAULT_USER_AGENT},
        )
    return UpstreamClient(
        transport=transport,
        trust_env=transport is None,
        timeout=http_timeout(settings),
        limits=http_limits(settings),
        follow_redirects=False,
        headers={"User-Agent": DEFAULT_USER_AGENT},
    )
