"""``McpHost``: the one task that owns an app's MCP session manager.

The SDK's ``StreamableHTTPSessionManager.run()`` opens an anyio task group whose cancel scope
must be entered and left by the same task. A request task cannot enter it (the shutdown task
would have to leave it), so the runtime starts this host task in ``_on_initialize``; it builds
the server (importing the SDK) either at once in the background (``start(preload=True)``) or
on the first MCP request, enters ``run()`` and stays inside until ``stop()``. Requests only
wait for it to be running.

Preloading matters because Claude Code connects ``--mcp-config`` servers without blocking: a
permission prompt that arrives while the first ``initialize`` is still loading the SDK finds no
tool, and the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from structlog.stdlib import BoundLogger

__all__ = ["McpHost", "McpState"]

#: ``idle`` until the first request (or preload), ``starting`` while the SDK loads, then ``running``;
#: ``failed`` when it could not start (or stopped on an error), ``stopped`` after ``stop()``.
McpState = Literal["idle", "starting", "running", "failed", "stopped"]


class McpHost:
    """Runs a session manager in a task of its own from the first request to ``stop()``.

    ``build`` makes the (not yet running) manager; it is awaited once, in the host task.
    """

    def __init__(
        self,
        build: Callable[[], Awaitable[StreamableHTTPSessionManager]],
        *,
        logger: BoundLogger,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._build = build
        self._logger = logger
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._state: McpState = "idle"
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # the first request, or stop()
        self._ready = asyncio.Event()  # running, or will never run
        self._stop = asyncio.Event()

    @property
    def state(self) -> McpState:
        """Where the MCP server is in its life (see ``McpState``)."""
        return self._state

    @property
    def manager(self) -> StreamableHTTPSessionManager | None:
        """The session manager while it runs, else ``None`` (never starts it)."""
        return self._manager

    def start(self, *, preload: bool = False) -> None:
        """Start the host task (call from the lifespan task).

        With ``preload`` the server is built and run in the background right away (start-up
        does not wait for it); without, the SDK is loaded by the first ``session_manager()``.
        """
        if preload:
            self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name="permissions-mcp-host")

    async def session_manager(self) -> StreamableHTTPSessionManager | None:
        """The running manager, starting it on the first call; ``None`` if it cannot run.

        Waits at most ``start_timeout`` seconds. Concurrent callers share the one start.
        """
        if self._manager is not None:
            return self._manager
        if self._task is None or self._stop.is_set():
            return None
        self._wake.set()
        try:
            async with asyncio.timeout(self._start_timeout):
                await self._ready.wait()
        except TimeoutError:
            self._logger.warning("mcp_start_timeout", timeout_seconds=self._start_timeout)
            return None
        return self._manager

    async def stop(self) -> None:
        """Leave ``run()`` in the host task and wait for it, whatever the state was."""
        task = self._task
        self._stop.set()
        self._wake.set()
        if task is None:
            self._state = "stopped"
            return
        done, _ = await asyncio.wait({task}, timeout=self._stop_timeout)
        if not done:
            self._logger.warning("mcp_stop_timeout", timeout_seconds=self._stop_timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self) -> None:
        await self._wake.wait()
        if self._stop.is_set():
            self._state = "stopped"
            self._ready.set()
            return
        self._state = "starting"
        self._logger.info("mcp_starting")
        stage = "start"
        try:
            manager = await self._build()
            if not self._stop.is_set():
                async with manager.run():
                    self._manager, self._state, stage = manager, "running", "run"
                    self._ready.set()
                    self._logger.info("mcp_started")
                    await self._stop.wait()
            self._state = "stopped"
        except Exception as exc:
            self._state = "failed"
            # The type and message only: no traceback locals, no request data.
            self._logger.error(
                "mcp_server_failed", stage=stage, error_type=type(exc).__name__, error=str(exc)
            )
        finally:
            self._manager = None
            if self._state not in ("failed", "stopped"):
                self._state = "stopped"  # cancelled
            self._ready.set()
