"""``RequestRecord``: what one proxied request was, for hooks, logs, metrics and the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccproxy.llm.ir import Usage

__all__ = ["RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One per proxied request, emitted with ``REQUEST_COMPLETED`` (DESIGN §3.4)."""

    #: The request's id.
    request_id: str
    #: The provider that served it.
    provider: str
    #: The route template it came in on (e.g. ``/claude/v1/messages``).
    route: str
    #: The client's wire format: ``anthropic``, ``chat`` or ``responses``.
    client_format: str
    #: The upstream's wire format.
    upstream_format: str
    #: The model the client asked for.
    client_model: str | None
    #: The model sent upstream (after aliases).
    upstream_model: str | None
    #: Whether the client asked for a stream.
    streaming: bool
    #: The status the client got.
    status_code: int
    #: Why it failed (``upstream_429``, ``client_disconnect``, ...); None on success.
    error_kind: str | None = None
    #: Seconds from the request's arrival to its last byte.
    duration_s: float = 0.0
    #: Seconds until the upstream's first byte.
    ttfb_s: float | None = None
    #: Tokens used, normalised across providers.
    usage: Usage = field(default_factory=Usage)
    #: The upstream's rate-limit window headers.
    rate_limits: dict[str, str] = field(default_factory=dict)
    #: The account that served it: its name in an account pool, else the credential's id.
    account: str | None = None
    #: Provider-specific facts worth counting, set by the provider's adapter
    #: (``ProviderAdapter.edit_upstream_request``), e.g. GitHub Copilot's
    #: ``{"initiator": "user"}`` (a premium request) or ``"agent"``. Empty for most providers.
    tags: dict[str, str] = field(default_factory=dict)

    def to_log(self) -> dict[str, Any]:
        """Fields for the one INFO log event per request (built by hand: ``asdict`` deep-copies)."""
        usage = self.usage
        return {
            "request_id": self.request_id,
            "provider": self.provider,
            "route": self.route,
            "client_format": self.client_format,
            "upstream_format": self.upstream_format,
            "client_model": self.client_model,
            "upstream_model": self.upstream_model,
            "streaming": self.streaming,
            "status_code": self.status_code,
            "error_kind": self.error_kind,
            "duration_s": round(self.duration_s, 6),
            "ttfb_s": None if self.ttfb_s is None else round(self.ttfb_s, 6),
            "usage": {
                "input": usage.input,
                "output": usage.output,
                "cache_read": usage.cache_read,
                "cache_write_5m": usage.cache_write_5m,
                "cache_write_1h": usage.cache_write_1h,
                "reasoning": usage.reasoning,
            },
            "rate_limits": self.rate_limits,
            "account": self.account,
            "tags": self.tags,
        }
