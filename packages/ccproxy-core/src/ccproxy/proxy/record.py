"""``RequestRecord``: what one proxied request was, for hooks, logs, metrics and the ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ccproxy.llm.ir import Usage

__all__ = ["RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One per proxied request, emitted with ``REQUEST_COMPLETED`` (DESIGN §3.4)."""

    request_id: str
    provider: str
    route: str
    client_format: str
    upstream_format: str
    client_model: str | None
    upstream_model: str | None
    streaming: bool
    status_code: int
    error_kind: str | None = None
    duration_s: float = 0.0
    ttfb_s: float | None = None
    usage: Usage = field(default_factory=Usage)
    rate_limits: dict[str, str] = field(default_factory=dict)
    account: str | None = None

    def to_log(self) -> dict[str, Any]:
        """Flat fields for the one INFO log event per request."""
        data = asdict(self)
        data["usage"] = asdict(self.usage)
        return data
