"""Anthropic Messages non-streaming responses ↔ IR.

``decode_response`` reads the upstream's message body; ``encode_response`` writes the message an
Anthropic client (Claude Code, the ``anthropic`` SDK) receives for an answer from another format.
Plain dict access: no pydantic on the response path.

- ``tool_use.input`` (an object) ↔ IR argument text (JSON); arguments that are not a JSON object
  are shown as ``input: {}``.
- Reasoning shown to the client: Anthropic reasoning as received; foreign (OpenAI) reasoning as a
  ``thinking`` block with the summary text and our envelope as ``signature``, so the client sends
  it back and the decoder restores the original proof (``ccproxy.llm.reasoning``).
- Tool-use ids stay unchanged when valid for Anthropic, else are sanitised deterministically (the
  same function as in requests).
- Usage: Anthropic ``input_tokens`` excludes cache reads and writes, as the IR does;
  ``cache_creation`` splits writes into 5-minute and 1-hour; ``output_tokens_details.thinking_tokens``
  ↔ ``Usage.reasoning``.

A body whose ``type`` is not ``message`` or that has no ``content`` list is not an answer
(``InvalidResponseError``: the proxy answers 502); within a message, junk blocks are skipped.

Lossy mappings:
- Unknown content blocks decode as ``ir.Opaque``; only Anthropic ``Opaque`` blocks are encoded.
- Images and tool results in a response, and foreign ``Opaque`` blocks, are not encoded.
- Stop reason ``content_filter`` → ``refusal``; ``error`` or none → ``tool_use`` when the answer
  calls tools, else ``end_turn``; an unknown upstream stop reason decodes as ``end_turn``.
- A response id that is not ``msg_…`` is replaced by a fresh ``msg_…`` id.
- ``container``, ``stop_details``, ``server_tool_use`` usage and other fields are not decoded.
"""

from __future__ import annotations

from typing import Any

from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.formats.anthropic.conversions import (
    arguments_to_input,
    decode_stop_reason,
    decode_thinking,
    decode_usage,
    encode_stop_reason,
    encode_usage,
    input_to_arguments,
    message_id,
    reasoning_block_for_client,
    response_tool_id,
)
from ccproxy.llm.ir import ContentPart, Opaque, Reasoning, Response, Text, ToolCall

__all__ = ["decode_content_block", "decode_response", "encode_content_part", "encode_response"]


def decode_content_block(block: Any) -> ContentPart | None:
    """One content block of an Anthropic message → IR (``None`` for a non-object)."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return Text(str(block.get("text", "")))
    if kind == "tool_use":
        return ToolCall(
            id=str(block.get("id", "")),
            name=str(block.get("name", "")),
            arguments=input_to_arguments(block.get("input")),
        )
    if kind == "thinking":
        signature = block.get("signature")
        return decode_thinking(
            str(block.get("thinking", "")), signature if isinstance(signature, str) else None
        )
    if kind == "redacted_thinking":
        return Reasoning(origin="anthropic", redacted_data=str(block.get("data", "")))
    return Opaque("anthropic", block)


def decode_response(body: dict[str, Any]) -> Response:
    """An Anthropic message body → IR (``InvalidResponseError`` unless it is a message)."""
    raw_content = body.get("content")
    if body.get("type", "message") != "message" or not isinstance(raw_content, list):
        raise InvalidResponseError("not an Anthropic message (a 'content' list)")
    content: list[ContentPart] = []
    for block in raw_content:
        part = decode_content_block(block)
        if part is not None:
            content.append(part)
    stop_sequence = body.get("stop_sequence")
    return Response(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        content=content,
        stop_reason=decode_stop_reason(body.get("stop_reason")),
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        usage=decode_usage(body.get("usage")),
    )


def encode_content_part(part: ContentPart) -> dict[str, Any] | None:
    """One IR part as an Anthropic response content block (``None`` when it has no place there)."""
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        return {
            "type": "tool_use",
            "id": response_tool_id(part.id),
            "name": part.name,
            "input": arguments_to_input(part.arguments),
        }
    if isinstance(part, Reasoning):
        return reasoning_block_for_client(part)
    if isinstance(part, Opaque) and part.format == "anthropic":
        return part.data
    return None


def encode_response(response: Response, *, model: str) -> dict[str, Any]:
    """IR → an Anthropic message body reporting ``model``."""
    content: list[dict[str, Any]] = []
    has_tool_calls = False
    for part in response.content:
        block = encode_content_part(part)
        if block is not None:
            content.append(block)
            has_tool_calls = has_tool_calls or isinstance(part, ToolCall)
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": encode_stop_reason(response.stop_reason, has_tool_calls=has_tool_calls),
        "stop_sequence": response.stop_sequence,
        "usage": encode_usage(response.usage),
    }
