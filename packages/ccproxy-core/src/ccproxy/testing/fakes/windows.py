"""Subscription windows per account for the model fakes: a request budget that resets.

Each bearer token is one account with ``limit`` requests per window of ``window_seconds``; the
request after the last one allowed is refused with 429 until the window resets. The fakes turn
a verdict into their upstream's own headers and error bodies.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["AccountWindows", "WindowVerdict"]


@dataclass(frozen=True)
class WindowVerdict:
    """Whether one request fits its account's window, and that window's state after it."""

    allowed: bool
    used: int
    limit: int
    reset_at: float
    now: float

    @property
    def utilization(self) -> float:
        """The share of the window used, 0 to 1."""
        return min(1.0, self.used / self.limit) if self.limit > 0 else 1.0

    @property
    def reset_after(self) -> float:
        """Seconds until the window resets."""
        return max(0.0, self.reset_at - self.now)


class AccountWindows:
    """``limits``: bearer token → requests its window allows (a token not listed is unlimited)."""

    def __init__(
        self,
        limits: Mapping[str, int],
        *,
        window_seconds: float = 5 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(limits)
        self.window_seconds = window_seconds
        self._clock = clock
        self._started: dict[str, float] = {}
        self._used: Counter[str] = Counter()
        #: Requests served (not refused) per token.
        self.served: Counter[str] = Counter()
        #: Requests refused with 429 per token.
        self.refused: Counter[str] = Counter()

    def admit(self, token: str) -> WindowVerdict | None:
        """Count one request of ``token`` against its window (None: the token has none)."""
        now = self._clock()
        limit = self.limits.get(token)
        if limit is None:
            self.served[token] += 1
            return None
        started = self._started.setdefault(token, now)
        if now >= started + self.window_seconds:
            self._started[token], self._used[token] = now, 0
            started = now
        reset_at = started + self.window_seconds
        if self._used[token] >= limit:
            self.refused[token] += 1
            return WindowVerdict(False, self._used[token], limit, reset_at, now)
        self._used[token] += 1
        self.served[token] += 1
        return WindowVerdict(True, self._used[token], limit, reset_at, now)

    def exhaust(self, token: str) -> None:
        """Use up ``token``'s current window."""
        self._started.setdefault(token, self._clock())
        self._used[token] = self.limits.get(token, 0)
