"""Lenient pydantic models of a Chat Completions request body, used only to validate its shape.

``decode_request`` validates the body with ``ChatRequestModel`` so that a malformed request is
answered with an ``InvalidRequestError`` naming the field (``messages.2.content.0.type``). Every
model allows unknown fields, and unknown part types pass validation: the decoder carries them
(an unknown role is refused by the decoder, see ``ccproxy.llm.roles``). Responses and stream chunks are never validated with pydantic (hot path).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ccproxy.llm.errors import InvalidRequestError

__all__ = [
    "ChatContentPartModel",
    "ChatFunctionCallModel",
    "ChatFunctionModel",
    "ChatImageUrlModel",
    "ChatJsonSchemaModel",
    "ChatMessageModel",
    "ChatRequestModel",
    "ChatResponseFormatModel",
    "ChatStreamOptionsModel",
    "ChatToolCallModel",
    "ChatToolModel",
    "validate_request",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatImageUrlModel(_Lenient):
    """``image_url`` of an image part: a URL or a ``data:`` URL, and an optional ``detail``."""

    url: str
    detail: str | None = None


class ChatContentPartModel(_Lenient):
    """One content part; ``text`` and ``image_url`` are checked, other types are carried."""

    type: str
    text: str | None = None
    image_url: ChatImageUrlModel | None = None


class ChatFunctionCallModel(_Lenient):
    """``function`` of an assistant tool call (and the legacy ``function_call``)."""

    name: str
    arguments: str | None = None


class ChatToolCallModel(_Lenient):
    """One entry of an assistant message's ``tool_calls``."""

    id: str
    type: str = "function"
    function: ChatFunctionCallModel


class ChatMessageModel(_Lenient):
    """One message of ``messages``: any role; content a string, a list of parts or null."""

    role: str
    content: str | list[ChatContentPartModel] | None = None
    name: str | None = None
    tool_calls: list[ChatToolCallModel] | None = None
    tool_call_id: str | None = None
    function_call: ChatFunctionCallModel | None = None
    reasoning_content: str | None = None
    refusal: str | None = None


class ChatFunctionModel(_Lenient):
    """A function definition (``tools[].function`` and legacy ``functions[]``)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatToolModel(_Lenient):
    """One entry of ``tools``; only ``function`` tools are interpreted."""

    type: str
    function: ChatFunctionModel | None = None


class ChatJsonSchemaModel(_Lenient):
    """``response_format.json_schema``."""

    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ChatResponseFormatModel(_Lenient):
    """``response_format``: ``text``, ``json_object`` or ``json_schema``."""

    type: str
    json_schema: ChatJsonSchemaModel | None = None


class ChatStreamOptionsModel(_Lenient):
    """``stream_options``."""

    include_usage: bool | None = None


class ChatRequestModel(_Lenient):
    """A ``POST /v1/chat/completions`` body."""

    model: str
    messages: list[ChatMessageModel]
    tools: list[ChatToolModel] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[ChatFunctionModel] | None = None
    function_call: str | dict[str, Any] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: ChatStreamOptionsModel | None = None
    reasoning_effort: str | None = None
    response_format: ChatResponseFormatModel | None = None
    user: str | None = None
    n: int | None = None
    prompt_cache_key: str | None = None


# Pydantic names union branches in error locations ("str", "list[ChatContentPartModel]"):
# they are not fields and must not appear in the ``param`` a client sees.
def _is_branch_tag(item: str) -> bool:
    return "[" in item or item in {"str", "int", "float", "bool", "dict", "list", "none"}


def _param(loc: tuple[int | str, ...]) -> str:
    parts = [str(item) for item in loc if not (isinstance(item, str) and _is_branch_tag(item))]
    return ".".join(parts)


def validate_request(body: Any) -> ChatRequestModel:
    """``body`` validated as a Chat request, or ``InvalidRequestError`` naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("Invalid request: the body must be a JSON object")
    try:
        return ChatRequestModel.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        # Of the errors a union produces, the deepest location says most about what is wrong.
        first = max(errors, key=lambda error: len(_param(error["loc"]).split(".")))
        param = _param(first["loc"])
        raise InvalidRequestError(
            f"Invalid request: {param}: {first['msg']}", param=param
        ) from None
