"""Mappings the Anthropic request, response and stream codecs share.

Tool-use ids, tool input ↔ argument text, thinking blocks ↔ ``Reasoning``, usage, stop reasons
and error types. Plain functions over plain dicts: they run on the response and stream paths.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from ccproxy.llm.ir import Reasoning, StopReason, Usage
from ccproxy.llm.reasoning import open_envelope, seal_envelope

__all__ = [
    "ERROR_STATUS",
    "anthropic_error_type",
    "arguments_to_input",
    "client_signature",
    "decode_stop_reason",
    "decode_thinking",
    "decode_usage",
    "encode_stop_reason",
    "encode_usage",
    "input_to_arguments",
    "message_id",
    "reasoning_block_for_client",
    "response_tool_id",
    "tool_use_id",
]

_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_INVALID_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")

#: HTTP status of each Anthropic error type (``overloaded_error`` is Anthropic's 529).
ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_STATUS_ERROR = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# OpenAI error types/codes that have an Anthropic counterpart.
_FOREIGN_ERROR = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "server_error": "api_error",
    "server_is_overloaded": "overloaded_error",
    "context_length_exceeded": "invalid_request_error",
    "invalid_prompt": "invalid_request_error",
    "authentication_failed": "authentication_error",
    "invalid_api_key": "authentication_error",
}

_STOP_REASONS: frozenset[str] = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)


def tool_use_id(value: str) -> str:
    """``value`` when it is a valid Anthropic tool-use id (``^[a-zA-Z0-9_-]+$``), else a
    deterministic one: invalid characters become ``_`` and a short hash of the original keeps
    distinct ids distinct. Requests and responses use this same function, so a ``tool_result``
    still names its ``tool_use``."""
    if _TOOL_ID.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    cleaned = _INVALID_ID_CHARS.sub("_", value)
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def response_tool_id(value: str) -> str:
    """The tool-use id shown to a client: ``tool_use_id(value)``, or a fresh ``toolu_…`` id
    when the IR has none."""
    return tool_use_id(value) if value else "toolu_" + secrets.token_hex(12)


def message_id(value: str | None) -> str:
    """``value`` when it already looks like an Anthropic message id, else a fresh ``msg_…``."""
    if value and value.startswith("msg_") and _TOOL_ID.match(value):
        return value
    return "msg_" + secrets.token_hex(12)


def input_to_arguments(value: Any) -> str:
    """A ``tool_use.input`` object as IR argument text (compact JSON)."""
    if value is None:
        value = {}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def arguments_to_input(arguments: str) -> dict[str, Any]:
    """IR argument text as a ``tool_use.input`` object; empty, invalid or non-object JSON → ``{}``
    (Anthropic accepts only an object)."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def decode_thinking(thinking: str, signature: str | None) -> Reasoning:
    """A ``thinking`` block as ``Reasoning``: our envelope is opened (its origin is restored);
    any other non-empty signature is Anthropic's own proof; no signature means no origin, so no
    upstream will be sent it."""
    opened = open_envelope(signature, text=thinking)
    if opened is not None:
        return opened
    if not signature:
        return Reasoning(text=thinking)
    return Reasoning(text=thinking, origin="anthropic", signature=signature)


def reasoning_block_for_client(reasoning: Reasoning) -> dict[str, Any]:
    """The block an Anthropic *client* is shown for ``reasoning``.

    Anthropic reasoning is returned as received (``thinking`` + ``signature`` or
    ``redacted_thinking``); foreign reasoning with a proof becomes a ``thinking`` block whose
    signature is our envelope, so the client sends it back and the origin upstream gets its
    proof again; reasoning without any proof is shown with an empty signature.
    """
    if reasoning.origin == "anthropic":
        if reasoning.redacted_data is not None and reasoning.signature is None:
            return {"type": "redacted_thinking", "data": reasoning.redacted_data}
        return {
            "type": "thinking",
            "thinking": reasoning.text,
            "signature": reasoning.signature or "",
        }
    return {
        "type": "thinking",
        "thinking": reasoning.text,
        "signature": client_signature(reasoning),
    }


def client_signature(reasoning: Reasoning) -> str:
    """The signature an Anthropic client gets for non-Anthropic reasoning: an envelope when
    there is something to carry back, else empty."""
    if reasoning.origin is None and reasoning.encrypted_content is None:
        return ""
    if reasoning.origin is None:
        reasoning = Reasoning(
            text=reasoning.text,
            origin="openai",
            id=reasoning.id,
            encrypted_content=reasoning.encrypted_content,
        )
    if reasoning.encrypted_content is None and reasoning.id is None and reasoning.signature is None:
        return ""
    return seal_envelope(reasoning)


def decode_usage(raw: Any, base: Usage | None = None) -> Usage:
    """Anthropic ``usage`` → IR; fields absent from ``raw`` keep ``base``'s values (a
    ``message_delta`` may repeat only some counts)."""
    usage = (
        Usage()
        if base is None
        else Usage(
            input=base.input,
            output=base.output,
            cache_read=base.cache_read,
            cache_write_5m=base.cache_write_5m,
            cache_write_1h=base.cache_write_1h,
            reasoning=base.reasoning,
        )
    )
    if not isinstance(raw, dict):
        return usage
    value = raw.get("input_tokens")
    if isinstance(value, int):
        usage.input = value
    value = raw.get("output_tokens")
    if isinstance(value, int):
        usage.output = value
    value = raw.get("cache_read_input_tokens")
    if isinstance(value, int):
        usage.cache_read = value
    total = raw.get("cache_creation_input_tokens")
    split = raw.get("cache_creation")
    one_hour: int | None = None
    if isinstance(split, dict):
        h1 = split.get("ephemeral_1h_input_tokens")
        m5 = split.get("ephemeral_5m_input_tokens")
        one_hour = h1 if isinstance(h1, int) else 0
        if not isinstance(total, int):
            total = one_hour + (m5 if isinstance(m5, int) else 0)
    if isinstance(total, int):
        if one_hour is None:
            # No breakdown (a message_delta repeating the total): keep the split already known.
            one_hour = usage.cache_write_1h
        usage.cache_write_1h = min(one_hour, total)
        usage.cache_write_5m = total - usage.cache_write_1h
    details = raw.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        usage.reasoning = details["thinking_tokens"]
    return usage


def encode_usage(usage: Usage, *, split: bool = True) -> dict[str, Any]:
    """IR usage → Anthropic ``usage`` (``split`` adds the ``cache_creation`` breakdown)."""
    out: dict[str, Any] = {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_write_5m + usage.cache_write_1h,
        "cache_read_input_tokens": usage.cache_read,
    }
    if split:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": usage.cache_write_5m,
            "ephemeral_1h_input_tokens": usage.cache_write_1h,
        }
    if usage.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return out


def decode_stop_reason(value: Any) -> StopReason | None:
    """Anthropic ``stop_reason`` → IR (unknown values → ``end_turn``)."""
    if value is None:
        return None
    if value in _STOP_REASONS:
        reason: StopReason = value
        return reason
    return "end_turn"


def encode_stop_reason(value: StopReason | None, *, has_tool_calls: bool) -> str:
    """IR stop reason → Anthropic: ``content_filter`` → ``refusal``; ``error`` or none given →
    ``tool_use`` when the answer calls tools, else ``end_turn``."""
    if value is not None and value in _STOP_REASONS:
        return value
    if value == "content_filter":
        return "refusal"
    return "tool_use" if has_tool_calls else "end_turn"


def anthropic_error_type(error_type: str, status_code: int | None = None) -> str:
    """An IR ``StreamError.type`` (maybe another format's) as an Anthropic error type."""
    if error_type in ERROR_STATUS:
        return error_type
    mapped = _FOREIGN_ERROR.get(error_type)
    if mapped is not None:
        return mapped
    if status_code is not None:
        if status_code in _STATUS_ERROR:
            return _STATUS_ERROR[status_code]
        if 400 <= status_code < 500:
            return "invalid_request_error"
    return "api_error"
