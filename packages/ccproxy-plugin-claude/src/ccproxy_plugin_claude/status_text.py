"""Text of ``ccproxy auth status claude``: credential facts, expiry in words, rate-limit windows.

Everything here formats facts that carry no secret (``TokenManager.status()`` and the server's
``/oauth/claude/status``); tokens never reach this module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final

from ccproxy.plugins.cli import credential_lines as shared_credential_lines
from ccproxy.plugins.cli import in_words

__all__ = ["credential_lines", "rate_limit_lines"]

_WINDOW_HEADER: Final = re.compile(
    r"^anthropic-ratelimit-unified-(?:(?P<window>.+?)-)?(?P<field>status|reset|utilization|"
    r"remaining|limit|fallback-percentage|representative-claim|overage-status|overage-reset)$"
)


def credential_lines(status: Mapping[str, Any], *, now: float | None = None) -> list[str]:
    """Lines describing ``TokenManager.status()`` (file, account, plan, expiry, refresh, scopes)."""
    source = str(status.get("source") or "")
    if status.get("path") is None:
        where = source.partition(":")[2] or source
        return [
            f"Claude credentials: a long-lived token from {where}",
            "  refresh:  never (it is used as is; make a new one with `claude setup-token`)",
        ]
    scopes = " ".join(status.get("scopes") or []) or "unknown"
    return shared_credential_lines(
        "Claude",
        status,
        login_command="ccproxy auth login claude",
        extra=[("scopes", scopes)],
        now=now,
    )


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _describe_window(fields: Mapping[str, str], now: float) -> str:
    parts: list[str] = []
    if "status" in fields:
        parts.append(fields["status"])
    utilization = _number(fields.get("utilization", ""))
    if utilization is not None:
        percent = utilization * 100 if utilization <= 1 else utilization
        parts.append(f"{percent:.0f}% used")
    reset = _number(fields.get("reset", ""))
    if reset is not None:
        parts.append(f"resets {in_words(reset - now)}")
    for name, value in fields.items():
        if name not in ("status", "utilization", "reset"):
            parts.append(f"{name} {value}")
    return ", ".join(parts)


def rate_limit_lines(headers: Mapping[str, str], *, now: float | None = None) -> list[str]:
    """The unified windows (overall, 5h, 7d, ...) from ``anthropic-ratelimit-unified-*`` headers."""
    now = time.time() if now is None else now
    windows: dict[str, dict[str, str]] = {}
    other: dict[str, str] = {}
    for name, value in sorted(headers.items()):
        match = _WINDOW_HEADER.match(name.lower())
        if match is None:
            other[name] = value
            continue
        window = match["window"] or "overall"
        windows.setdefault(window, {})[match["field"]] = value
    lines = []
    order = sorted(windows, key=lambda w: (w != "overall", w))
    width = max((len(w) for w in order), default=0) + 1
    for window in order:
        lines.append(f"  {(window + ':').ljust(width)} {_describe_window(windows[window], now)}")
    for name, value in other.items():
        lines.append(f"  {name}: {value}")
    return lines
