"""Chat Completions responses ↔ IR, and the usage, finish-reason and id rules streams share.

A response is ``{id: "chatcmpl-…", object: "chat.completion", created, model, choices: [{index: 0,
message: {role, content, refusal, tool_calls?, reasoning_content?}, finish_reason, logprobs}],
usage}``. ``message.reasoning_content`` is a non-standard extension (DeepSeek, vLLM and others use
it) that shows reasoning text; it never carries a proof, so reasoning read from it has
``origin=None`` and cannot be sent back to the upstream that produced it.

Usage: ``prompt_tokens`` includes cache reads (``prompt_tokens_details.cached_tokens``) and cache
writes (also reported as ``prompt_tokens_details.cache_write_tokens`` when non-zero, the field the
current OpenAI API and SDK define); ``completion_tokens`` includes
``completion_tokens_details.reasoning_tokens``.

A body whose ``object`` is not ``chat.completion`` or that has no ``choices`` list is not an
answer (``InvalidResponseError``: the proxy answers 502).

Lossy mappings:
- Cache writes of both lifetimes are one ``cache_write_tokens`` count; decoding returns it as
  ``Usage.cache_write_5m``. Clients that do not know the field see cache writes as plain prompt
  tokens.
- Stop reasons ``end_turn``, ``stop_sequence``, ``pause_turn`` and ``error`` become ``stop``;
  ``refusal`` becomes ``content_filter``; ``stop`` decodes as ``end_turn``. ``stop_sequence``
  (which sequence matched) is not kept.
- Only the first choice is decoded; images, ``Opaque`` parts and reasoning proofs
  (signatures, encrypted content) are not written; several text parts are joined.
- Response ids that are not ``chatcmpl-…`` are replaced by a fresh ``chatcmpl-`` id.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.ir import (
    ContentPart,
    Reasoning,
    Response,
    StopReason,
    Text,
    ToolCall,
    Usage,
)

__all__ = [
    "decode_finish_reason",
    "decode_response",
    "decode_usage",
    "encode_finish_reason",
    "encode_response",
    "encode_usage",
    "new_call_id",
    "response_id",
]

_FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "error": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "content_filter": "content_filter",
}
_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}


def response_id(ir_id: str | None) -> str:
    """``ir_id`` when it already is a Chat completion id, else a fresh ``chatcmpl-`` id."""
    if ir_id and ir_id.startswith("chatcmpl-"):
        return ir_id
    return "chatcmpl-" + secrets.token_hex(12)


def new_call_id() -> str:
    """A fresh Chat tool-call id (for calls that arrive without one)."""
    return "call_" + secrets.token_hex(12)


def encode_finish_reason(stop_reason: StopReason | None, *, has_tool_calls: bool) -> str:
    """The Chat ``finish_reason`` for an IR stop reason (unknown: ``tool_calls`` after calls)."""
    if stop_reason is None:
        return "tool_calls" if has_tool_calls else "stop"
    return _FINISH_REASONS.get(stop_reason, "stop")


def decode_finish_reason(finish_reason: Any) -> StopReason | None:
    """The IR stop reason for a Chat ``finish_reason`` (``None`` when absent or unknown)."""
    if not isinstance(finish_reason, str):
        return None
    return _STOP_REASONS.get(finish_reason)


def encode_usage(usage: Usage) -> dict[str, Any]:
    """Chat ``usage``: prompt tokens include cache reads and writes, completion includes reasoning."""
    cache_write = usage.cache_write
    prompt = usage.input + usage.cache_read + cache_write
    details: dict[str, int] = {"cached_tokens": usage.cache_read}
    if cache_write:
        details["cache_write_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "total_tokens": prompt + usage.output,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def decode_usage(usage: Any) -> Usage:
    """The normalised ``Usage`` of a Chat ``usage`` object (cached tokens moved out of input)."""
    if not isinstance(usage, dict):
        return Usage()
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = written = 0
    if isinstance(prompt_details, dict):
        cached = _int(prompt_details.get("cached_tokens"))
        written = _int(prompt_details.get("cache_write_tokens"))
    reasoning = (
        _int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0
    )
    return Usage(
        input=max(_int(usage.get("prompt_tokens")) - cached - written, 0),
        output=_int(usage.get("completion_tokens")),
        cache_read=cached,
        cache_write_5m=written,
        reasoning=reasoning,
    )


def decode_response(body: dict[str, Any]) -> Response:
    """A Chat Completions response body → IR (the first choice; ``InvalidResponseError`` unless
    it is a chat completion)."""
    choices = body.get("choices")
    if body.get("object", "chat.completion") != "chat.completion" or not isinstance(choices, list):
        raise InvalidResponseError("not a chat completion (a 'choices' list)")
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content: list[ContentPart] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        content.append(Reasoning(text=reasoning))
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append(Text(text))
    elif isinstance(text, list):
        content.extend(
            Text(part["text"])
            for part in text
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    stop_reason = decode_finish_reason(choice.get("finish_reason"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(Text(refusal))
        stop_reason = "refusal"
    tool_calls = message.get("tool_calls")
    for call in tool_calls if isinstance(tool_calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        content.append(
            ToolCall(
                id=str(call.get("id") or new_call_id()),
                name=str(function.get("name") or ""),
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )
    created = body.get("created")
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=stop_reason,
        usage=decode_usage(body.get("usage")),
        created=created if isinstance(created, int) else None,
    )


def encode_response(response: Response, *, model: str) -> dict[str, Any]:
    """IR → a Chat Completions response body reporting ``model``."""
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for part in response.content:
        if isinstance(part, Text):
            texts.append(part.text)
        elif isinstance(part, ToolCall):
            tool_calls.append(
                {
                    "id": part.id or new_call_id(),
                    "type": "function",
                    "function": {"name": part.name, "arguments": part.arguments},
                }
            )
        elif isinstance(part, Reasoning) and part.text:
            reasoning.append(part.text)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    finish = encode_finish_reason(response.stop_reason, has_tool_calls=bool(tool_calls))
    return {
        "id": response_id(response.id),
        "object": "chat.completion",
        "created": response.created if response.created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": encode_usage(response.usage),
    }
