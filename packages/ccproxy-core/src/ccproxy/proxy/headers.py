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
    "origin",
    "referer",
}
_DROP_TO_CLIENT = _HOP_BY_HOP | {"content-length", "content-encoding", "set-cookie"}

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
    result: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _DROP_TO_UPSTREAM or lower.startswith(("x-forwarded-", "sec-")):
            continue
        result[lower] = f"{result[lower]}, {value}" if lower in result else value
    result["accept-encoding"] = "identity"
    return result


def upstream_to_client_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The upstream's response headers minus hop-by-hop, length, encoding and cookies."""
    result: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _DROP_TO_CLIENT or lower == "content-type":
            continue
        result[lower] = value
    return result


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
