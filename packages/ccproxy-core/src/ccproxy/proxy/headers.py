"""Which headers cross the proxy, in each direction (DESIGN §4 "Header policy")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "RATE_LIMIT_PREFIXES",
    "client_to_upstream_headers",
    "merge_beta_header",
    "rate_limit_headers",
    "upstream_to_client_headers",
]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_DROP_TO_UPSTREAM = _HOP_BY_HOP | {
    "authorization",
    "x-api-key",
    "cookie",
    "host",
    "content-length",
    "accept-encoding",
    # The body sent upstream is always JSON that ccproxy encoded itself, never compressed.
    "content-encoding",
    "origin",
    "referer",
}
# ccproxy is a gateway: to its client it is the origin server (RFC 9110 §3.7), and its server
# (uvicorn) adds the Date an origin server must send (§6.6.1); relaying the upstream's too
# would send two. Server and Alt-Svc describe the upstream's own front end, not ccproxy.
_DROP_TO_CLIENT = _HOP_BY_HOP | {
    "content-length",
    "content-encoding",
    "set-cookie",
    "date",
    "server",
    "alt-svc",
}

#: Upstream response headers worth recording (subscription windows and limits).
RATE_LIMIT_PREFIXES: tuple[str, ...] = (
    "anthropic-ratelimit-",
    "x-codex-",
    "x-ratelimit-",
    "retry-after",
)


def client_to_upstream_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The client's headers minus credentials, hop-by-hop and transport headers.

    ``accept-encoding: identity`` is set so that upstream bytes can be relayed untouched.
    """
    headers = list(headers)
    dropped = _DROP_TO_UPSTREAM | _connection_options(headers)
    result: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or lower.startswith(("x-forwarded-", "sec-")):
            continue
        result[lower] = f"{result[lower]}, {value}" if lower in result else value
    result["accept-encoding"] = "identity"
    return result


def upstream_to_client_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The upstream's response headers minus hop-by-hop (those ``Connection`` names too),
    length, encoding, cookies and the upstream's ``Date``, ``Server`` and ``Alt-Svc``."""
    headers = list(headers)
    dropped = _DROP_TO_CLIENT | _connection_options(headers)
    result: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or lower == "content-type":
            continue
        result[lower] = value
    return result


def _connection_options(headers: list[tuple[str, str]]) -> frozenset[str]:
    """The header names a ``Connection`` header lists: hop-by-hop too (RFC 9110 §7.6.1)."""
    return frozenset(
        option.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for option in value.split(",")
        if option.strip()
    )


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed rate-limit and usage-window headers of an upstream response."""
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith(RATE_LIMIT_PREFIXES)
    }


def merge_beta_header(client_value: str | None, required: Iterable[str]) -> str | None:
    """The client's comma-separated beta tags plus ``required`` ones, order kept, no duplicates."""
    tags: list[str] = []
    for tag in (client_value or "").split(","):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    for tag in required:
        if tag not in tags:
            tags.append(tag)
    return ",".join(tags) if tags else None
