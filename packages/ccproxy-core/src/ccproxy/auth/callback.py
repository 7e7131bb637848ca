"""The loopback server that receives a browser's OAuth redirect (the PKCE login's last step).

It listens on 127.0.0.1 (and, when asked, ``::1`` on the same port, so ``localhost`` reaches it
whichever address a browser tries first) on the first free port of a list (0: any free port),
serves ``GET <path>?code=…&state=…`` (or ``?error=…``) with a small page and hands the query to
the waiting login. An optional cancel path ends a waiting login (the Codex CLI frees its port
that way). Anything else is a 404; methods other than GET and HEAD a 405. HTTP is uvicorn's;
the code is never logged and never shown in a ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import Receive, Scope, Send

__all__ = ["CallbackResult", "CallbackServer", "PortsBusyError"]

_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>ccproxy</title></head>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>"
)
#: Request heads larger than this are refused (uvicorn's h11 limit).
_MAX_HEAD_BYTES = 64 * 1024


class PortsBusyError(OSError):
    """None of the callback ports could be bound."""


@dataclass(frozen=True, repr=False)
class CallbackResult:
    """What the redirect carried. ``repr`` hides the code."""

    code: str | None
    state: str | None
    error: str | None = None
    error_description: str | None = None
    cancelled: bool = False

    def __repr__(self) -> str:
        code = "<hidden>" if self.code else None
        return f"CallbackResult(code={code}, error={self.error!r}, cancelled={self.cancelled})"


class CallbackServer:
    """``async with CallbackServer([1455], expected_state=s, path="/auth/callback") as server:``
    then ``await server.wait(600)``.

    ``foreign_state`` says what a redirect with another ``state`` does: ``"ignore"`` refuses it
    and keeps waiting (a stale tab cannot end the login), ``"deliver"`` hands it to the login,
    which then fails. ``success_text`` is the page shown once the code arrived.
    """

    def __init__(
        self,
        ports: Sequence[int] = (0,),
        *,
        expected_state: str,
        path: str = "/callback",
        host: str = "127.0.0.1",
        also_ipv6: bool = False,
        cancel_path: str | None = None,
        foreign_state: Literal["ignore", "deliver"] = "ignore",
        success_title: str = "Login complete",
        success_text: str = "You can close this tab and return to the terminal.",
    ) -> None:
        self.ports = list(dict.fromkeys(ports))
        self.host = host
        self.path = path
        self.port: int | None = None
        self._state = expected_state
        self._also_ipv6 = also_ipv6
        self._cancel_path = cancel_path
        self._foreign_state = foreign_state
        self._success = (success_title, success_text)
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._sockets: list[socket.socket] = []
        self._result: asyncio.Future[CallbackResult] | None = None

    @property
    def redirect_uri(self) -> str:
        """``http://localhost:<port><path>`` (the form registered with OAuth clients)."""
        if self.port is None:
            raise RuntimeError("the callback server is not listening")
        return f"http://localhost:{self.port}{self.path}"

    async def __aenter__(self) -> CallbackServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> int:
        """Listen on the first free port of ``ports``; raises :class:`PortsBusyError`."""
        import uvicorn

        self._result = asyncio.get_running_loop().create_future()
        self._sockets = self._bind()
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            http="h11",  # its head size limit applies (httptools has none)
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            server_header=False,
            h11_max_incomplete_event_size=_MAX_HEAD_BYTES,
        )
        server = self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(server.serve(sockets=self._sockets))
        while not server.started:
            if self._serving.done():  # start-up failed: its exception says why
                await self._serving
                raise RuntimeError("the callback server stopped while starting")
            await asyncio.sleep(0.005)
        return self.port or 0

    async def wait(self, timeout: float) -> CallbackResult:  # noqa: ASYNC109 - a login budget
        """The redirect's query; raises ``TimeoutError`` after ``timeout`` seconds."""
        if self._result is None:
            raise RuntimeError("the callback server is not listening")
        return await asyncio.wait_for(asyncio.shield(self._result), timeout)

    async def close(self) -> None:
        """Stop listening and end open connections."""
        server, self._server = self._server, None
        serving, self._serving = self._serving, None
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self._result is not None and not self._result.done():
            self._result.cancel()

    def _bind(self) -> list[socket.socket]:
        busy: list[str] = []
        for port in self.ports:
            try:
                first = socket.create_server((self.host, port), family=socket.AF_INET)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                busy.append(str(port))
                continue
            self.port = int(first.getsockname()[1])
            sockets = [first]
            if self._also_ipv6 and socket.has_ipv6:
                # No IPv6 loopback, or the port is taken there: IPv4 alone serves.
                with contextlib.suppress(OSError):
                    sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
            return sockets
        raise PortsBusyError(
            errno.EADDRINUSE, f"callback port(s) {', '.join(busy)} on {self.host} are in use"
        )

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import HTMLResponse

        if scope["type"] != "http":
            return
        status, title, text = self._answer(scope)
        page = _PAGE.format(title=html.escape(title), text=html.escape(text))
        response = HTMLResponse(page, status, headers={"cache-control": "no-store"})
        await response(scope, receive, send)

    def _answer(self, scope: Scope) -> tuple[int, str, str]:
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "Method not allowed", ""
        path = scope["path"]
        if self._cancel_path is not None and path == self._cancel_path:
            self._deliver(CallbackResult(None, None, cancelled=True))
            return 200, "Login cancelled", "You can close this tab."
        if path != self.path:
            return 404, "Not found", ""
        params = parse_qs(scope["query_string"].decode("latin-1"))
        query = {key: values[0] for key, values in params.items()}
        result = CallbackResult(
            code=query.get("code"),
            state=query.get("state"),
            error=query.get("error"),
            error_description=query.get("error_description"),
        )
        if self._result is None or self._result.done():
            return 409, "Login over", "This login has already ended; see the terminal."
        if result.state != self._state:
            if self._foreign_state == "deliver":
                self._deliver(result)
            # Not this login's redirect (a stale tab, another page).
            return 400, "Login failed", "This sign-in link is not the current one."
        self._deliver(result)
        if result.error or not result.code:
            return 400, "Login failed", "Return to the terminal to see what went wrong."
        return 200, *self._success

    def _deliver(self, result: CallbackResult) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_result(result)
