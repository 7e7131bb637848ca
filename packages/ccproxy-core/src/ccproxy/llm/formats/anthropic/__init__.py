"""The Anthropic Messages API codec (``POST /v1/messages``): requests, responses and streams.

``codec`` is what ``ccproxy.llm.codec.get_codec("anthropic")`` returns. The mapping rules and
the lossy mappings are documented in ``request``, ``response`` and ``stream``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ccproxy.llm.formats.anthropic.request import decode_request, encode_request
from ccproxy.llm.formats.anthropic.response import decode_response, encode_response
from ccproxy.llm.formats.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder
from ccproxy.llm.ir import Request, Response, WireFormat

if TYPE_CHECKING:
    from ccproxy.llm.codec import Codec

__all__ = ["AnthropicCodec", "AnthropicStreamDecoder", "AnthropicStreamEncoder", "codec"]


class AnthropicCodec:
    """Decoders into and encoders out of the IR for the Anthropic Messages API."""

    format: WireFormat = "anthropic"

    def decode_request(self, body: dict[str, Any]) -> Request:
        """A client request body → IR (raises ``InvalidRequestError`` naming the bad field)."""
        return decode_request(body)

    def encode_request(self, request: Request) -> dict[str, Any]:
        """IR → the request body for the Anthropic upstream."""
        return encode_request(request)

    def decode_response(self, body: dict[str, Any]) -> Response:
        """An upstream message body → IR."""
        return decode_response(body)

    def encode_response(self, response: Response, *, model: str) -> dict[str, Any]:
        """IR → a message body for an Anthropic client, reporting ``model``."""
        return encode_response(response, model=model)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        """A decoder for one upstream stream."""
        return AnthropicStreamDecoder()

    def stream_encoder(
        self, *, model: str, request: Request | None = None
    ) -> AnthropicStreamEncoder:
        """An encoder for one client stream reporting ``model`` (``request`` is not needed)."""
        return AnthropicStreamEncoder(model=model)


codec = AnthropicCodec()

if TYPE_CHECKING:
    _conforms: Codec = codec  # mypy checks the class against the Protocol
