"""A generic poll loop for OAuth device-code flows (RFC 8628 style).

The provider-specific requests live in the plugins; this module only knows how to wait: call an
async function every ``interval`` seconds until it returns something other than :class:`Pending`,
slowing down by 5 seconds whenever it asks to, and give up after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from ccproxy.auth.errors import AuthError

__all__ = [
    "PENDING",
    "SLOW_DOWN",
    "DeviceFlowTimeout",
    "Pending",
    "PollResult",
    "poll_until",
]

T = TypeVar("T")

#: RFC 8628 §3.5: on ``slow_down`` the interval grows by 5 seconds for all later polls.
SLOW_DOWN_STEP: Final = 5.0


@dataclass(frozen=True)
class Pending:
    """Returned by a poll function while the user has not finished (``slow_down``: poll less)."""

    slow_down: bool = False


#: The user has not approved yet (``authorization_pending``, or Codex's 403/404).
PENDING: Final = Pending()
#: The server asked to poll less often (``slow_down``).
SLOW_DOWN: Final = Pending(slow_down=True)


@dataclass(frozen=True)
class PollResult(Generic[T]):
    """The value the poll function finally returned, with how long it took to get it."""

    value: T
    attempts: int
    elapsed_seconds: float
    interval: float


class DeviceFlowTimeout(AuthError):
    """The user did not complete the device login within the allowed time."""


async def poll_until(
    func: Callable[[], Awaitable[T | Pending]],
    interval: float,
    timeout: float,  # noqa: ASYNC109 - a login budget on an injectable clock, not a cancel scope
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_first: bool = False,
) -> PollResult[T]:
    """Call ``func`` until it returns a result that is not :class:`Pending`.

    Waits ``interval`` seconds before each call (before the first one too, unless
    ``poll_first``), adds 5 seconds to the interval each time ``func`` returns
    :data:`SLOW_DOWN`, and raises :class:`DeviceFlowTimeout` when the next call would start more
    than ``timeout`` seconds after the loop began. Exceptions from ``func`` (a refusal, an
    expired device code) propagate unchanged. ``sleep`` and ``clock`` are injectable for tests.
    """
    interval = max(0.0, float(interval))
    started = clock()
    deadline = started + timeout
    attempts = 0
    wait = not poll_first
    while True:
        if wait:
            if clock() + interval > deadline:
                raise DeviceFlowTimeout(
                    f"device login not completed within {timeout:g} seconds; start it again"
                )
            await sleep(interval)
        wait = True
        attempts += 1
        result = await func()
        if not isinstance(result, Pending):
            return PollResult(result, attempts, clock() - started, interval)
        if result.slow_down:
            interval += SLOW_DOWN_STEP
