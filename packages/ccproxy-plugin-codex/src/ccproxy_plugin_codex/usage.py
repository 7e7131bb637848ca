"""The subscription usage windows last reported by the Codex backend.

Every Codex response carries ``x-codex-primary-*`` (the 5-hour window) and ``x-codex-secondary-*``
(the weekly window) headers. The core records them on each ``RequestRecord.rate_limits``; a
``REQUEST_COMPLETED`` hook keeps the latest ones so that ``GET /oauth/codex/status`` and
``ccproxy auth status codex`` can show them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ccproxy.plugins import HookEvent, HookPayload, RequestCompleted
from ccproxy_plugin_codex.credentials import PROVIDER

__all__ = ["USAGE_HEADER_PREFIX", "UsageWindowsHook", "parse_windows"]

USAGE_HEADER_PREFIX = "x-codex-"
_WINDOWS = ("primary", "secondary")
_FIELDS = {
    "used-percent": ("used_percent", float),
    "window-minutes": ("window_minutes", int),
    "reset-after-seconds": ("reset_after_seconds", int),
    "reset-at": ("reset_at", int),
}


def parse_windows(headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``{"primary": {"used_percent": 12.0, ...}, "secondary": {...}}`` from ``x-codex-*`` headers.

    Values that do not parse are skipped; unknown ``x-codex-*`` headers stay in the raw map only.
    """
    windows: dict[str, dict[str, Any]] = {}
    for window in _WINDOWS:
        prefix = f"{USAGE_HEADER_PREFIX}{window}-"
        parsed: dict[str, Any] = {}
        for suffix, (name, kind) in _FIELDS.items():
            raw = headers.get(prefix + suffix)
            if raw is None:
                continue
            try:
                parsed[name] = kind(float(raw))
            except ValueError:
                continue
        if parsed:
            windows[window] = parsed
    return windows


class UsageWindowsHook:
    """``REQUEST_COMPLETED`` hook: keeps the latest ``x-codex-*`` headers of ``codex`` responses,
    when they were seen and on which request."""

    name = "codex_usage_windows"
    priority = 500

    def __init__(self) -> None:
        self.events = [HookEvent.REQUEST_COMPLETED]
        self.headers: dict[str, str] = {}
        self.seen_at: float | None = None
        self.request_id: str | None = None
        self.account: str | None = None

    async def __call__(self, event: HookPayload) -> None:
        if not isinstance(event, RequestCompleted) or event.record.provider != PROVIDER:
            return
        record = event.record
        seen = {
            name: value
            for name, value in record.rate_limits.items()
            if name.lower().startswith(USAGE_HEADER_PREFIX)
        }
        if seen:
            self.headers, self.seen_at = seen, time.time()
            self.request_id, self.account = record.request_id, record.account

    def snapshot(self) -> dict[str, Any]:
        """``{"usage": ...}`` as served at ``/oauth/codex/status`` (``None`` before any response)."""
        if self.seen_at is None:
            return {"usage": None}
        seen = datetime.fromtimestamp(self.seen_at, UTC)
        return {
            "usage": {
                "seen_at": seen.isoformat().replace("+00:00", "Z"),
                "age_seconds": max(0, int(time.time() - self.seen_at)),
                "request_id": self.request_id,
                "account": self.account,
                "windows": parse_windows(self.headers),
                "headers": dict(self.headers),
            }
        }
