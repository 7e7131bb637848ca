"""The ``anthropic-ratelimit-unified-*`` windows as lines of ``ccproxy auth status claude``.

The headers come from the running server's ``/oauth/claude/status``; they carry no secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Final

from ccproxy.plugins.cli import in_words, window_label

__all__ = ["rate_limit_lines"]

_WINDOW_HEADER: Final = re.compile(
    r"^anthropic-ratelimit-unified-(?:(?P<window>.+?)-)?(?P<field>status|reset|utilization|"
    r"remaining|limit|fallback-percentage|representative-claim|overage-status|overage-reset)$"
)

# A window's name in the headers: its length (5h, 7d) and what it counts (7d_opus).
_WINDOW_NAME: Final = re.compile(r"^(?P<count>\d+)(?P<unit>[mhd])(?:_(?P<scope>.+))?$")
_UNIT_MINUTES: Final = {"m": 1, "h": 60, "d": 1440}


def _label(window: str) -> str:
    """``5h`` → ``5-hour window``, ``7d_opus`` → ``weekly window (opus)``, as codex words them."""
    match = _WINDOW_NAME.match(window)
    if match is None:
        return window  # "overall", or a name this version does not know
    minutes = int(match["count"]) * _UNIT_MINUTES[match["unit"]]
    return window_label(minutes, window, scope=(match["scope"] or "").replace("_", " "))


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
    for window in order:
        lines.append(f"  {_label(window)}: {_describe_window(windows[window], now)}")
    for name, value in other.items():
        lines.append(f"  {name}: {value}")
    return lines
