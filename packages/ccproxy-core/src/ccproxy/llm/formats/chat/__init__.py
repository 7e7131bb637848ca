"""OpenAI Chat Completions (``POST /v1/chat/completions``) ↔ IR.

Chat is only a client-side format here (no upstream speaks it): requests are decoded, responses
and streams encoded. The reverse directions exist for round trips and completeness. Each module's
docstring lists its lossy mappings.
"""

from __future__ import annotations

from typing import Any, Literal

from ccproxy.llm.formats.chat.request import decode_request, encode_request
from ccproxy.llm.formats.chat.response import decode_response, encode_response
from ccproxy.llm.formats.chat.stream import ChatStreamDecoder, ChatStreamEncoder
from ccproxy.llm.ir import Request, Response

__all__ = ["ChatCodec", "ChatStreamDecoder", "ChatStreamEncoder", "codec"]


class ChatCodec:
    """The ``ccproxy.llm.codec.Codec`` of OpenAI Chat Completions."""

    format: Literal["chat"] = "chat"

    def decode_request(self, body: dict[str, Any]) -> Request:
        """A Chat request body → IR (raises ``InvalidRequestError``)."""
        return decode_request(body)

    def encode_request(self, request: Request) -> dict[str, Any]:
        """IR → a Chat request body."""
        return encode_request(request)

    def decode_response(self, body: dict[str, Any]) -> Response:
        """A Chat response body → IR."""
        return decode_response(body)

    def encode_response(self, response: Response, *, model: str) -> dict[str, Any]:
        """IR → a Chat response body reporting ``model``."""
        return encode_response(response, model=model)

    def stream_decoder(self) -> ChatStreamDecoder:
        """A fresh decoder for one Chat stream."""
        return ChatStreamDecoder()

    def stream_encoder(self, *, model: str, request: Request | None = None) -> ChatStreamEncoder:
        """A fresh encoder for one Chat stream; usage is sent when the request asked for it."""
        return ChatStreamEncoder(model=model, include_usage=bool(request and request.include_usage))


codec = ChatCodec()
