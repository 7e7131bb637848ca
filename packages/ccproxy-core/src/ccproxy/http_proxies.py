"""Upstream proxies from the environment, as httpx's mount patterns.

``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case) are read once, when
the client is built, with the rules httpx's own ``trust_env`` applies. They are mounted here rather
than by httpx so that an ``https://`` proxy is verified with ccproxy's TLS context (httpx would
give the proxy leg certifi's bundle, rebuilt per connection) and so that a value httpx cannot use
is logged instead of stopping the server. ``socks5://`` and ``socks5h://`` go through httpx's
SOCKS transport.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request

import httpx

from ccproxy.logging import get_logger

__all__ = ["environment_proxy_mounts", "proxy_url"]

_SUPPORTED_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_url(value: str) -> httpx.URL | None:
    """The proxy a variable's ``value`` names; ``host:port`` means ``http://host:port``.

    None (with a log line) when it is not a proxy httpx can speak to.
    """
    value = value.strip()
    if "://" not in value:
        get_logger("ccproxy.http").info("proxy_scheme_assumed", proxy=value, scheme="http")
        value = f"http://{value}"
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in _SUPPORTED_SCHEMES or not url.host:
        get_logger("ccproxy.http").warning(
            "proxy_ignored",
            proxy=value.rpartition("@")[2],  # never the credentials
            reason=f"not a {', '.join(_SUPPORTED_SCHEMES)} proxy URL",
        )
        return None
    return url


def _bypass_pattern(host: str) -> str:
    """The mount pattern of one ``NO_PROXY`` entry (a host, its subdomains, an address)."""
    if "://" in host:
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        # "example.com" covers the host and its subdomains; ".example.com" only subdomains.
        return f"all://*{host}"
    return f"all://[{address}]" if address.version == 6 else f"all://{address}"


def environment_proxy_mounts(
    *, ssl_context: ssl.SSLContext, limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``mounts`` for :class:`httpx.AsyncClient`: a proxy transport per configured scheme, and
    ``None`` (the client's direct transport) for each ``NO_PROXY`` host."""
    variables = urllib.request.getproxies()
    bypass = [host.strip() for host in variables.get("no", "").split(",") if host.strip()]
    if "*" in bypass:
        return {}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for scheme in ("http", "https", "all"):
        value = variables.get(scheme)
        url = proxy_url(value) if value else None
        if url is None:
            continue
        proxy = httpx.Proxy(url, ssl_context=ssl_context if url.scheme == "https" else None)
        mounts[f"{scheme}://"] = httpx.AsyncHTTPTransport(
            verify=ssl_context, limits=limits, proxy=proxy, trust_env=False
        )
    if mounts:
        mounts.update(dict.fromkeys(map(_bypass_pattern, bypass)))
    return mounts
