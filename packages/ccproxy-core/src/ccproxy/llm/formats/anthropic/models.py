"""Lenient pydantic models of an Anthropic Messages request (and error body).

Used only by ``decode_request`` to check the structure of a client body and to name the
offending field in ``InvalidRequestError.param`` (``messages.2.content.0.type``). Every model
accepts unknown fields (``extra="allow"``). Validation is staged — the top level, then each
message, then each content block by its ``type`` — so that an error location is a plain path
into the body and unknown block types and roles pass through untouched. Responses and stream
events never go through pydantic (hot path).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ccproxy.llm.errors import InvalidRequestError

__all__ = [
    "BLOCK_MODELS",
    "Base64ImageSource",
    "ContentBlockHead",
    "ErrorBody",
    "ErrorDetail",
    "ImageBlock",
    "MessageParam",
    "MessagesRequest",
    "Metadata",
    "OutputConfig",
    "RedactedThinkingBlock",
    "TextBlock",
    "ThinkingBlock",
    "ThinkingParam",
    "ToolChoiceParam",
    "ToolParam",
    "ToolResultBlock",
    "ToolUseBlock",
    "validate",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metadata(_Lenient):
    """``metadata``: only ``user_id`` is interpreted."""

    user_id: str | None = None


class ToolChoiceParam(_Lenient):
    """``tool_choice``: ``auto`` | ``any`` | ``tool`` (with ``name``) | ``none``."""

    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingParam(_Lenient):
    """``thinking``: ``enabled`` (with ``budget_tokens``) | ``adaptive`` | ``disabled``."""

    type: str
    budget_tokens: int | None = None


class OutputConfig(_Lenient):
    """``output_config``: ``effort`` and the structured-output ``format``."""

    effort: str | None = None
    format: dict[str, Any] | None = None


class MessagesRequest(_Lenient):
    """The top level of ``POST /v1/messages``; messages, system and tools are checked later."""

    model: str
    messages: list[Any]
    max_tokens: int | None = None
    system: str | list[Any] | None = None
    tools: list[Any] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    output_config: OutputConfig | None = None
    output_format: dict[str, Any] | None = None
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None


class MessageParam(_Lenient):
    """One entry of ``messages``; ``content`` blocks are checked one by one."""

    role: str
    content: str | list[Any]


class ToolParam(_Lenient):
    """One entry of ``tools``: a custom tool (no ``type`` or ``custom``) or a server tool."""

    name: str | None = None
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    strict: bool | None = None


class ContentBlockHead(_Lenient):
    """What every content block must have."""

    type: str


class TextBlock(_Lenient):
    """``{"type": "text", "text": ...}`` (``citations`` are ignored)."""

    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None


class Base64ImageSource(_Lenient):
    """An image ``source``: ``base64`` (``media_type`` + ``data``), ``url`` or another kind."""

    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(_Lenient):
    """``{"type": "image", "source": {...}}``."""

    type: Literal["image"]
    source: Base64ImageSource


class ToolUseBlock(_Lenient):
    """``{"type": "tool_use", "id", "name", "input": {...}}``."""

    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] | None = None


class ToolResultBlock(_Lenient):
    """``{"type": "tool_result", "tool_use_id", "content": str | blocks, "is_error"}``."""

    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Any] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Lenient):
    """``{"type": "thinking", "thinking", "signature"}``."""

    type: Literal["thinking"]
    thinking: str = ""
    signature: str | None = None


class RedactedThinkingBlock(_Lenient):
    """``{"type": "redacted_thinking", "data"}``."""

    type: Literal["redacted_thinking"]
    data: str


#: The block types the IR models; any other type is carried as ``ir.Opaque``.
BLOCK_MODELS: dict[str, type[_Lenient]] = {
    "text": TextBlock,
    "image": ImageBlock,
    "tool_use": ToolUseBlock,
    "tool_result": ToolResultBlock,
    "thinking": ThinkingBlock,
    "redacted_thinking": RedactedThinkingBlock,
}


class ErrorDetail(_Lenient):
    """``error`` of an Anthropic error body."""

    type: str
    message: str = ""


class ErrorBody(_Lenient):
    """``{"type": "error", "error": {"type", "message"}}``."""

    type: Literal["error"] = "error"
    error: ErrorDetail


_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], data: Any, where: str = "") -> _M:
    """``model`` validated from ``data``; a failure raises ``InvalidRequestError`` whose
    ``param`` is ``where`` joined with the first error's location (``messages.2.content.0.type``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        parts = [where] if where else []
        for item in error["loc"]:
            # Union members show up in locations as their type names; they are not body paths.
            if isinstance(item, str) and ("[" in item or item in _TYPE_NAMES):
                continue
            parts.append(str(item))
        param = ".".join(parts) or None
        message = error["msg"]
        raise InvalidRequestError(
            f"{param}: {message}" if param else message, param=param
        ) from None


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
