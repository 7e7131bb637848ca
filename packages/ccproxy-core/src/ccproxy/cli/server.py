"""Running an app with uvicorn exactly as configured (imported only by ``ccproxy serve``)."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

import uvicorn

from ccproxy.cli.allocator import return_large_buffers_to_the_os
from ccproxy.cli.http_protocol import header_timeout_protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ccproxy.config import Settings

__all__ = ["AnnouncingServer", "format_url", "run_server", "server_config"]


def format_url(host: str, port: int) -> str:
    """``http://HOST:PORT``, with IPv6 hosts in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints ``ccproxy listening on http://HOST:PORT`` once it listens.

    The port printed is the bound one, so ``--port 0`` reports the port the kernel chose.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        port = self.config.port
        for server in self.servers:
            for sock in server.sockets or ():
                port = sock.getsockname()[1]
                break
            break
        print(
            f"ccproxy listening on {format_url(self.config.host, port)}",
            file=sys.stderr,
            flush=True,
        )


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration ccproxy serves ``app`` with (one process or one worker)."""
    return uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        # Logging is ccproxy's (configure_logging routes uvicorn's loggers through it); the app
        # object is passed in, so nothing is re-read or re-parsed by uvicorn.
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="auto",
        server_header=False,
        timeout_keep_alive=settings.server.keep_alive_seconds,
        # Stalled request headers get 408, oversized ones 431 (uvicorn alone would wait for
        # them forever, and buffer all of them).
        http=header_timeout_protocol(
            seconds=settings.server.request_read_timeout_seconds,
            max_header_bytes=settings.server.max_request_header_bytes,
        ),
    )


def run_server(app: FastAPI, settings: Settings) -> bool:
    """Serve ``app`` on ``settings.server`` until a signal stops it; False when it never started."""
    return_large_buffers_to_the_os()
    server = AnnouncingServer(server_config(app, settings))
    server.run()
    return server.started
