"""OpenAI Responses response objects ↔ IR ``Response``, plus the pieces the stream codec shares
(ids, usage, stop reasons, output items, the response object).

Output items: ``message`` (one per IR ``Text``; its ``output_text`` parts concatenate into one
``Text`` when decoding), ``function_call`` (``call_id`` = ``ToolCall.id``) and ``reasoning``.
Reasoning shown to a Responses client: OpenAI reasoning keeps its ``encrypted_content``;
reasoning of another origin that carries a proof (Claude thinking with a signature, or redacted
thinking) gets ``encrypted_content = seal_envelope(...)`` and its thinking text as the summary, so
the client can send it back and ``decode_request`` restores it.

Stop reasons: ``status`` ``completed`` → ``tool_use`` when a ``function_call`` item is present,
else ``end_turn``; ``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens`` →
``max_tokens``, ``content_filter`` → ``content_filter``; ``failed`` → ``error``.

Usage: ``input_tokens`` includes ``cached_tokens`` and ``cache_write_tokens``; ``output_tokens``
includes ``reasoning_tokens`` (DESIGN §3.4).

A body whose ``object`` is not ``response`` or that has no ``output`` list is not an answer
(``InvalidResponseError``: the proxy answers 502).

Lossy mappings:
- ``end_turn``, ``stop_sequence``, ``pause_turn`` and ``tool_use`` all encode as ``completed``;
  ``refusal`` and ``content_filter`` as ``incomplete`` with reason ``content_filter``.
- ``stop_sequence`` (the matched string) is dropped.
- Annotations and logprobs of ``output_text`` are dropped when decoding; a ``refusal`` part
  decodes to ``Text`` and the stop reason ``refusal``.
- Output items of other types (``web_search_call``, …) decode to ``Opaque`` and are re-encoded
  only into this format.
- Cache writes: ``cache_write_tokens_details.ttl_30m_tokens`` ↔ ``cache_write_5m`` and
  ``ttl_12h_tokens`` ↔ ``cache_write_1h``; without details all writes count as 5-minute ones.
- The response object does not echo the request (``instructions``, ``tools``, … are empty)
  unless the stream encoder is given the request.
- Several summary parts of a reasoning item join with a blank line.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.formats.responses.request import (
    encode_reasoning_config,
    encode_text_config,
    encode_tool_choice,
    encode_tools,
)
from ccproxy.llm.ir import (
    ContentPart,
    Opaque,
    Reasoning,
    Request,
    Response,
    StopReason,
    Text,
    ToolCall,
    Usage,
)
from ccproxy.llm.reasoning import seal_envelope

__all__ = [
    "client_reasoning",
    "decode_response",
    "decode_stop_reason",
    "decode_usage",
    "encode_response",
    "encode_usage",
    "function_call_item",
    "message_item",
    "new_id",
    "reasoning_item",
    "response_object",
    "summary_text",
    "terminal_status",
]


def new_id(prefix: str) -> str:
    """A fresh id that looks native to the Responses API (``resp_…``, ``msg_…``, ``fc_…``, ``rs_…``)."""
    return f"{prefix}_{secrets.token_hex(24)}"


# --- usage and stop reasons -------------------------------------------------------------------


def decode_usage(usage: Any) -> Usage:
    """A Responses ``usage`` object → normalised IR usage (cache excluded from ``input``)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details") or {}
    cached = _int(details.get("cached_tokens"))
    written = _int(details.get("cache_write_tokens"))
    written_details = details.get("cache_write_tokens_details")
    if isinstance(written_details, dict):
        write_5m = _int(written_details.get("ttl_30m_tokens"))
        write_1h = _int(written_details.get("ttl_12h_tokens"))
    else:
        write_5m, write_1h = written, 0
    output_details = usage.get("output_tokens_details") or {}
    return Usage(
        input=max(_int(usage.get("input_tokens")) - cached - write_5m - write_1h, 0),
        output=_int(usage.get("output_tokens")),
        cache_read=cached,
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        reasoning=_int(output_details.get("reasoning_tokens")),
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    """IR usage → a Responses ``usage`` object (``input_tokens`` includes the cache)."""
    input_tokens = usage.input + usage.cache_read + usage.cache_write
    details: dict[str, Any] = {
        "cached_tokens": usage.cache_read,
        "cache_write_tokens": usage.cache_write,
    }
    if usage.cache_write_1h:
        details["cache_write_tokens_details"] = {
            "ttl_30m_tokens": usage.cache_write_5m,
            "ttl_12h_tokens": usage.cache_write_1h,
        }
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": details,
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": input_tokens + usage.output,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def decode_stop_reason(
    status: Any, incomplete_details: Any, *, has_tool_call: bool, refused: bool
) -> StopReason | None:
    """The IR stop reason of a response's ``status`` (``None`` while still in progress)."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status == "failed" or status == "cancelled":
        return "error"
    if status in ("in_progress", "queued"):
        return None
    if has_tool_call:
        return "tool_use"
    return "refusal" if refused else "end_turn"


def terminal_status(stop_reason: StopReason | None) -> tuple[str, dict[str, Any] | None]:
    """``(status, incomplete_details)`` for an IR stop reason."""
    if stop_reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason in ("content_filter", "refusal"):
        return "incomplete", {"reason": "content_filter"}
    if stop_reason == "error":
        return "failed", None
    return "completed", None


# --- output items -----------------------------------------------------------------------------


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """An assistant ``message`` output item holding one ``output_text`` part."""
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(item_id: str, call: ToolCall, status: str = "completed") -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": call.arguments,
        "call_id": call.id,
        "name": call.name,
    }


def reasoning_item(item_id: str, text: str, encrypted_content: str | None) -> dict[str, Any]:
    """A ``reasoning`` output item: ``text`` as one summary part, the proof in ``encrypted_content``."""
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if encrypted_content is not None:
        item["encrypted_content"] = encrypted_content
    return item


def client_reasoning(reasoning: Reasoning) -> tuple[str, str | None]:
    """``(item id, encrypted_content)`` to show ``reasoning`` to a Responses client.

    OpenAI reasoning keeps its own proof (and ``rs_`` id); any other reasoning with a proof is
    sealed in a ccproxy envelope; reasoning without a proof gets no ``encrypted_content``.
    """
    if reasoning.origin == "openai":
        item_id = reasoning.id if reasoning.id and reasoning.id.startswith("rs_") else new_id("rs")
        return item_id, reasoning.encrypted_content
    if reasoning.signature is not None or reasoning.redacted_data is not None:
        sealed = Reasoning(
            origin=reasoning.origin or "anthropic",
            signature=reasoning.signature,
            redacted_data=reasoning.redacted_data,
            id=reasoning.id,
        )
        return new_id("rs"), seal_envelope(sealed)
    return new_id("rs"), None


def response_object(
    response_id: str,
    model: str,
    created_at: int,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    request: Request | None = None,
) -> dict[str, Any]:
    """A complete ``response`` object (every field the ``openai`` SDK's ``Response`` requires).

    With ``request`` the request parameters are echoed as the API does (except ``instructions``,
    which can be large and is not needed by clients).
    """
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }
    if request is not None:
        _echo_request(obj, request)
    return obj


def _echo_request(obj: dict[str, Any], request: Request) -> None:
    obj["max_output_tokens"] = request.max_tokens
    if request.parallel_tool_calls is not None:
        obj["parallel_tool_calls"] = request.parallel_tool_calls
    obj["previous_response_id"] = request.previous_response_id
    reasoning = encode_reasoning_config(request.reasoning)
    if reasoning is not None:
        obj["reasoning"] = {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
    obj["temperature"] = request.temperature
    obj["top_p"] = request.top_p
    text = encode_text_config(request)
    if text is not None and "format" in text:
        obj["text"] = {"format": text["format"]}
    choice = encode_tool_choice(request)
    if choice is not None:
        obj["tool_choice"] = choice
    obj["tools"] = encode_tools(request)
    obj["user"] = request.user
    if request.prompt_cache_key is not None:
        obj["prompt_cache_key"] = request.prompt_cache_key


# --- decoding ---------------------------------------------------------------------------------


def decode_response(body: dict[str, Any]) -> Response:
    """A Responses ``response`` object → IR (``InvalidResponseError`` unless it is one)."""
    output = body.get("output")
    if body.get("object", "response") != "response" or not isinstance(output, list):
        raise InvalidResponseError("not a Responses response (an 'output' list)")
    content: list[ContentPart] = []
    has_tool_call = refused = False
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            texts: list[str] = []
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif part.get("type") == "refusal":
                    texts.append(str(part.get("refusal") or ""))
                    refused = True
            content.append(Text("".join(texts)))
        elif kind == "function_call":
            has_tool_call = True
            content.append(
                ToolCall(
                    id=str(item.get("call_id") or item.get("id") or ""),
                    name=str(item.get("name") or ""),
                    arguments=str(item.get("arguments") or ""),
                )
            )
        elif kind == "reasoning":
            content.append(
                Reasoning(
                    text=summary_text(item),
                    origin="openai",
                    encrypted_content=item.get("encrypted_content"),
                    id=item.get("id"),
                )
            )
        else:
            content.append(Opaque("responses", item))
    created = body.get("created_at")
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=decode_stop_reason(
            body.get("status", "completed"),
            body.get("incomplete_details"),
            has_tool_call=has_tool_call,
            refused=refused,
        ),
        usage=decode_usage(body.get("usage")),
        created=int(created) if isinstance(created, int | float) else None,
    )


def summary_text(item: dict[str, Any]) -> str:
    """The readable text of a reasoning item: its summary parts (else its content parts)."""
    parts = item.get("summary") or item.get("content") or []
    return "\n\n".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


# --- encoding ---------------------------------------------------------------------------------


def encode_response(response: Response, *, model: str) -> dict[str, Any]:
    """IR → a Responses ``response`` object reporting ``model``."""
    output: list[dict[str, Any]] = []
    for part in response.content:
        if isinstance(part, Text):
            output.append(message_item(new_id("msg"), part.text))
        elif isinstance(part, ToolCall):
            output.append(function_call_item(new_id("fc"), part))
        elif isinstance(part, Reasoning):
            item_id, encrypted = client_reasoning(part)
            output.append(reasoning_item(item_id, part.text, encrypted))
        elif isinstance(part, Opaque) and part.format == "responses":
            output.append(part.data)
    status, incomplete = terminal_status(response.stop_reason)
    error = (
        {"code": "server_error", "message": "The response failed."} if status == "failed" else None
    )
    response_id = response.id if response.id.startswith("resp_") else new_id("resp")
    created = response.created if response.created is not None else int(time.time())
    return response_object(
        response_id,
        model,
        created,
        status=status,
        output=output,
        usage=encode_usage(response.usage),
        incomplete_details=incomplete,
        error=error,
    )
