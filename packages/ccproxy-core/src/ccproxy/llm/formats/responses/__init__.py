"""The OpenAI Responses codec (Codex CLI, the ``openai`` SDK, and the ChatGPT Codex upstream).

See ``request``, ``response`` and ``stream`` for each mapping and its "Lossy mappings".
"""

from __future__ import annotations

from typing import Any

from ccproxy.llm.codec import Codec
from ccproxy.llm.formats.responses.request import decode_request, encode_request
from ccproxy.llm.formats.responses.response import decode_response, encode_response
from ccproxy.llm.formats.responses.stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from ccproxy.llm.ir import Request, Response, WireFormat

__all__ = ["ResponsesCodec", "ResponsesStreamDecoder", "ResponsesStreamEncoder", "codec"]


class ResponsesCodec:
    """``ccproxy.llm.codec.Codec`` for the OpenAI Responses format."""

    format: WireFormat = "responses"

    def decode_request(self, body: dict[str, Any]) -> Request:
        """A Responses request body → IR (raises ``InvalidRequestError``)."""
        return decode_request(body)

    def encode_request(self, request: Request) -> dict[str, Any]:
        """IR → a Responses request body."""
        return encode_request(request)

    def decode_response(self, body: dict[str, Any]) -> Response:
        """A Responses ``response`` object → IR."""
        return decode_response(body)

    def encode_response(self, response: Response, *, model: str) -> dict[str, Any]:
        """IR → a Responses ``response`` object reporting ``model``."""
        return encode_response(response, model=model)

    def stream_decoder(self) -> ResponsesStreamDecoder:
        """A fresh decoder for one upstream stream."""
        return ResponsesStreamDecoder()

    def stream_encoder(
        self, *, model: str, request: Request | None = None
    ) -> ResponsesStreamEncoder:
        """A fresh encoder for one client stream; ``request`` is echoed in the response object."""
        return ResponsesStreamEncoder(model=model, request=request)


codec: Codec = ResponsesCodec()
