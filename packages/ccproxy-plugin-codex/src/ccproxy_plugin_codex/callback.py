"""The local HTTP server that receives the browser's OAuth redirect (``/auth/callback``).

It binds 127.0.0.1 on the registered port (1455), or the fallback port when that one is busy,
answers exactly one ``GET /auth/callback?code=…&state=…`` (or ``?error=…``) with a small page,
and hands the query to the waiting login. ``GET /cancel`` ends a login that is waiting (what the
Codex CLI does to free the port for a new login). Anything else is a 404. The code is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

__all__ = ["CALLBACK_PATH", "CallbackResult", "CallbackServer", "PortsBusyError"]

CALLBACK_PATH = "/auth/callback"
_CANCEL_PATH = "/cancel"
_MAX_HEADER_BYTES = 64 * 1024
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>ccproxy</title></head>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>"
)


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
    """``async with CallbackServer([1455, 1457], expected_state=s) as server: await server.wait(600)``.

    A redirect whose ``state`` is not ``expected_state`` is refused and the server keeps waiting.
    """

    def __init__(
        self, ports: Sequence[int], *, expected_state: str, host: str = "127.0.0.1"
    ) -> None:
        self.ports = list(dict.fromkeys(ports))
        self.host = host
        self._state = expected_state
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[CallbackResult] | None = None

    @property
    def redirect_uri(self) -> str:
        """``http://localhost:<port>/auth/callback`` (the form registered with the client id)."""
        if self.port is None:
            raise RuntimeError("the callback server is not listening")
        return f"http://localhost:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> CallbackServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> int:
        """Listen on the first free port of ``ports``; raises :class:`PortsBusyError`."""
        self._result = asyncio.get_running_loop().create_future()
        busy: list[str] = []
        for port in self.ports:
            try:
                self._server = await asyncio.start_server(self._handle, self.host, port)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                busy.append(str(port))
                continue
            sockets = self._server.sockets
            self.port = int(sockets[0].getsockname()[1]) if sockets else port
            return self.port
        raise PortsBusyError(
            errno.EADDRINUSE,
            f"callback port(s) {', '.join(busy)} on {self.host} are in use",
        )

    async def wait(self, timeout: float) -> CallbackResult:  # noqa: ASYNC109 - a login budget
        """The redirect's query; raises ``TimeoutError`` after ``timeout`` seconds."""
        if self._result is None:
            raise RuntimeError("the callback server is not listening")
        return await asyncio.wait_for(asyncio.shield(self._result), timeout)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        if len(head) > _MAX_HEADER_BYTES:
            await self._reply(writer, 431, "Request too large", "")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "/")
        url = urlsplit(target)
        if method not in ("GET", "HEAD"):
            await self._reply(writer, 405, "Method not allowed", "")
            return
        if url.path == _CANCEL_PATH:
            self._deliver(CallbackResult(None, None, cancelled=True))
            await self._reply(writer, 200, "Login cancelled", "You can close this tab.")
            return
        if url.path != CALLBACK_PATH:
            await self._reply(writer, 404, "Not found", "")
            return
        query = {key: values[0] for key, values in parse_qs(url.query).items() if values}
        result = CallbackResult(
            code=query.get("code"),
            state=query.get("state"),
            error=query.get("error"),
            error_description=query.get("error_description"),
        )
        if result.state != self._state:
            # Not our login (a stale tab, another page): refuse it and keep waiting.
            await self._reply(
                writer, 400, "Login failed", "This sign-in link is not the current one."
            )
            return
        if result.error or not result.code:
            await self._reply(
                writer, 400, "Login failed", "Return to the terminal to see what went wrong."
            )
        else:
            await self._reply(
                writer,
                200,
                "Signed in to ChatGPT",
                "ccproxy has your login. You can close this tab.",
            )
        self._deliver(result)

    def _deliver(self, result: CallbackResult) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_result(result)

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=title, text=text).encode()
        head = (
            f"HTTP/1.1 {status} {title}\r\ncontent-type: text/html; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
