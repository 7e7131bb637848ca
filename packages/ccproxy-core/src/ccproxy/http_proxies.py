"""Which proxy an upstream request goes through, from the environment as it was at start-up.

``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case) are read once, when
the client is built, as httpx does; answers are cached per scheme and host.
"""

from __future__ import annotations

import urllib.request

import httpx

__all__ = ["EnvironmentProxies"]

_MAX_CACHED_HOSTS = 1024


class EnvironmentProxies:
    """The proxy settings of the environment, resolved per upstream URL."""

    def __init__(self) -> None:
        self._proxies = urllib.request.getproxies_environment()
        self._cache: dict[tuple[str, str], httpx.URL | None] = {}

    def proxy_for(self, url: httpx.URL) -> httpx.URL | None:
        """The proxy a request to ``url`` goes through (None: straight to the host)."""
        key = (url.scheme, url.host)
        try:
            return self._cache[key]
        except KeyError:
            pass
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        # CPython's NO_PROXY matcher (undocumented but present in every supported version).
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if proxy and bypass(url.host, self._proxies):
            proxy = None
        if len(self._cache) >= _MAX_CACHED_HOSTS:  # hosts come from configuration; stay bounded
            self._cache.clear()
        resolved = self._cache[key] = httpx.URL(proxy) if proxy else None
        return resolved
