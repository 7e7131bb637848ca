"""What every wire-format codec offers, and the registry of the three formats."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any, Protocol

from ccproxy.llm.ir import Request, Response, StreamEvent, WireFormat
from ccproxy.llm.sse import SSEEvent

__all__ = ["Codec", "StreamDecoder", "StreamEncoder", "get_codec"]


class StreamDecoder(Protocol):
    """Turns one upstream stream's SSE events into IR events (one instance per stream)."""

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """IR events for one SSE event (possibly none)."""
        ...

    def close(self) -> list[StreamEvent]:
        """At the end of the bytes: a ``StreamError`` if the stream never completed, else nothing."""
        ...


class StreamEncoder(Protocol):
    """Turns IR events into one client stream of SSE bytes (one instance per stream)."""

    def encode(self, event: StreamEvent) -> bytes:
        """SSE bytes for one IR event (possibly empty)."""
        ...

    def close(self) -> bytes:
        """Trailing bytes once the IR stream is over (e.g. Chat's ``data: [DONE]``)."""
        ...


class Codec(Protocol):
    """Decoders into and encoders out of the IR for one wire format."""

    format: WireFormat

    def decode_request(self, body: dict[str, Any]) -> Request:
        """A client or upstream request body → IR (raises ``InvalidRequestError``)."""
        ...

    def encode_request(self, request: Request) -> dict[str, Any]:
        """IR → a request body of this format."""
        ...

    def decode_response(self, body: dict[str, Any]) -> Response:
        """A non-streaming response body → IR."""
        ...

    def encode_response(self, response: Response, *, model: str) -> dict[str, Any]:
        """IR → a non-streaming response body reporting ``model``."""
        ...

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one stream."""
        ...

    def stream_encoder(self, *, model: str, request: Request | None = None) -> StreamEncoder:
        """A fresh encoder for one client stream reporting ``model`` (``request`` for options
        such as Chat's ``stream_options.include_usage``)."""
        ...


_MODULES: dict[str, str] = {
    "anthropic": "ccproxy.llm.formats.anthropic",
    "chat": "ccproxy.llm.formats.chat",
    "responses": "ccproxy.llm.formats.responses",
}


@cache
def get_codec(wire_format: WireFormat) -> Codec:
    """The codec of ``wire_format`` (imported on first use, then cached)."""
    codec: Codec = import_module(_MODULES[wire_format]).codec
    return codec
