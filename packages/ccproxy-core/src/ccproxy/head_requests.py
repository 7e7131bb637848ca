"""HEAD wherever GET works: one pure ASGI middleware instead of a HEAD method on every route.

FastAPI's ``@router.get`` routes (the core's, and every plugin's) answer HEAD with 405, while
RFC 9110 §9.3.2 wants HEAD to give GET's status and headers without the body. The middleware
runs a HEAD request as GET and sends only the response's start and an empty final body. A
streamed GET (an event stream never ends by itself) is cancelled once the headers are out.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAsGetMiddleware"]


class HeadAsGetMiddleware:
    """Serves ``HEAD`` as ``GET`` with the body left out (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server reads its own scope's method to know the response has no body.
        get_scope = {**scope, "method": "GET"}
        finished = False

        async with anyio.create_task_group() as tasks:

            async def head_send(message: Message) -> None:
                nonlocal finished
                if message["type"] == "http.response.start":
                    await send(message)
                elif message["type"] == "http.response.body" and not finished:
                    finished = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    if message.get("more_body", False):
                        tasks.cancel_scope.cancel()  # the rest of a stream is never sent
                elif message["type"] != "http.response.body":
                    await send(message)

            await self.app(get_scope, receive, head_send)
