"""Anthropic Messages requests ↔ IR.

``decode_request`` reads a client body (Claude Code, the ``anthropic`` SDK) on conversion paths;
``encode_request`` writes the body sent to the Anthropic upstream for a client of another format.

Decoding:
- ``system`` (a string or text blocks) → ``Request.system``; a system text block starting with
  ``x-anthropic-billing-header:`` (or that leading line of a string system) is removed and kept in
  ``extra["billing_header"]``: it changes every request and defeats prompt caching elsewhere.
- ``role: "system"`` messages inside ``messages`` (Claude Code) → ``Message(role="system")``; a
  role other than user, assistant and system is a 400 naming ``messages.N.role``
  (``ccproxy.llm.roles``).
- ``tool_use.input`` → compact JSON argument text; ``thinking`` blocks whose signature is our
  envelope are opened (``ccproxy.llm.reasoning``), other signatures are Anthropic's own proofs.
- Server tools (a ``type`` other than ``custom``) → ``extra["server_tools"]``; unknown top-level
  fields (``top_k``, ``context_management``, ``service_tier``, ...) → ``extra``; other content
  blocks Anthropic has (document, search_result, server_tool_use, ...) →
  ``ir.Opaque("anthropic", block)``; a block type Anthropic does not have is a 400 naming
  ``messages.N.content.K.type`` (``ccproxy.llm.content_types``).
- ``thinking`` / ``output_config.effort`` → ``ReasoningConfig`` as given (a budget stays a
  budget; ``effort_for_budget`` is for encoders of other formats).

Encoding (converted traffic only: Anthropic clients are passed through as bytes):
- ``max_tokens`` is required by Anthropic: a request without one gets ``DEFAULT_MAX_TOKENS``
  (8192), or ``budget + 8192`` (at most 64000) when a thinking budget is sent.
- Mid-conversation ``system``/``developer`` messages become a user text block
  ``<system-reminder>\\n…\\n</system-reminder>``, merged with the adjacent user turn; ``tool``
  messages become user turns of ``tool_result`` blocks. Consecutive turns of one role are merged
  and ``tool_result`` blocks are put first in their user turn (Anthropic requires both).
- A ``tool_result`` whose ``tool_use`` is not in the preceding assistant turn becomes the user text
  ``Tool result for <id>: …`` (Anthropic rejects orphan results).
- Reasoning is kept only when its origin is Anthropic (``thinking`` with signature or
  ``redacted_thinking``); foreign reasoning is dropped (``ccproxy.llm.reasoning``).
- An OpenAI-style effort (no budget, not adaptive) becomes ``thinking.budget_tokens`` from
  ``EFFORT_BUDGETS`` (``none`` → disabled, no effort → ``medium``); ``output_config.effort`` is
  sent only with an Anthropic-shaped config (adaptive, a budget, or disabled).
- Structured output ``json_schema`` → ``output_config: {"format": {"type": "json_schema",
  "schema": …}}``.

Lossy mappings:
- ``extra`` (billing header, server tools, ``top_k``, ``context_management``, ...) is never
  re-encoded: the encoder cannot know which format it came from.
- ``citations`` on text, ``cache_control`` on blocks other than text (and tools), ``metadata`` keys
  other than ``user_id`` and ``output_config`` keys other than ``effort``/``format`` are dropped.
- Tool-result content other than text and images (documents, search results) is dropped.
- Images with a source other than base64/url decode as Opaque.
- Images lose ``detail``; an inline image without a media type is sent as ``image/png``.
- ``output_config.effort`` without ``thinking`` decodes as an effort-only config and re-encodes
  as a thinking budget.
- Encoding drops: empty text blocks and turns left empty, ``Message.name``, tool ``strict`` (not
  accepted without a beta), ``json_object`` response formats (no Anthropic equivalent),
  ``prompt_cache_key``, ``previous_response_id``, ``include_usage``, foreign ``Opaque`` blocks,
  images in assistant turns and tool calls in user turns.
- Encoding with thinking on: ``temperature`` other than 1 and ``top_p`` below 0.95 are dropped;
  a budget not below ``max_tokens`` becomes half of ``max_tokens`` (at least 1024, and when
  that still does not fit, ``max_tokens`` grows by the budget: Anthropic wants
  ``1024 <= budget < max_tokens``); thinking is left out when ``tool_choice`` forces a tool or
  when the last assistant turn calls tools without a leading thinking block (Anthropic rejects
  both).
- ``tool_choice`` is left out when there are no tools; ``parallel_tool_calls`` travels as
  ``tool_choice.disable_parallel_tool_use``.
- Invalid or non-object tool-call argument JSON is sent as ``input: {}``.
"""

from __future__ import annotations

from typing import Any, cast

from ccproxy.llm.content_types import ANTHROPIC_BLOCKS, ANTHROPIC_TOOL_RESULT_BLOCKS
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.anthropic.conversions import (
    arguments_to_input,
    decode_thinking,
    input_to_arguments,
    tool_use_id,
)
from ccproxy.llm.formats.anthropic.models import (
    BLOCK_MODELS,
    ContentBlockHead,
    ImageBlock,
    MessageParam,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolParam,
    ToolResultBlock,
    ToolUseBlock,
    validate,
)
from ccproxy.llm.ir import (
    ContentPart,
    Image,
    Message,
    Opaque,
    Reasoning,
    ReasoningConfig,
    ReasoningEffort,
    Request,
    ResponseFormat,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from ccproxy.llm.reasoning import EFFORT_BUDGETS, budget_for_effort
from ccproxy.llm.roles import check_role

__all__ = ["BILLING_HEADER_PREFIX", "DEFAULT_MAX_TOKENS", "decode_request", "encode_request"]

#: ``max_tokens`` sent upstream when the client gave none (Anthropic requires the field).
DEFAULT_MAX_TOKENS = 8192
#: Ceiling of the ``max_tokens`` chosen for a request that sends a thinking budget but no limit.
MAX_TOKENS_WITH_THINKING = 64000
#: The minimum thinking budget Anthropic accepts.
MIN_THINKING_BUDGET = 1024
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"

_KNOWN_FIELDS = frozenset(MessagesRequest.model_fields)
_EFFORTS: frozenset[str] = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
_ANTHROPIC_EFFORT = {"none": "low", "minimal": "low", "xhigh": "high"}


# --- decoding ------------------------------------------------------------------------------


def decode_request(body: dict[str, Any]) -> Request:
    """An Anthropic Messages request body → IR (raises ``InvalidRequestError`` naming the field)."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    top = validate(MessagesRequest, body)
    extra: dict[str, Any] = {k: v for k, v in body.items() if k not in _KNOWN_FIELDS}
    system, billing = _decode_system(top.system)
    if billing is not None:
        extra["billing_header"] = billing
    request = Request(
        model=top.model,
        messages=[_decode_message(raw, i) for i, raw in enumerate(top.messages)],
        system=system,
        max_tokens=top.max_tokens,
        temperature=top.temperature,
        top_p=top.top_p,
        stop=list(top.stop_sequences or []),
        stream=bool(top.stream),
        user=top.metadata.user_id if top.metadata else None,
        extra=extra,
    )
    if top.tools:
        for i, raw in enumerate(top.tools):
            tool = validate(ToolParam, raw, f"tools.{i}")
            if tool.type not in (None, "custom"):
                extra.setdefault("server_tools", []).append(raw)
                continue
            if tool.name is None:
                raise InvalidRequestError(
                    f"tools.{i}.name: Field required", param=f"tools.{i}.name"
                )
            request.tools.append(
                Tool(
                    name=tool.name,
                    description=tool.description,
                    parameters=tool.input_schema
                    if tool.input_schema is not None
                    else {"type": "object", "properties": {}},
                    strict=tool.strict,
                    cache_control=tool.cache_control,
                )
            )
    choice = top.tool_choice
    if choice is not None:
        if choice.type == "auto":
            request.tool_choice = ToolChoice("auto")
        elif choice.type == "any":
            request.tool_choice = ToolChoice("required")
        elif choice.type == "none":
            request.tool_choice = ToolChoice("none")
        elif choice.type == "tool":
            if not choice.name:
                raise InvalidRequestError(
                    "tool_choice.name: Field required for tool_choice type 'tool'",
                    param="tool_choice.name",
                )
            request.tool_choice = ToolChoice("tool", choice.name)
        if choice.disable_parallel_tool_use is not None:
            request.parallel_tool_calls = not choice.disable_parallel_tool_use
    request.reasoning = _decode_reasoning(top)
    output_format = (top.output_config.format if top.output_config else None) or top.output_format
    if output_format and output_format.get("type") == "json_schema":
        schema = output_format.get("schema")
        request.response_format = ResponseFormat(
            type="json_schema", schema=schema if isinstance(schema, dict) else None
        )
    return request


def _decode_system(system: str | list[Any] | None) -> tuple[list[Text], str | None]:
    if system is None:
        return [], None
    billing: str | None = None
    if isinstance(system, str):
        if system.lstrip().startswith(BILLING_HEADER_PREFIX):
            billing, _, system = system.lstrip().partition("\n")
        return ([Text(system)] if system else []), billing
    texts: list[Text] = []
    for i, raw in enumerate(system):
        head = validate(ContentBlockHead, raw, f"system.{i}")
        if head.type != "text":
            continue  # Anthropic accepts only text in system; anything else has no IR place
        block = validate(TextBlock, raw, f"system.{i}")
        if block.text.lstrip().startswith(BILLING_HEADER_PREFIX):
            billing = block.text if billing is None else billing
            continue
        texts.append(Text(block.text, block.cache_control))
    return texts, billing


def _decode_message(raw: Any, i: int) -> Message:
    where = f"messages.{i}"
    message = validate(MessageParam, raw, where)
    check_role("anthropic", message.role, f"{where}.role")
    role = cast(Role, message.role)
    if isinstance(message.content, str):
        return Message(role=role, content=[Text(message.content)])
    return Message(
        role=role,
        content=[
            _decode_block(block, f"{where}.content.{j}") for j, block in enumerate(message.content)
        ],
    )


def _decode_block(raw: Any, where: str) -> ContentPart:
    head = validate(ContentBlockHead, raw, where)
    model = BLOCK_MODELS.get(head.type)
    if model is None:
        ANTHROPIC_BLOCKS.check(head.type, f"{where}.type")
        return Opaque("anthropic", raw)
    block = validate(model, raw, where)
    if isinstance(block, TextBlock):
        return Text(block.text, block.cache_control)
    if isinstance(block, ImageBlock):
        image = _decode_image(block, where)
        return image if image is not None else Opaque("anthropic", raw)
    if isinstance(block, ToolUseBlock):
        return ToolCall(block.id, block.name, input_to_arguments(block.input))
    if isinstance(block, ToolResultBlock):
        return ToolResult(
            call_id=block.tool_use_id,
            content=_decode_result_content(block.content, where),
            is_error=bool(block.is_error),
        )
    if isinstance(block, ThinkingBlock):
        return decode_thinking(block.thinking, block.signature)
    assert isinstance(block, RedactedThinkingBlock)
    return Reasoning(origin="anthropic", redacted_data=block.data)


def _decode_image(block: ImageBlock, where: str) -> Image | None:
    source = block.source
    if source.type == "base64":
        if source.data is None:
            param = f"{where}.source.data"
            raise InvalidRequestError(f"{param}: Field required", param=param)
        return Image(media_type=source.media_type, data=source.data)
    if source.type == "url":
        if source.url is None:
            param = f"{where}.source.url"
            raise InvalidRequestError(f"{param}: Field required", param=param)
        return Image(url=source.url)
    return None


def _decode_result_content(content: str | list[Any] | None, where: str) -> list[Text | Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Text | Image] = []
    for k, raw in enumerate(content):
        inner = f"{where}.content.{k}"
        head = validate(ContentBlockHead, raw, inner)
        ANTHROPIC_TOOL_RESULT_BLOCKS.check(head.type, f"{inner}.type")
        if head.type == "text":
            text = validate(TextBlock, raw, inner)
            parts.append(Text(text.text, text.cache_control))
        elif head.type == "image":
            image = _decode_image(validate(ImageBlock, raw, inner), inner)
            if image is not None:
                parts.append(image)
    return parts


def _decode_reasoning(top: MessagesRequest) -> ReasoningConfig | None:
    raw_effort = top.output_config.effort if top.output_config else None
    effort = cast(ReasoningEffort, raw_effort) if raw_effort in _EFFORTS else None
    thinking = top.thinking
    if thinking is None:
        return ReasoningConfig(effort=effort) if effort is not None else None
    if thinking.type == "disabled":
        return ReasoningConfig(enabled=False, effort=effort)
    if thinking.type == "adaptive":
        return ReasoningConfig(adaptive=True, effort=effort)
    return ReasoningConfig(budget_tokens=thinking.budget_tokens, effort=effort)


# --- encoding ------------------------------------------------------------------------------


def encode_request(request: Request) -> dict[str, Any]:
    """IR → an Anthropic Messages request body (see the module docstring for the rules)."""
    messages = _encode_messages(request.messages)
    body: dict[str, Any] = {"model": request.model}
    thinking, effort = _encode_reasoning(request.reasoning)
    max_tokens = request.max_tokens
    if thinking is not None and thinking["type"] == "enabled":
        budget: int = thinking["budget_tokens"]
        if max_tokens is None:
            max_tokens = min(budget + DEFAULT_MAX_TOKENS, MAX_TOKENS_WITH_THINKING)
        if budget >= max_tokens:
            # Keep the client's limit for the answer as far as Anthropic's minimum allows.
            budget = max(MIN_THINKING_BUDGET, max_tokens // 2)
            if budget >= max_tokens:
                max_tokens += budget
        thinking["budget_tokens"] = budget
    body["max_tokens"] = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
    body["messages"] = messages
    system = [_text_block(t) for t in request.system if t.text]
    if system:
        body["system"] = system
    tool_choice = _encode_tool_choice(request) if request.tools else None
    if thinking is not None and thinking["type"] != "disabled":
        forced = tool_choice is not None and tool_choice["type"] in ("any", "tool")
        if forced or not _last_tool_turn_has_thinking(messages):
            thinking = None
    if request.tools:
        body["tools"] = [_encode_tool(t) for t in request.tools]
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    thinking_on = thinking is not None and thinking["type"] != "disabled"
    if request.temperature is not None and (not thinking_on or request.temperature == 1):
        body["temperature"] = request.temperature
    if request.top_p is not None and (not thinking_on or request.top_p >= 0.95):
        body["top_p"] = request.top_p
    if thinking is not None:
        body["thinking"] = thinking
    output_config: dict[str, Any] = {}
    if effort is not None:
        output_config["effort"] = effort
    response_format = request.response_format
    if response_format is not None and response_format.type == "json_schema":
        output_config["format"] = {"type": "json_schema", "schema": response_format.schema or {}}
    if output_config:
        body["output_config"] = output_config
    if request.user:
        body["metadata"] = {"user_id": request.user}
    body["stream"] = request.stream
    return body


def _encode_reasoning(config: ReasoningConfig | None) -> tuple[dict[str, Any] | None, str | None]:
    """(``thinking``, ``output_config.effort``) for a reasoning config."""
    if config is None:
        return None, None
    effort = _ANTHROPIC_EFFORT.get(config.effort, config.effort) if config.effort else None
    if not config.enabled:
        return {"type": "disabled"}, effort
    if config.adaptive:
        return {"type": "adaptive"}, effort
    if config.budget_tokens is not None:
        return {"type": "enabled", "budget_tokens": config.budget_tokens}, effort
    if config.effort == "none":
        return {"type": "disabled"}, None
    budget = budget_for_effort(config.effort or "medium") or EFFORT_BUDGETS["medium"]
    return {"type": "enabled", "budget_tokens": budget}, None


def _last_tool_turn_has_thinking(messages: list[dict[str, Any]]) -> bool:
    """False when the last assistant turn calls tools without starting with a thinking block:
    Anthropic rejects such a history while thinking is on."""
    for message in reversed(messages):
        if message["role"] != "assistant":
            continue
        content = message["content"]
        if not any(block.get("type") == "tool_use" for block in content):
            return True
        return content[0].get("type") in ("thinking", "redacted_thinking")
    return True


def _encode_tool(tool: Tool) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else {}
    if "type" not in schema:
        schema = {"type": "object", **schema}
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = schema
    if tool.cache_control is not None:
        out["cache_control"] = tool.cache_control
    return out


def _encode_tool_choice(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    out: dict[str, Any] | None = None
    if choice is not None:
        if choice.mode == "auto":
            out = {"type": "auto"}
        elif choice.mode == "required":
            out = {"type": "any"}
        elif choice.mode == "none":
            out = {"type": "none"}
        else:
            out = {"type": "tool", "name": choice.name} if choice.name else {"type": "any"}
    parallel = request.parallel_tool_calls
    if parallel is not None:
        if out is None and not parallel:
            out = {"type": "auto"}
        if out is not None and out["type"] != "none":
            out["disable_parallel_tool_use"] = not parallel
    return out


def _text_block(text: Text) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text.text}
    if text.cache_control is not None:
        block["cache_control"] = text.cache_control
    return block


def _image_block(image: Image) -> dict[str, Any] | None:
    if image.data is not None:
        source: dict[str, Any] = {
            "type": "base64",
            "media_type": image.media_type or "image/png",
            "data": image.data,
        }
    elif image.url is not None:
        source = {"type": "url", "url": image.url}
    else:
        return None
    return {"type": "image", "source": source}


def _tool_result_block(result: ToolResult) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in result.content:
        if isinstance(part, Text):
            if part.text:
                content.append(_text_block(part))
        else:
            image = _image_block(part)
            if image is not None:
                content.append(image)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id(result.call_id)}
    if content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return block


def _user_blocks(parts: list[ContentPart]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if part.text:
                blocks.append(_text_block(part))
        elif isinstance(part, Image):
            image = _image_block(part)
            if image is not None:
                blocks.append(image)
        elif isinstance(part, ToolResult):
            blocks.append(_tool_result_block(part))
        elif isinstance(part, Opaque) and part.format == "anthropic":
            blocks.append(part.data)
    return blocks


def _assistant_blocks(parts: list[ContentPart]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if part.text:
                blocks.append(_text_block(part))
        elif isinstance(part, ToolCall):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_use_id(part.id),
                    "name": part.name,
                    "input": arguments_to_input(part.arguments),
                }
            )
        elif isinstance(part, Reasoning):
            if part.origin != "anthropic":
                continue
            if part.signature:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
            elif part.redacted_data is not None:
                blocks.append({"type": "redacted_thinking", "data": part.redacted_data})
        elif isinstance(part, Opaque) and part.format == "anthropic":
            blocks.append(part.data)
    return blocks


def _system_reminder(parts: list[ContentPart]) -> list[dict[str, Any]]:
    text = "\n".join(p.text for p in parts if isinstance(p, Text) and p.text)
    if not text:
        return []
    return [{"type": "text", "text": f"<system-reminder>\n{text}\n</system-reminder>"}]


def _encode_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            role, blocks = "user", _system_reminder(message.content)
        elif message.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(message.content)
        else:
            role, blocks = "user", _user_blocks(message.content)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    called: set[str] = set()
    for turn in out:
        if turn["role"] == "assistant":
            called = {b["id"] for b in turn["content"] if b.get("type") == "tool_use"}
            continue
        results: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for block in turn["content"]:
            if block.get("type") != "tool_result":
                others.append(block)
            elif block["tool_use_id"] in called:
                results.append(block)
            else:
                others.extend(_orphan_result(block))
        turn["content"] = results + others
        called = set()
    return out


def _orphan_result(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool result without its call, as user content Anthropic accepts."""
    content = block.get("content", [])
    text = "\n".join(b["text"] for b in content if b.get("type") == "text")
    label = f"Tool result for {block['tool_use_id']}"
    if block.get("is_error"):
        label += " (error)"
    return [{"type": "text", "text": f"{label}: {text}"}] + [
        b for b in content if b.get("type") == "image"
    ]
