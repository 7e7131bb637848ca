"""A real uvicorn server on a loopback port, inside the test's event loop.

In-process ASGI transports buffer whole bodies; streaming behaviour (chunk timing,
disconnects) needs a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import uvicorn

from ccproxy.testing.network import free_port

__all__ = ["LiveServer"]


class LiveServer:
    """``async with LiveServer(app) as server: server.url`` runs ``app`` with its lifespan.

    ``http`` is uvicorn's HTTP protocol: a name or a class, such as
    ``ccproxy.cli.http_protocol.header_timeout_protocol(...)`` as ``ccproxy serve`` uses.
    ``keep_alive_seconds`` is how long an idle connection stays open: by default longer than a
    client pool keeps one (httpx: 5 s), as real upstreams do. With equal times a client can
    reuse a connection at the moment the server closes it, a race no test means to exercise.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 10.0,
        http: type[asyncio.Protocol] | str = "auto",
        keep_alive_seconds: int = 75,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_config=None,
            lifespan="on",
            access_log=False,
            ws="auto",
            http=http,
            timeout_keep_alive=keep_alive_seconds,
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None
        self._startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self._server.serve())
        deadline = asyncio.get_running_loop().time() + self._startup_timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped during start-up")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"server on {self.url} did not start in {self._startup_timeout}s"
                )
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._server.force_exit = True
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
