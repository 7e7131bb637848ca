"""The localhost redirect target of ``ccproxy auth login claude --callback``.

A one-shot HTTP server on a random free loopback port: the browser is redirected to
``http://localhost:<port>/callback?code=...&state=...`` after the user authorises, and the first
such request ends the wait. Plain asyncio (no web framework): it answers a handful of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl, urlsplit

__all__ = ["CALLBACK_PATH", "CallbackError", "CallbackServer"]

CALLBACK_PATH: Final = "/callback"
_HEADER_TIMEOUT: Final = 10.0
_MAX_HEADER_LINES: Final = 100


class CallbackError(Exception):
    """The redirect did not arrive in time, carried an OAuth error, or a foreign ``state``."""


class CallbackServer:
    """``async with CallbackServer(expected_state) as server:`` then ``await server.wait(seconds)``.

    Listens on 127.0.0.1 (and ``::1`` on the same port when available) so that ``localhost``
    reaches it whichever address a browser tries first. ``wait`` returns the authorization code.
    """

    def __init__(self, expected_state: str) -> None:
        self._expected_state = expected_state
        self._servers: list[asyncio.Server] = []
        self._result: asyncio.Future[str] | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        """The ``redirect_uri`` to authorise and exchange with."""
        return f"http://localhost:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> CallbackServer:
        self._result = asyncio.get_running_loop().create_future()
        first = await asyncio.start_server(self._handle, host="127.0.0.1", port=0)
        self._servers.append(first)
        self.port = first.sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):  # no IPv6 loopback, or the port is taken there
            self._servers.append(
                await asyncio.start_server(self._handle, host="::1", port=self.port)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        if self._result is not None:
            if not self._result.done():
                self._result.cancel()
            elif not self._result.cancelled():
                self._result.exception()  # retrieved: an unawaited failure is not an error

    async def wait(self, seconds: float) -> str:
        """The authorization code of the first redirect; :class:`CallbackError` otherwise."""
        assert self._result is not None, "use 'async with CallbackServer(...)'"
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), seconds)
        except TimeoutError:
            raise CallbackError(
                f"no redirect reached {self.redirect_uri} within {seconds:g} s"
            ) from None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target = await asyncio.wait_for(self._read_target(reader), _HEADER_TIMEOUT)
            status, page = self._answer(target)
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            status, page = 400, "Bad request."
        body = _page(page).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    @staticmethod
    async def _read_target(reader: asyncio.StreamReader) -> str:
        request_line = (await reader.readline()).decode("latin-1").strip()
        method, target, _version = request_line.split(" ", 2)
        for _ in range(_MAX_HEADER_LINES):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        if method not in ("GET", "HEAD"):
            raise ValueError("unexpected method")
        return target

    def _answer(self, target: str) -> tuple[int, str]:
        parts = urlsplit(target)
        if parts.path != CALLBACK_PATH:
            return 404, "Not found."
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        assert self._result is not None
        if self._result.done():
            return 409, "This login has already been completed or failed; see the terminal."
        if params.get("error"):
            error = params["error"][:64]
            self._result.set_exception(
                CallbackError(f"the authorization server answered {error!r}")
            )
            return 400, "Login failed; see the terminal."
        if params.get("state") != self._expected_state:
            self._result.set_exception(
                CallbackError("the redirect's state does not match this login (not verified)")
            )
            return 400, "Login failed: state mismatch; see the terminal."
        code = params.get("code", "")
        if not code:
            self._result.set_exception(CallbackError("the redirect carried no code"))
            return 400, "Login failed: no code; see the terminal."
        self._result.set_result(code)
        return 200, "Login complete. You can close this tab and return to the terminal."


def _page(message: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ccproxy</title></head>"
        f"<body><p>ccproxy: {html.escape(message)}</p></body></html>"
    )
