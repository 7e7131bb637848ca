"""Subscription usage windows read from the rate-limit headers a record carries.

Anthropic (Claude subscriptions) sends, per window (``5h``, ``7d``, ``7d_opus`` …)::

    anthropic-ratelimit-unified-<window>-utilization: 0.12        (fraction used, 0..1)
    anthropic-ratelimit-unified-<window>-reset: 1767225600        (epoch seconds)

The ChatGPT Codex backend sends, for its ``primary`` and ``secondary`` windows::

    x-codex-primary-used-percent: 12.5                            (0..100)
    x-codex-primary-reset-after-seconds: 3600                     (relative to now)

Both become a used ratio (0..1) and an absolute reset time in epoch seconds. Values that do
not parse are ignored: a header is a hint, never a reason to fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["WindowReading", "read_windows"]

_ANTHROPIC = re.compile(
    r"^anthropic-ratelimit-unified-(?P<window>\d+[a-z]+(?:_[a-z0-9]+)*)-(?P<field>utilization|reset)$"
)
_CODEX = re.compile(
    r"^x-codex-(?P<window>primary|secondary)-(?P<field>used-percent|reset-after-seconds|reset-at)$"
)


@dataclass(frozen=True)
class WindowReading:
    """What one response said about one window; either value may be missing."""

    used_ratio: float | None = None
    reset_at: float | None = None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _instant(text: str) -> float | None:
    """Epoch seconds, or an ISO 8601 time (naive means UTC)."""
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read_windows(rate_limits: Mapping[str, str], *, now: float) -> dict[str, WindowReading]:
    """Window name → reading, from one record's allow-listed rate-limit headers."""
    used: dict[str, float] = {}
    reset: dict[str, float] = {}
    reset_at_fallback: dict[str, float] = {}
    for raw_name, raw_value in rate_limits.items():
        name = raw_name.lower()
        value = str(raw_value)
        if match := _ANTHROPIC.match(name):
            window, field = match["window"], match["field"]
            if field == "utilization":
                if (ratio := _number(value)) is not None:
                    used[window] = ratio
            elif (instant := _instant(value)) is not None:
                reset[window] = instant
        elif match := _CODEX.match(name):
            window, field = match["window"], match["field"]
            if field == "used-percent":
                if (percent := _number(value)) is not None:
                    used[window] = percent / 100.0
            elif field == "reset-after-seconds":
                if (seconds := _number(value)) is not None:
                    reset[window] = now + seconds
            elif (instant := _instant(value)) is not None:
                reset_at_fallback[window] = instant
    for window, instant in reset_at_fallback.items():
        reset.setdefault(window, instant)
    return {
        window: WindowReading(used_ratio=used.get(window), reset_at=reset.get(window))
        for window in sorted(used.keys() | reset.keys())
    }
