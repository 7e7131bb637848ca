"""Lenient pydantic models of an OpenAI Responses request body.

Used only by ``decode_request`` to check the shape of client input and to name the offending
field (``input.2.content.0.type``) in an ``InvalidRequestError``. Every model accepts unknown
fields (``extra="allow"``); item and content-part types the IR does not model are not validated
here at all (they travel as ``ir.Opaque``). Responses and stream events never go through
pydantic (hot path): they are read as plain dicts.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ccproxy.llm.errors import InvalidRequestError

__all__ = [
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionTool",
    "ImagePart",
    "MessageItem",
    "ReasoningItem",
    "ReasoningParam",
    "RefusalPart",
    "ResponsesErrorBody",
    "ResponsesRequestBody",
    "TextFormat",
    "TextParam",
    "TextPart",
    "validate",
]

_M = TypeVar("_M", bound=BaseModel)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TextPart(_Lenient):
    """``input_text`` / ``output_text`` content part."""

    type: str
    text: str


class ImagePart(_Lenient):
    """``input_image`` content part: ``image_url`` is a URL or a data URL."""

    type: str
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class RefusalPart(_Lenient):
    """``refusal`` content part of an assistant message sent back as history."""

    type: str
    refusal: str


class MessageItem(_Lenient):
    """``{type: "message", role, content}``; ``type`` may be omitted (easy input message)."""

    type: Literal["message"] | None = None
    role: str
    content: Any

    @field_validator("content")
    @classmethod
    def _content_shape(cls, value: Any) -> Any:
        if not isinstance(value, str | list):
            raise ValueError("must be a string or a list of content parts")
        return value


class FunctionCallItem(_Lenient):
    """An assistant function call sent back as history."""

    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None


class FunctionCallOutputItem(_Lenient):
    """A tool result: ``output`` is a string or a list of ``input_text``/``input_image`` parts."""

    type: Literal["function_call_output"]
    call_id: str
    output: Any

    @field_validator("output")
    @classmethod
    def _output_shape(cls, value: Any) -> Any:
        if not isinstance(value, str | list):
            raise ValueError("must be a string or a list of content parts")
        return value


class SummaryPart(_Lenient):
    """One ``summary_text`` (or ``reasoning_text``) part of a reasoning item."""

    type: str
    text: str


class ReasoningItem(_Lenient):
    """A reasoning item sent back as history (``encrypted_content`` is the opaque proof)."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryPart] = Field(default_factory=list)
    content: list[SummaryPart] | None = None
    encrypted_content: str | None = None


class FunctionTool(_Lenient):
    """``{type: "function", name, description, parameters, strict}`` (flat, unlike Chat)."""

    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ReasoningParam(_Lenient):
    """``reasoning: {effort, summary}``."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: str | None = None


class TextFormat(_Lenient):
    """``text.format``: ``text`` | ``json_object`` | ``json_schema`` (flat ``name``/``schema``)."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextParam(_Lenient):
    """``text: {format, verbosity}``."""

    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesRequestBody(_Lenient):
    """The top level of ``POST /v1/responses``. ``input`` is a string or a list of items."""

    model: str
    input: Any = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    reasoning: ReasoningParam | None = None
    text: TextParam | None = None
    include: list[str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    previous_response_id: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("input")
    @classmethod
    def _input_shape(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | list):
            raise ValueError("must be a string or a list of input items")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_shape(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | dict):
            raise ValueError("must be a string or an object")
        return value


class ResponsesErrorBody(_Lenient):
    """``{"error": {"message", "type", "param", "code"}}`` as the OpenAI API answers errors."""

    error: dict[str, Any]


def validate(model: type[_M], data: Any, param: str = "") -> _M:
    """``data`` validated as ``model``; a failure becomes ``InvalidRequestError`` whose ``param``
    is ``param`` joined with the location pydantic reports (``input.2.content``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        location = [param] if param else []
        location.extend(str(part) for part in error["loc"])
        where = ".".join(location)
        raise InvalidRequestError(
            f"{where or 'body'}: {error['msg']}", param=where or None
        ) from None
