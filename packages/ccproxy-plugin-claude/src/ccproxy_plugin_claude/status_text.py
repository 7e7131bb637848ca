"""Text of ``ccproxy auth status claude``: credential facts, expiry in words, rate-limit windows.

Everything here formats facts that carry no secret (``TokenManager.status()`` and the server's
``/oauth/claude/status``); tokens never reach this module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["credential_lines", "in_words", "rate_limit_lines"]

_UNITS: Final = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
_WINDOW_HEADER: Final = re.compile(
    r"^anthropic-ratelimit-unified-(?:(?P<window>.+?)-)?(?P<field>status|reset|utilization|"
    r"remaining|limit|fallback-percentage|representative-claim|overage-status|overage-reset)$"
)


def in_words(seconds: float) -> str:
    """``3600*7+5`` → ``"in 7 hours"``; ``-90`` → ``"1 minute ago"``; within a second: ``"now"``."""
    amount = abs(seconds)
    if amount < 1:
        return "now"
    for unit, size in _UNITS:
        if amount >= size:
            count = int(amount // size)
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if seconds > 0 else f"{text} ago"
    raise AssertionError("unreachable")


def _when(iso: str | None, now: float) -> str:
    if not iso:
        return "unknown"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{in_words(moment.timestamp() - now)} ({stamp})"


def credential_lines(status: Mapping[str, Any], *, now: float | None = None) -> list[str]:
    """Lines describing ``TokenManager.status()`` (account, plan, expiry, file)."""
    now = time.time() if now is None else now
    source = str(status.get("source") or "")
    if status.get("path") is None:
        where = source.partition(":")[2] or source
        return [
            f"Claude credential: a long-lived token from {where}",
            "  used as is and never refreshed (make one with `claude setup-token`)",
        ]
    lines = [f"Claude credentials: {status['path']}"]
    if not status.get("has_credentials"):
        problem = status.get("error") or "no credentials stored there"
        lines.append(f"  {problem}")
        lines.append("  log in with `ccproxy auth login claude`")
        return lines
    expires = _when(status.get("expires_at"), now)
    if status.get("expired"):
        expires = f"EXPIRED {expires}"
    refresh = (
        "automatic (a refresh token is stored)"
        if status.get("refreshable")
        else "not possible (no refresh token): log in again when it expires"
    )
    lines += [
        f"  account:      {status.get('account_id') or 'unknown (not recorded in the file)'}",
        f"  subscription: {status.get('plan') or 'unknown'}",
        f"  expires:      {expires}",
        f"  refresh:      {refresh}",
        f"  scopes:       {' '.join(status.get('scopes') or []) or 'unknown'}",
    ]
    return lines


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


def rate_limit_lines(
    headers: Mapping[str, str], *, seen_at: str | None = None, now: float | None = None
) -> list[str]:
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
    if not windows and not other:
        return ["  none seen yet (they arrive with the first proxied request)"]
    lines = []
    if seen_at:
        lines.append(f"  last seen {_when(seen_at, now)}")
    order = sorted(windows, key=lambda w: (w != "overall", w))
    width = max((len(w) for w in order), default=0) + 1
    for window in order:
        lines.append(f"  {(window + ':').ljust(width)} {_describe_window(windows[window], now)}")
    for name, value in other.items():
        lines.append(f"  {name}: {value}")
    return lines
