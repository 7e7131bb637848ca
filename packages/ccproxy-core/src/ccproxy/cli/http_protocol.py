"""uvicorn's HTTP/1.1 protocols with a deadline for request headers (imported by ``ccproxy serve``).

uvicorn waits for a request's headers as long as the client keeps the connection open, so one
client sending half a request line holds a connection (and its memory) forever. The protocol
classes built here arm a timer when a connection opens and when the first byte of a new request
arrives; when the headers are not complete by then, the client gets a minimal ``408`` and the
connection is closed (a connection that never sent a byte is just closed). Everything else,
keep-alive included, is uvicorn's own behaviour. The request *body* has its own guard in
:class:`ccproxy.security.SecurityMiddleware`, where the route's dialect is known.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from uvicorn.protocols.http.h11_impl import H11Protocol

from ccproxy.logging import get_logger
from ccproxy.proxy.dialect import dialect_for
from ccproxy.proxy.errors import error_response

__all__ = ["HttpImplementation", "header_timeout_protocol", "request_timeout_bytes"]

#: The uvicorn HTTP/1.1 implementations ccproxy can run on ("auto": httptools when installed).
HttpImplementation = Literal["auto", "h11", "httptools"]

_logger = get_logger("ccproxy.server")


def request_timeout_bytes(seconds: float) -> bytes:
    """The complete ``408`` response sent when headers stall (the dialect cannot be known yet)."""
    message = (
        f"The request headers did not arrive within {seconds:g} s "
        "(server.request_read_timeout_seconds)."
    )
    body = error_response(dialect_for("", {}), 408, message).body
    # uvicorn's own early answers (its 400 for a malformed request) are written the same way:
    # there is no request yet that a protocol library would let us answer.
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + bytes(body)


class _HeaderDeadline(asyncio.Protocol):
    """Mixed in before a uvicorn protocol class; ``header_timeout`` is set per built class."""

    header_timeout: float
    # Provided by the uvicorn protocol this is mixed into.
    transport: Any
    cycle: Any
    loop: asyncio.AbstractEventLoop

    _deadline: asyncio.TimerHandle | None = None
    _request_bytes = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        between_requests = cycle is None or cycle.response_complete
        if between_requests and data:
            self._request_bytes = True
            if self._deadline is None:
                self._arm()
        super().data_received(data)
        if self._deadline is not None and (
            self.cycle is not cycle  # the headers of a request are complete
            or self.transport.is_closing()
            or self.transport.get_protocol() is not self  # upgraded to a WebSocket
        ):
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._request_bytes = False

    def _headers_timed_out(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        if self._request_bytes:
            _logger.warning(
                "request_headers_timeout",
                client=transport.get_extra_info("peername"),
                timeout_seconds=self.header_timeout,
            )
            transport.write(request_timeout_bytes(self.header_timeout))
        transport.close()


def _base_protocol(implementation: HttpImplementation) -> type[asyncio.Protocol]:
    if implementation == "h11":
        return H11Protocol
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        if implementation == "httptools":
            raise
        return H11Protocol
    return HttpToolsProtocol


def header_timeout_protocol(
    implementation: HttpImplementation = "auto", *, seconds: float
) -> type[asyncio.Protocol]:
    """A uvicorn protocol class (for ``uvicorn.Config(http=...)``) whose requests must deliver
    their headers within ``seconds`` of the connection or of the request's first byte."""
    base = _base_protocol(implementation)
    name = f"HeaderDeadline{base.__name__}"
    return type(name, (_HeaderDeadline, base), {"header_timeout": seconds})
