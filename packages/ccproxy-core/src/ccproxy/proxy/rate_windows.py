"""Reading the subscription windows an upstream announces: when a 429 ends, and paid overage.

Claude sends ``anthropic-ratelimit-unified-*`` headers (``-status`` allowed | allowed_warning |
rejected, ``-reset`` in epoch seconds, per window ``-5h-*`` and ``-7d-*``, and ``-overage-*`` for
paid extra usage). Codex sends ``x-codex-primary-*`` and ``x-codex-secondary-*`` (``-used-percent``,
``-reset-after-seconds``) and, on a 429, ``resets_in_seconds`` / ``resets_at`` in the error.
Any upstream may send ``retry-after`` (seconds or an HTTP date).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["DEFAULT_COOLDOWN_SECONDS", "cooldown_seconds", "served_from_overage"]

#: How long an account rests after a 429 that says nothing about its reset.
DEFAULT_COOLDOWN_SECONDS = 60.0
#: A reset further away than this is taken for a misread and capped (a week and a day).
_MAX_COOLDOWN_SECONDS = 8 * 24 * 3600.0

_CLAUDE = "anthropic-ratelimit-unified-"
_CODEX_WINDOWS = ("x-codex-primary-", "x-codex-secondary-")


def cooldown_seconds(
    headers: Mapping[str, str], body: bytes = b"", *, now: float | None = None
) -> float:
    """Seconds until the window that refused a request resets (at least 1).

    Takes the latest reset among the signals that say the account is exhausted; without any,
    ``retry-after``; without that, :data:`DEFAULT_COOLDOWN_SECONDS`.
    """
    now = time.time() if now is None else now
    lower = {name.lower(): value for name, value in headers.items()}
    found = [
        seconds
        for seconds in (
            _claude_reset(lower, now),
            _codex_reset(lower),
            _body_reset(body, now),
            _retry_after(lower.get("retry-after"), now),
        )
        if seconds is not None
    ]
    seconds = max(found) if found else DEFAULT_COOLDOWN_SECONDS
    return min(max(seconds, 1.0), _MAX_COOLDOWN_SECONDS)


def served_from_overage(headers: Mapping[str, str]) -> bool:
    """Whether the upstream says this answer was paid from extra usage beyond the plan."""
    lower = {name.lower(): value.strip().lower() for name, value in headers.items()}
    if lower.get(f"{_CLAUDE}overage-in-use") == "true":
        return True
    if lower.get(f"{_CLAUDE}representative-claim") == "overage":
        return True
    plan_exhausted = lower.get(f"{_CLAUDE}status") == "rejected"
    return plan_exhausted and lower.get(f"{_CLAUDE}overage-status") in (
        "allowed",
        "allowed_warning",
    )


def _claude_reset(headers: Mapping[str, str], now: float) -> float | None:
    resets: list[float] = []
    for window in ("", "5h-", "7d-", "7d_opus-", "7d_sonnet-"):
        if headers.get(f"{_CLAUDE}{window}status", "").strip().lower() != "rejected":
            continue
        at = _number(headers.get(f"{_CLAUDE}{window}reset"))
        if at is not None:
            resets.append(at - now)
    return max(resets) if resets else None


def _codex_reset(headers: Mapping[str, str]) -> float | None:
    exhausted: list[float] = []
    for window in _CODEX_WINDOWS:
        used = _number(headers.get(f"{window}used-percent"))
        after = _number(headers.get(f"{window}reset-after-seconds"))
        if used is not None and used >= 100 and after is not None:
            exhausted.append(after)
    return max(exhausted) if exhausted else None


def _body_reset(body: bytes, now: float) -> float | None:
    if not body:
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    in_seconds = _number(error.get("resets_in_seconds"))
    if in_seconds is not None:
        return in_seconds
    at = _number(error.get("resets_at"))
    return None if at is None else at - now


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
