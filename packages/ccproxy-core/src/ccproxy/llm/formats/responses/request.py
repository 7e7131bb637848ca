"""OpenAI Responses request bodies ↔ IR ``Request``.

Decoding (a Responses client's body → IR):
- ``input`` as a plain string is one user message. Items: ``message`` (``type`` optional;
  roles user/assistant/system/developer), ``function_call``, ``function_call_output``,
  ``reasoning``; other items Responses has (``item_reference``, ``local_shell_call``,
  ``custom_tool_call``, …) are kept as ``Opaque("responses", item)``, and so are content parts
  other than text, images by URL and refusals. A message with an unknown role, an item or a
  part of a type Responses does not have is a 400 naming ``input.N.role``, ``input.N.type`` or
  ``input.N.content.K.type`` (``ccproxy.llm.roles``, ``ccproxy.llm.content_types``).
- ``instructions`` plus the *leading* system/developer messages (text only) become
  ``Request.system``; later ones stay in ``messages`` with their role.
- Assistant-side items (assistant messages, function calls, reasoning) that follow each other
  form one assistant ``Message``; consecutive ``function_call_output`` items form one ``tool``
  message of ``ToolResult`` parts. Unknown items join the message before them (or a new user
  message when they come first) so they are re-encoded in place.
- Reasoning items whose ``encrypted_content`` is a ccproxy envelope are opened (Claude thinking
  that a Responses client sends back); the others are OpenAI reasoning (``origin="openai"``).
- Function tools → ``Tool``; other tool types (``web_search``, ``local_shell``, ``custom``, …) go
  to ``extra["tools_other"]`` and a non-function object ``tool_choice`` to
  ``extra["tool_choice_other"]``; only this format re-emits them.
- Interpreted fields: ``model``, ``input``, ``instructions``, ``tools``, ``tool_choice``,
  ``parallel_tool_calls``, ``max_output_tokens``, ``temperature``, ``top_p``, ``stream``,
  ``reasoning``, ``text.format``, ``user`` (else ``safety_identifier``), ``prompt_cache_key``,
  ``previous_response_id``. ``text.verbosity`` → ``extra["text_verbosity"]``; every other
  top-level field (``store``, ``include``, ``metadata``, ``client_metadata``, ``service_tier``,
  ``truncation``, …) → ``extra`` under its own name.

Encoding (IR → a body for the Codex upstream, from converted traffic):
- ``system`` → ``instructions`` (blocks joined with a blank line), never a system item;
  mid-conversation system/developer messages → ``developer`` input messages.
- Items carry no ``id``: like the official Codex CLI, so that the backend (``store: false``)
  does not look them up ("Item with id … not found").
- ``reasoning`` present → ``include: ["reasoning.encrypted_content"]``. ``stream`` as in the IR;
  ``store`` is never set (the provider profile forces it).
- Of ``extra``, only keys this decoder writes and no other format uses are re-emitted:
  ``tools_other``, ``tool_choice_other``, ``include`` and ``text_verbosity``.

Lossy mappings:
- ``system`` blocks are joined into one ``instructions`` string (block boundaries and
  ``cache_control`` are lost); leading developer messages are not told apart from system text.
- A mid-conversation ``system`` message is encoded as a ``developer`` message (and decodes so).
- Item ids (``msg_…``, ``fc_…``, ``rs_…``), ``status``, output-text ``annotations``/``logprobs`` and
  message ``phase`` are dropped when decoding; reasoning items are encoded without ``id``.
- A ``refusal`` content part decodes to ``Text`` (re-encoded as ``output_text``).
- Consecutive assistant message items merge into one assistant message; re-encoded as one item.
- Several summary parts of a reasoning item join with a blank line into one ``Reasoning.text``
  (``content`` reasoning text is used only when there is no summary).
- Tool output parts other than ``input_text``/``input_image`` (e.g. ``input_file``) are dropped.
- ``input_image`` without ``detail`` is encoded with ``detail: "auto"`` (the field is required).
- ``Tool.strict`` unset is encoded as ``strict: false`` (Responses function tools are strict by
  default, which rejects most non-strict JSON Schemas).
- Reasoning effort ``max`` → ``xhigh``; a thinking budget → ``effort_for_budget``; thinking set
  by budget or ``adaptive`` asks for ``summary: "auto"`` (so the thinking text can be shown);
  thinking explicitly disabled without an effort → no ``reasoning`` field (model default).
- ``stop`` sequences are dropped (Responses has none); ``include_usage`` is implied.
- Reasoning of another origin is dropped (see ``ccproxy.llm.reasoning``), and so is OpenAI
  reasoning without ``encrypted_content`` (the backend cannot resume it without its id).
- Images inside assistant messages are dropped (output messages hold text only).
- A ``ToolResult`` whose call is not in the conversation (and no ``previous_response_id``)
  becomes a user message ``Tool result for <id>: …`` (the API rejects orphan outputs).
- ``user`` is encoded as ``user``; ``safety_identifier`` is decoded only when ``user`` is absent.
"""

from __future__ import annotations

from typing import Any, cast

from ccproxy.llm.content_types import (
    RESPONSES_ITEMS,
    RESPONSES_PARTS,
    RESPONSES_TOOL_OUTPUT_PARTS,
)
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.responses.models import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    ImagePart,
    MessageItem,
    ReasoningItem,
    RefusalPart,
    ResponsesRequestBody,
    TextPart,
    validate,
)
from ccproxy.llm.ir import (
    ContentPart,
    Image,
    Message,
    Opaque,
    Reasoning,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from ccproxy.llm.reasoning import effort_for_budget, open_envelope
from ccproxy.llm.roles import check_role

__all__ = [
    "decode_image_url",
    "decode_request",
    "encode_image_url",
    "encode_request",
    "is_content_part",
]

#: Top-level fields ``decode_request`` maps to IR fields (everything else goes to ``extra``).
_INTERPRETED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "reasoning",
        "text",
        "user",
        "prompt_cache_key",
        "previous_response_id",
    }
)
_RESPONSES_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
ENCRYPTED_CONTENT_INCLUDE = "reasoning.encrypted_content"


# --- shared helpers ---------------------------------------------------------------------------


def decode_image_url(url: str, detail: str | None) -> Image:
    """An ``input_image`` URL as an IR image: base64 data URLs are split into type and data."""
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        if comma and header.endswith(";base64"):
            return Image(media_type=header[: -len(";base64")] or None, data=data, detail=detail)
    return Image(url=url, detail=detail)


def encode_image_url(image: Image) -> str | None:
    """The ``image_url`` of an IR image (a data URL for inline data), or ``None`` if it has none."""
    if image.data is not None:
        return f"data:{image.media_type or 'application/octet-stream'};base64,{image.data}"
    return image.url


def is_content_part(data: dict[str, Any]) -> bool:
    """Whether an opaque Responses dict is a message content part rather than an input item.

    Content part types are ``input_*`` (``input_file``, ``input_audio``, …), ``output_*``
    (``output_text``, …) and ``refusal``; no input item type starts with ``input_``/``output_``.
    """
    kind = data.get("type")
    return isinstance(kind, str) and (kind.startswith(("input_", "output_")) or kind == "refusal")


# --- decoding ---------------------------------------------------------------------------------


def decode_request(body: dict[str, Any]) -> Request:
    """A Responses request body → IR (raises ``InvalidRequestError`` naming the bad field)."""
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object")
    parsed = validate(ResponsesRequestBody, body)
    request = Request(
        model=parsed.model,
        stream=bool(parsed.stream),
        parallel_tool_calls=parsed.parallel_tool_calls,
        max_tokens=parsed.max_output_tokens,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        prompt_cache_key=parsed.prompt_cache_key,
        previous_response_id=parsed.previous_response_id,
        user=parsed.user if parsed.user is not None else parsed.safety_identifier,
    )
    extra: dict[str, Any] = {k: v for k, v in body.items() if k not in _INTERPRETED}
    if parsed.user is None:
        extra.pop("safety_identifier", None)
    if parsed.instructions:
        request.system.append(Text(parsed.instructions))
    if isinstance(parsed.input, str):
        request.messages.append(Message(role="user", content=[Text(parsed.input)]))
    elif isinstance(parsed.input, list):
        request.messages = _decode_items(parsed.input, request.system)
    _decode_tools(parsed, request, extra)
    if parsed.reasoning is not None:
        effort = parsed.reasoning.effort
        request.reasoning = ReasoningConfig(
            enabled=effort != "none", effort=effort, summary=parsed.reasoning.summary
        )
    if parsed.text is not None:
        if parsed.text.format is not None:
            fmt = parsed.text.format
            request.response_format = ResponseFormat(
                type=fmt.type,
                name=fmt.name,
                schema=fmt.json_schema,
                strict=fmt.strict,
                description=fmt.description,
            )
        if parsed.text.verbosity is not None:
            extra["text_verbosity"] = parsed.text.verbosity
    request.extra = extra
    return request


def _decode_tools(parsed: ResponsesRequestBody, request: Request, extra: dict[str, Any]) -> None:
    others: list[dict[str, Any]] = []
    for i, raw in enumerate(parsed.tools or []):
        if raw.get("type") != "function":
            others.append(raw)
            continue
        tool = validate(FunctionTool, raw, f"tools.{i}")
        request.tools.append(
            Tool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters
                if tool.parameters is not None
                else {"type": "object", "properties": {}},
                strict=tool.strict,
            )
        )
    if others:
        extra["tools_other"] = others
    choice = parsed.tool_choice
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise InvalidRequestError(
                "tool_choice must be 'auto', 'none', 'required' or an object", param="tool_choice"
            )
        request.tool_choice = ToolChoice(mode=cast(Any, choice))
    elif isinstance(choice, dict):
        if choice.get("type") == "function":
            name = choice.get("name")
            if not isinstance(name, str):
                raise InvalidRequestError(
                    "tool_choice.name must be a string", param="tool_choice.name"
                )
            request.tool_choice = ToolChoice(mode="tool", name=name)
        else:
            extra["tool_choice_other"] = choice


def _decode_items(items: list[Any], system: list[Text]) -> list[Message]:
    messages: list[Message] = []
    leading = True
    for i, raw in enumerate(items):
        param = f"input.{i}"
        if not isinstance(raw, dict):
            raise InvalidRequestError(f"{param} must be an object", param=param)
        kind = raw.get("type")
        if kind is None and "role" in raw:
            kind = "message"
        if not isinstance(kind, str):
            raise InvalidRequestError(f"{param}.type must be a string", param=f"{param}.type")
        if kind == "message":
            item = validate(MessageItem, raw, param)
            check_role("responses", item.role, f"{param}.role")
            parts = _decode_content(item.content, param)
            if (
                leading
                and item.role in ("system", "developer")
                and all(isinstance(p, Text) for p in parts)
            ):
                system.extend(cast(list[Text], parts))
                continue
            leading = False
            if item.role == "assistant":
                _assistant(messages).content.extend(parts)
            else:
                messages.append(Message(role=cast(Any, item.role), content=parts))
            continue
        leading = False
        if kind == "function_call":
            call = validate(FunctionCallItem, raw, param)
            _assistant(messages).content.append(
                ToolCall(id=call.call_id, name=call.name, arguments=call.arguments)
            )
        elif kind == "function_call_output":
            output = validate(FunctionCallOutputItem, raw, param)
            result = ToolResult(
                call_id=output.call_id, content=_decode_tool_output(output.output, param)
            )
            if messages and messages[-1].role == "tool":
                messages[-1].content.append(result)
            else:
                messages.append(Message(role="tool", content=[result]))
        elif kind == "reasoning":
            _assistant(messages).content.append(
                _decode_reasoning(validate(ReasoningItem, raw, param))
            )
        else:
            RESPONSES_ITEMS.check(kind, f"{param}.type")
            _append_opaque(messages, raw)
    return messages


def _assistant(messages: list[Message]) -> Message:
    if not messages or messages[-1].role != "assistant":
        messages.append(Message(role="assistant"))
    return messages[-1]


def _append_opaque(messages: list[Message], raw: dict[str, Any]) -> None:
    if not messages:
        messages.append(Message(role="user"))
    messages[-1].content.append(Opaque("responses", raw))


def _decode_content(content: str | list[Any], param: str) -> list[ContentPart]:
    if isinstance(content, str):
        return [Text(content)]
    parts: list[ContentPart] = []
    for j, raw in enumerate(content):
        where = f"{param}.content.{j}"
        if not isinstance(raw, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        kind = raw.get("type")
        if not isinstance(kind, str):
            raise InvalidRequestError(f"{where}.type must be a string", param=f"{where}.type")
        if kind in ("input_text", "output_text"):
            parts.append(Text(validate(TextPart, raw, where).text))
        elif kind == "input_image":
            image = validate(ImagePart, raw, where)
            if image.image_url is None:  # by file_id: nothing the IR can hold
                parts.append(Opaque("responses", raw))
            else:
                parts.append(decode_image_url(image.image_url, image.detail))
        elif kind == "refusal":
            parts.append(Text(validate(RefusalPart, raw, where).refusal))
        else:
            RESPONSES_PARTS.check(kind, f"{where}.type")
            parts.append(Opaque("responses", raw))
    return parts


def _decode_tool_output(output: str | list[Any], param: str) -> list[Text | Image]:
    if isinstance(output, str):
        return [Text(output)]
    parts: list[Text | Image] = []
    for j, raw in enumerate(output):
        where = f"{param}.output.{j}"
        if not isinstance(raw, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        kind = raw.get("type")
        RESPONSES_TOOL_OUTPUT_PARTS.check(kind, f"{where}.type")
        if kind in ("input_text", "output_text"):
            parts.append(Text(validate(TextPart, raw, where).text))
        elif kind == "input_image":
            image = validate(ImagePart, raw, where)
            if image.image_url is not None:
                parts.append(decode_image_url(image.image_url, image.detail))
    return parts


def _decode_reasoning(item: ReasoningItem) -> Reasoning:
    texts = [part.text for part in item.summary] or [part.text for part in item.content or []]
    text = "\n\n".join(texts)
    opened = open_envelope(item.encrypted_content, text=text)
    if opened is not None:
        return opened
    return Reasoning(
        text=text, origin="openai", encrypted_content=item.encrypted_content, id=item.id
    )


# --- encoding ---------------------------------------------------------------------------------


def encode_request(request: Request) -> dict[str, Any]:
    """IR → a Responses request body (for the Codex upstream; see the module docstring)."""
    body: dict[str, Any] = {"model": request.model}
    if request.system:
        body["instructions"] = "\n\n".join(block.text for block in request.system)
    body["input"] = encode_input(
        request.messages, check_orphans=request.previous_response_id is None
    )
    tools = encode_tools(request)
    if tools:
        body["tools"] = tools
    choice = encode_tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    reasoning = encode_reasoning_config(request.reasoning)
    include = [v for v in request.extra.get("include") or [] if isinstance(v, str)]
    if reasoning is not None:
        body["reasoning"] = reasoning
        if ENCRYPTED_CONTENT_INCLUDE not in include:
            include.append(ENCRYPTED_CONTENT_INCLUDE)
    if include:
        body["include"] = include
    text = encode_text_config(request)
    if text is not None:
        body["text"] = text
    if request.user is not None:
        body["user"] = request.user
    if request.prompt_cache_key is not None:
        body["prompt_cache_key"] = request.prompt_cache_key
    if request.previous_response_id is not None:
        body["previous_response_id"] = request.previous_response_id
    body["stream"] = request.stream
    return body


def encode_tools(request: Request) -> list[dict[str, Any]]:
    """Function tools of the IR plus the other tool types a Responses client sent."""
    tools: list[dict[str, Any]] = []
    for tool in request.tools:
        entry: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            entry["description"] = tool.description
        entry["parameters"] = tool.parameters
        entry["strict"] = bool(tool.strict)
        tools.append(entry)
    others = request.extra.get("tools_other")
    if isinstance(others, list):
        tools.extend(t for t in others if isinstance(t, dict))
    return tools


def encode_tool_choice(request: Request) -> str | dict[str, Any] | None:
    """The flat Responses ``tool_choice`` (``{type: function, name}`` for one tool)."""
    choice = request.tool_choice
    if choice is None:
        other = request.extra.get("tool_choice_other")
        return other if isinstance(other, dict) else None
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name or ""}
    return choice.mode


def encode_reasoning_config(config: ReasoningConfig | None) -> dict[str, Any] | None:
    """``reasoning: {effort, summary}`` for an IR reasoning config (``None`` to leave it out)."""
    if config is None:
        return None
    effort: str | None = config.effort
    if effort == "max":
        effort = "xhigh"
    elif effort is None and config.budget_tokens is not None and config.enabled:
        effort = effort_for_budget(config.budget_tokens)
    if effort is not None and effort not in _RESPONSES_EFFORTS:
        effort = None
    if not config.enabled and effort is None:
        return None
    summary = config.summary
    if summary is None and config.enabled and (config.adaptive or config.budget_tokens is not None):
        summary = "auto"
    out: dict[str, Any] = {}
    if effort is not None:
        out["effort"] = effort
    if summary is not None:
        out["summary"] = summary
    return out


def encode_text_config(request: Request) -> dict[str, Any] | None:
    """``text: {format, verbosity}`` or ``None``."""
    out: dict[str, Any] = {}
    fmt = request.response_format
    if fmt is not None:
        entry: dict[str, Any] = {"type": fmt.type}
        if fmt.type == "json_schema":
            entry["name"] = fmt.name or "response"
            if fmt.description is not None:
                entry["description"] = fmt.description
            entry["schema"] = fmt.schema if fmt.schema is not None else {"type": "object"}
            if fmt.strict is not None:
                entry["strict"] = fmt.strict
        out["format"] = entry
    verbosity = request.extra.get("text_verbosity")
    if isinstance(verbosity, str):
        out["verbosity"] = verbosity
    return out or None


def encode_input(messages: list[Message], *, check_orphans: bool = True) -> list[dict[str, Any]]:
    """IR messages → Responses input items (see the module docstring for each mapping)."""
    items: list[dict[str, Any]] = []
    known_calls: set[str] = set()
    for message in messages:
        assistant = message.role == "assistant"
        role = {"assistant": "assistant", "system": "developer", "developer": "developer"}.get(
            message.role, "user"
        )
        pending: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, Text):
                pending.append(
                    {"type": "output_text" if assistant else "input_text", "text": part.text}
                )
            elif isinstance(part, Image):
                url = encode_image_url(part)
                if url is not None and not assistant:
                    pending.append(
                        {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
                    )
            elif isinstance(part, ToolCall):
                _flush(items, pending, role)
                known_calls.add(part.id)
                items.append(
                    {
                        "type": "function_call",
                        "call_id": part.id,
                        "name": part.name,
                        "arguments": part.arguments,
                    }
                )
            elif isinstance(part, ToolResult):
                _flush(items, pending, role)
                if check_orphans and part.call_id not in known_calls:
                    items.append(
                        {"type": "message", "role": "user", "content": _orphan_result(part)}
                    )
                else:
                    items.append(
                        {
                            "type": "function_call_output",
                            "call_id": part.call_id,
                            "output": _tool_output(part),
                        }
                    )
            elif isinstance(part, Reasoning):
                if part.origin == "openai" and part.encrypted_content is not None:
                    _flush(items, pending, role)
                    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
                    items.append(
                        {
                            "type": "reasoning",
                            "summary": summary,
                            "encrypted_content": part.encrypted_content,
                        }
                    )
            elif part.format == "responses":
                if is_content_part(part.data):
                    pending.append(part.data)
                else:
                    _flush(items, pending, role)
                    call_id = part.data.get("call_id")
                    if isinstance(call_id, str):
                        known_calls.add(call_id)
                    items.append(part.data)
        _flush(items, pending, role)
    return items


def _flush(items: list[dict[str, Any]], pending: list[dict[str, Any]], role: str) -> None:
    if pending:
        items.append({"type": "message", "role": role, "content": list(pending)})
        pending.clear()


def _tool_output(result: ToolResult) -> str | list[dict[str, Any]]:
    if not result.content:
        return ""
    if len(result.content) == 1 and isinstance(result.content[0], Text):
        return result.content[0].text
    return _tool_parts(result.content)


def _tool_parts(content: list[Text | Image]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, Text):
            parts.append({"type": "input_text", "text": part.text})
        else:
            url = encode_image_url(part)
            if url is not None:
                parts.append(
                    {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
                )
    return parts


def _orphan_result(result: ToolResult) -> list[dict[str, Any]]:
    texts = [p.text for p in result.content if isinstance(p, Text)]
    head = {"type": "input_text", "text": f"Tool result for {result.call_id}: " + "\n".join(texts)}
    return [head, *(p for p in _tool_parts(result.content) if p["type"] == "input_image")]
