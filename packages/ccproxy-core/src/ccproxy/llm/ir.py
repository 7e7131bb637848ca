"""The internal representation (IR): one model of a conversation that every wire format maps to.

Conversion is hub and spoke: each format has a decoder into the IR and an encoder out of it for
requests, responses and stream events; no format converts to another directly.

Conventions every codec follows:
- ``Request.system`` holds the top-level instructions (Anthropic ``system``, Responses
  ``instructions``, Chat's *leading* system/developer messages). System or developer messages
  that appear later in the conversation stay in ``messages`` with role ``system``/``developer``.
- Tool call arguments are JSON *text* (as they stream), never parsed dicts.
- ``Reasoning`` keeps whatever opaque proof its origin format needs to accept it back
  (Anthropic ``signature`` / redacted ``data``; OpenAI ``encrypted_content`` and item ``id``).
  Encoders keep reasoning only for the format it came from (see ``ccproxy.llm.reasoning``).
- ``Usage`` is normalised (DESIGN §3.4): ``input`` excludes cache reads and writes, ``output``
  includes reasoning, ``reasoning`` is the informational part of ``output``.
- Stream events carry a block ``index`` that counts every content block of one response from 0
  in order (text, tool call and reasoning alike); encoders map it to their own numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BlockStart",
    "BlockStop",
    "ContentPart",
    "Image",
    "Message",
    "Opaque",
    "Reasoning",
    "ReasoningConfig",
    "ReasoningDelta",
    "ReasoningSignature",
    "Request",
    "Response",
    "ResponseEnd",
    "ResponseFormat",
    "ResponseStart",
    "Role",
    "StopReason",
    "StreamError",
    "StreamEvent",
    "Text",
    "TextDelta",
    "Tool",
    "ToolArgumentsDelta",
    "ToolCall",
    "ToolChoice",
    "ToolResult",
    "Usage",
    "WireFormat",
]

WireFormat = Literal["anthropic", "chat", "responses"]
Role = Literal["system", "developer", "user", "assistant", "tool"]
StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "content_filter",
    "error",
]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


# --- content -------------------------------------------------------------------------------


@dataclass(slots=True)
class Text:
    """Plain text. ``cache_control`` is Anthropic's breakpoint marker, kept where a format has one."""

    text: str
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class Image:
    """An image given inline (``data`` base64 with ``media_type``) or by ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class ToolCall:
    """The assistant asking for a tool: ``arguments`` is JSON text."""

    id: str
    name: str
    arguments: str = ""


@dataclass(slots=True)
class ToolResult:
    """A tool's answer to call ``call_id``; ``content`` may hold text and images."""

    call_id: str
    content: list[Text | Image] = field(default_factory=list)
    is_error: bool = False


@dataclass(slots=True)
class Reasoning:
    """Model reasoning: readable ``text`` (thinking or summary) plus its opaque proof.

    ``origin`` names the format whose upstream produced it: only that format can send it back.
    """

    text: str = ""
    origin: Literal["anthropic", "openai"] | None = None
    signature: str | None = None
    redacted_data: str | None = None
    encrypted_content: str | None = None
    id: str | None = None


@dataclass(slots=True)
class Opaque:
    """A block the IR does not model, kept for re-encoding into the format it came from only."""

    format: WireFormat
    data: dict[str, Any]


ContentPart = Text | Image | ToolCall | ToolResult | Reasoning | Opaque


@dataclass(slots=True)
class Message:
    """One turn. Tool results travel as ``ToolResult`` parts (role ``tool`` or ``user``)."""

    role: Role
    content: list[ContentPart] = field(default_factory=list)
    name: str | None = None


# --- request ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON Schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (any tool) or ``tool`` (the one named)."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    """Structured output: ``json_object`` or ``json_schema`` (with ``schema``)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(slots=True)
class ReasoningConfig:
    """How much the model should think: an effort level and/or a token budget.

    ``enabled=False`` means thinking was explicitly turned off; ``summary`` is the OpenAI
    reasoning summary mode (``auto``, ``concise``, ``detailed``).
    """

    enabled: bool = True
    effort: ReasoningEffort | None = None
    budget_tokens: int | None = None
    summary: str | None = None
    adaptive: bool = False


@dataclass(slots=True)
class Request:
    """A model request in any format."""

    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[Text] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    reasoning: ReasoningConfig | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    prompt_cache_key: str | None = None
    previous_response_id: str | None = None
    #: Fields of the source format the IR does not interpret (not re-encoded across formats).
    extra: dict[str, Any] = field(default_factory=dict)


# --- response --------------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """Normalised token counts (see the module docstring)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0

    @property
    def cache_write(self) -> int:
        """Cache writes of both lifetimes."""
        return self.cache_write_5m + self.cache_write_1h

    @property
    def prompt_total(self) -> int:
        """Every prompt token: what a tiered price threshold compares against."""
        return self.input + self.cache_read + self.cache_write

    def merge(self, other: Usage) -> Usage:
        """A usage whose fields take ``other``'s value where that is non-zero."""
        return Usage(
            input=other.input or self.input,
            output=other.output or self.output,
            cache_read=other.cache_read or self.cache_read,
            cache_write_5m=other.cache_write_5m or self.cache_write_5m,
            cache_write_1h=other.cache_write_1h or self.cache_write_1h,
            reasoning=other.reasoning or self.reasoning,
        )


@dataclass(slots=True)
class Response:
    """A complete (non-streamed) model response."""

    id: str
    model: str
    content: list[ContentPart] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: int | None = None


# --- stream events ---------------------------------------------------------------------------


@dataclass(slots=True)
class ResponseStart:
    """The response began; ``usage`` may already carry input counts."""

    id: str
    model: str
    usage: Usage | None = None


@dataclass(slots=True)
class BlockStart:
    """Block ``index`` begins: ``part`` is an empty ``Text``, a ``ToolCall`` (id and name, no
    arguments yet) or a ``Reasoning`` (with ``id`` / ``redacted_data`` when known)."""

    index: int
    part: Text | ToolCall | Reasoning


@dataclass(slots=True)
class TextDelta:
    """More text for block ``index``."""

    index: int
    text: str


@dataclass(slots=True)
class ToolArgumentsDelta:
    """More argument JSON text for the tool call in block ``index``."""

    index: int
    delta: str


@dataclass(slots=True)
class ReasoningDelta:
    """More reasoning text for block ``index``."""

    index: int
    text: str


@dataclass(slots=True)
class ReasoningSignature:
    """The opaque proof of reasoning block ``index`` (Anthropic signature or OpenAI encrypted content)."""

    index: int
    signature: str | None = None
    encrypted_content: str | None = None


@dataclass(slots=True)
class BlockStop:
    """Block ``index`` is complete."""

    index: int


@dataclass(slots=True)
class ResponseEnd:
    """The response finished; ``usage`` holds the final counts."""

    stop_reason: StopReason | None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    """The stream failed mid-way (upstream error event, cut connection, bad data)."""

    type: str
    message: str
    status_code: int | None = None


StreamEvent = (
    ResponseStart
    | BlockStart
    | TextDelta
    | ToolArgumentsDelta
    | ReasoningDelta
    | ReasoningSignature
    | BlockStop
    | ResponseEnd
    | StreamError
)
