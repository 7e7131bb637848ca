"""uvicorn's HTTP/1.1 protocols with a deadline and a size limit for request heads (``ccproxy serve``).

uvicorn waits for a request's headers as long as the client keeps the connection open, and
buffers every header byte it is sent, so one client sending half a request line holds a
connection forever and one sending endless header bytes grows the process without bound. The
protocol classes built here arm a timer when a connection opens and when the first byte of a new
request arrives, and count the request's bytes until its headers are complete: when the headers
are not complete in time, the client gets a minimal ``408`` (a connection that never sent a byte
is just closed); when they pass the size limit, a minimal ``431``; either way the connection is
closed. Everything else, keep-alive included, is uvicorn's own behaviour. The request *body*
has its own guards in :class:`ccproxy.security.SecurityMiddleware`, where the route's dialect is
known.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ccproxy.logging import get_logger
from ccproxy.proxy.dialect import dialect_for
from ccproxy.proxy.errors import error_response

__all__ = [
    "DEFAULT_MAX_HEADER_BYTES",
    "HttpImplementation",
    "header_timeout_protocol",
    "request_headers_too_large_bytes",
    "request_timeout_bytes",
]

#: The uvicorn HTTP/1.1 implementations ccproxy can run on ("auto": httptools when installed).
HttpImplementation = Literal["auto", "h11", "httptools"]

#: ``server.max_request_header_bytes`` by default: Claude Code and Codex send a few KiB.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024

# h11 refuses (with uvicorn's 400) an unfinished head larger than its own limit, 16 KiB unless
# told otherwise. It is raised above ours so that ours answers first: the count is checked after
# each read (at most 256 KiB) has been fed to the parser.
_H11_HEAD_SLACK = 1024 * 1024

# How long a refused connection stays open, reading nothing, after its answer and a FIN. Closing
# at once with unread request bytes makes the kernel send a reset, which can destroy the answer
# before the client reads it.
_LINGER_SECONDS = 2.0

_logger = get_logger("ccproxy.server")


def _early_response(status: int, reason: str, message: str) -> bytes:
    """A complete ``connection: close`` response with the error object in the default dialect."""
    body = error_response(dialect_for("", {}), status, message).body
    # uvicorn's own early answers (its 400 for a malformed request) are written the same way:
    # there is no request yet that a protocol library would let us answer.
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + bytes(body)


def request_timeout_bytes(seconds: float) -> bytes:
    """The complete ``408`` response sent when headers stall (the dialect cannot be known yet)."""
    message = (
        f"The request headers did not arrive within {seconds:g} s "
        "(server.request_read_timeout_seconds)."
    )
    return _early_response(408, "Request Timeout", message)


def request_headers_too_large_bytes(max_bytes: int) -> bytes:
    """The complete ``431`` response sent when a request's head passes ``max_bytes``."""
    message = (
        f"The request line and headers are larger than {max_bytes} bytes "
        "(server.max_request_header_bytes)."
    )
    return _early_response(431, "Request Header Fields Too Large", message)


class _HeadGuard(asyncio.Protocol):
    """Mixed in before a uvicorn protocol class; the limits are set per built class.

    The deadline is armed exactly while a request's head is awaited, so it also marks the bytes
    to count: a body chunk costs a few attribute tests. With ``pipelined_heads`` (httptools,
    which parses a pipelined request while the one before it is still being answered) a head
    is also awaited once the current request's body is complete; h11 stops reading then.
    """

    header_timeout: float
    max_header_bytes: int
    pipelined_heads: bool
    # Provided by the uvicorn protocol this is mixed into.
    transport: Any
    cycle: Any
    loop: asyncio.AbstractEventLoop

    _deadline: asyncio.TimerHandle | None = None
    _linger: asyncio.TimerHandle | None = None
    _request_bytes = False
    _head_bytes = 0
    _refused = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # a head over the limit: nothing more reaches the parser
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if data:
                self._request_bytes = True
                if self._deadline is None:
                    self._arm()
        elif self.pipelined_heads and not cycle.more_body and self._deadline is None:
            self._arm()
        if self._deadline is None:
            super().data_received(data)
            return
        budget = self.max_header_bytes - self._head_bytes
        if len(data) <= budget:
            self._feed_head(data, cycle)
            return
        # The parser gets what the limit allows: a head it has not finished by then is too large.
        # (Counting after the parser would let a head that ends within one large read through.)
        if budget <= 0 or not self._feed_head(data[:budget], cycle):
            self._head_too_large()
            return
        transport = self.transport
        if not transport.is_closing():
            # The body, a pipelined request, or a WebSocket's first bytes.
            transport.get_protocol().data_received(data[budget:])

    def _feed_head(self, data: bytes, cycle: Any) -> bool:
        """Give ``data`` (bytes of an awaited head) to the parser and count them; whether the
        head is no longer awaited (complete, or the connection closing or upgraded)."""
        super().data_received(data)
        if self._deadline is None:
            return True
        if (
            self.cycle is not cycle  # the headers of a request are complete
            or self.transport.is_closing()
            or self.transport.get_protocol() is not self  # upgraded to a WebSocket
        ):
            self._disarm()
            return True
        self._head_bytes += len(data)
        return False

    def on_response_complete(self) -> None:
        """uvicorn's hook after each response: a refusal waiting for it is sent now."""
        super().on_response_complete()  # type: ignore[misc]
        if self._refused and not self._answering() and not getattr(self, "pipeline", None):
            self._refuse()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_bytes = 0
        self._deadline = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._request_bytes = False
        self._head_bytes = 0

    def _head_too_large(self) -> None:
        transport = self.transport
        _logger.warning(
            "request_headers_too_large",
            client=transport.get_extra_info("peername"),
            max_bytes=self.max_header_bytes,
        )
        self._disarm()
        self._refused = True
        if self._answering() or getattr(self, "pipeline", None):
            # A pipelined head while the responses before it are still being written: those
            # finish first (their upstream calls are spent), then the refusal is sent.
            transport.pause_reading()
            return
        self._refuse()

    def _refuse(self) -> None:
        """Send the 431 and a FIN; the rest of the head stays in the kernel, unread."""
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(request_headers_too_large_bytes(self.max_header_bytes))
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.pause_reading()
        self._linger = self.loop.call_later(_LINGER_SECONDS, transport.close)

    def _answering(self) -> bool:
        """A response is being written: nothing else can be sent on this connection."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _headers_timed_out(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        if self._answering():
            # Bytes after a body (a pipelined head, or a stray CRLF) while the app still works
            # on its answer: the app's time is not the client's stall. The count goes on.
            self._deadline = self.loop.call_later(self.header_timeout, self._headers_timed_out)
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


class _H11HeadLimit(asyncio.Protocol):
    """Mixed in before ``H11Protocol``: h11's own head limit above the guard's (see above)."""

    max_header_bytes: int
    conn: h11.Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.max_header_bytes + _H11_HEAD_SLACK
        )


def header_timeout_protocol(
    implementation: HttpImplementation = "auto",
    *,
    seconds: float,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> type[asyncio.Protocol]:
    """A uvicorn protocol class (for ``uvicorn.Config(http=...)``) whose requests must deliver
    their headers within ``seconds`` of the connection or of the request's first byte, in at
    most ``max_header_bytes`` (request line included)."""
    base = _base_protocol(implementation)
    h11_based = base is H11Protocol
    mixins: tuple[type, ...] = (_HeadGuard, _H11HeadLimit) if h11_based else (_HeadGuard,)
    name = f"HeadGuard{base.__name__}"
    limits = {
        "header_timeout": seconds,
        "max_header_bytes": max_header_bytes,
        "pipelined_heads": not h11_based,
    }
    return type(name, (*mixins, base), limits)
