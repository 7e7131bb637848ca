"""The one place an upstream ``httpx.AsyncClient`` is built.

Plugins get the shared client from their context and never build their own, so pool limits,
timeouts and proxy settings are the same everywhere and tests can swap the transport.
"""

from __future__ import annotations

import httpx

from ccproxy._version import __version__
from ccproxy.config.settings import HttpSettings

__all__ = ["DEFAULT_USER_AGENT", "build_http_client", "http_limits", "http_timeout"]

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
    if transport is None and settings.backend == "aiohttp":
        from ccproxy.http_aiohttp import AiohttpTransport

        return httpx.AsyncClient(
            transport=AiohttpTransport(settings),
            trust_env=False,  # the transport reads proxies from the environment itself
            timeout=http_timeout(settings),
            follow_redirects=False,
            headers={"User-Agent": DEFAULT_USER_AGENT},
        )
    return httpx.AsyncClient(
        transport=transport,
        trust_env=transport is None,
        timeout=http_timeout(settings),
        limits=http_limits(settings),
        follow_redirects=False,
        headers={"User-Agent": DEFAULT_USER_AGENT},
    )
