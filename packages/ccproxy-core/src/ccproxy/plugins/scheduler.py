"""Runs plugins' periodic tasks, backing off exponentially after failures."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins.manifest import TaskSpec

__all__ = ["ScheduledTask", "Scheduler"]


@dataclass
class ScheduledTask:
    """One task's schedule and record."""

    spec: TaskSpec
    plugin: str | None
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    next_delay_seconds: float = 0.0
    handle: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly view for status output."""
        return {
            "name": self.spec.name,
            "plugin": self.plugin,
            "interval_seconds": self.spec.interval_seconds,
            "runs": self.runs,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "next_delay_seconds": self.next_delay_seconds,
        }


class Scheduler:
    """Periodic tasks of one app, started with the app and cancelled at shutdown.

    After ``n`` consecutive failures a task waits ``interval * 2**n`` seconds, capped at
    ``max_backoff_seconds`` (or the interval, if that is longer); a success resets the wait.
    """

    def __init__(self, logger: BoundLogger, *, max_backoff_seconds: float = 3600.0) -> None:
        self._logger = logger
        self._max_backoff = max_backoff_seconds
        self._tasks: list[ScheduledTask] = []
        self._running = False

    @property
    def running(self) -> bool:
        """Whether ``start`` has run and ``stop`` has not."""
        return self._running

    def add_task(self, spec: TaskSpec, *, plugin: str | None = None) -> ScheduledTask:
        """Schedule ``spec``; it starts at once when the scheduler is running."""
        scheduled = ScheduledTask(spec=spec, plugin=plugin)
        self._tasks.append(scheduled)
        if self._running:
            self._launch(scheduled)
        return scheduled

    def tasks(self) -> list[ScheduledTask]:
        """Every scheduled task."""
        return list(self._tasks)

    async def start(self) -> None:
        """Start every scheduled task (idempotent)."""
        if self._running:
            return
        self._running = True
        for scheduled in self._tasks:
            self._launch(scheduled)

    async def stop(self) -> None:
        """Cancel every task and wait for them to end."""
        self._running = False
        handles = [t.handle for t in self._tasks if t.handle is not None]
        for handle in handles:
            handle.cancel()
        for handle in handles:
            with contextlib.suppress(asyncio.CancelledError):
                await handle
        for scheduled in self._tasks:
            scheduled.handle = None

    def remove_plugin_tasks(self, plugin: str) -> None:
        """Cancel and forget the tasks of ``plugin``."""
        for scheduled in [t for t in self._tasks if t.plugin == plugin]:
            if scheduled.handle is not None:
                scheduled.handle.cancel()
            self._tasks.remove(scheduled)

    def _launch(self, scheduled: ScheduledTask) -> None:
        if scheduled.handle is None or scheduled.handle.done():
            scheduled.handle = asyncio.create_task(
                self._run(scheduled), name=f"ccproxy-task:{scheduled.plugin}:{scheduled.spec.name}"
            )

    def backoff_delay(self, interval: float, consecutive_failures: int) -> float:
        """The wait after ``consecutive_failures`` failures in a row."""
        if consecutive_failures <= 0:
            return interval
        cap = max(self._max_backoff, interval)
        return min(interval * (2.0 ** min(consecutive_failures, 62)), cap)

    async def _run(self, scheduled: ScheduledTask) -> None:
        spec = scheduled.spec
        delay = (
            spec.interval_seconds
            if spec.initial_delay_seconds is None
            else spec.initial_delay_seconds
        )
        while True:
            scheduled.next_delay_seconds = delay
            await asyncio.sleep(delay)
            try:
                await spec.task()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                scheduled.runs += 1
                scheduled.failures += 1
                scheduled.consecutive_failures += 1
                scheduled.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.backoff_delay(spec.interval_seconds, scheduled.consecutive_failures)
                self._logger.warning(
                    "task_failed",
                    task=spec.name,
                    task_plugin=scheduled.plugin,
                    error=scheduled.last_error,
                    consecutive_failures=scheduled.consecutive_failures,
                    retry_in_seconds=delay,
                )
            else:
                scheduled.runs += 1
                scheduled.consecutive_failures = 0
                delay = spec.interval_seconds
