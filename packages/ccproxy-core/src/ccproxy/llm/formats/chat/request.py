"""Chat Completions requests ↔ IR.

Chat is a client-side format here: ``decode_request`` is what real traffic uses;
``encode_request`` exists for round trips and completeness.

Decoding:
- Leading ``system``/``developer`` messages (text only) become ``Request.system``; later ones stay in
  ``messages`` with their role.
- An assistant message becomes ``[Reasoning?, Text/Opaque..., ToolCall...]``: ``reasoning_content``
  (a non-standard extension some clients echo back) becomes ``Reasoning(text, origin=None)``, which
  carries no proof.
- Each ``tool`` message becomes its own ``Message(role="tool", content=[ToolResult])``; consecutive
  tool messages are not merged (encoders that need one turn merge them).
- Legacy ``function_call`` / ``role: "function"`` become tool calls and results with the id
  ``call_legacy_<message index>``; a function result answers the oldest unanswered call of its name.
- Image parts with a ``data:…;base64,`` URL become ``Image(media_type, data)``; other URLs
  ``Image(url=...)``. ``input_audio``, ``file`` and ``refusal`` parts become
  ``Opaque("chat", part)``. A message with an unknown role, or a part of a type Chat does not
  have, is a 400 naming ``messages.N.role`` or ``messages.N.content.K.type``
  (``ccproxy.llm.roles``, ``ccproxy.llm.content_types``).
- Unknown top-level fields (``seed``, ``logprobs``, ``presence_penalty``, ...) go to
  ``Request.extra``, as do non-function ``tools``, an unrecognised ``tool_choice`` or
  ``response_format`` and unknown ``stream_options`` keys.

Lossy mappings:
- ``max_tokens`` and ``max_completion_tokens`` both become ``Request.max_tokens``
  (``max_completion_tokens`` wins); encoding always writes ``max_completion_tokens``.
- ``n`` must be 1 (anything else is an ``InvalidRequestError``) and is not kept.
- Whether a leading instruction message was ``system`` or ``developer`` is not kept: encoding
  writes one leading ``system`` message.
- Message-level fields other than ``role``, ``content``, ``name``, ``tool_calls``,
  ``tool_call_id``, ``function_call``, ``reasoning_content`` and ``refusal`` are dropped;
  ``name`` on ``tool`` messages is dropped when encoding.
- ``cache_control`` on text parts (a non-standard extension) is dropped.
- Tool messages may only hold text and images; other parts in them are dropped.
- Empty assistant text (``content: ""`` next to ``tool_calls``) is dropped.
- ``Request.extra`` is written back as top-level fields: it holds Chat fields when the request
  was decoded from Chat, and the IR does not say which format filled it.
- ``Reasoning`` from another format (``origin`` set) is not written back: Chat cannot carry its
  proof, and readable foreign reasoning is not replayed (``ccproxy.llm.reasoning``).
- A reasoning effort of ``max`` is written as ``xhigh``; a thinking budget without effort as the
  effort ``effort_for_budget`` gives; adaptive thinking without effort is omitted.
- A tool result whose call is not among the preceding assistant tool calls is written as a user
  message ``Tool result for <id>: <text>`` (Chat rejects tool messages without their call).
"""

from __future__ import annotations

from typing import Any, get_args

from ccproxy.llm.content_types import CHAT_PARTS
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.chat.models import (
    ChatContentPartModel,
    ChatMessageModel,
    ChatRequestModel,
    validate_request,
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
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from ccproxy.llm.reasoning import effort_for_budget
from ccproxy.llm.roles import check_role

__all__ = ["decode_request", "encode_request", "image_from_url", "image_url"]

_EFFORTS: frozenset[str] = frozenset(get_args(ReasoningEffort))
_INSTRUCTION_ROLES = ("system", "developer")
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "reasoning_effort",
        "response_format",
        "user",
        "n",
        "prompt_cache_key",
    }
)


# --- shared helpers ---------------------------------------------------------------------------


def image_from_url(url: str, detail: str | None = None) -> Image:
    """An ``Image`` for a Chat ``image_url.url``: base64 ``data:`` URLs are split into type and data."""
    if url.startswith("data:"):
        header, comma, payload = url[5:].partition(",")
        params = header.split(";")
        if comma and "base64" in params[1:]:
            return Image(media_type=params[0] or None, data=payload, detail=detail)
    return Image(url=url, detail=detail)


def image_url(image: Image) -> dict[str, Any]:
    """The Chat ``image_url`` part for ``image`` (inline data as a ``data:`` URL)."""
    if image.data is not None:
        url = f"data:{image.media_type or 'application/octet-stream'};base64,{image.data}"
    else:
        url = image.url or ""
    inner: dict[str, Any] = {"url": url}
    if image.detail is not None:
        inner["detail"] = image.detail
    return {"type": "image_url", "image_url": inner}


# --- decoding ---------------------------------------------------------------------------------


def decode_request(body: dict[str, Any]) -> Request:
    """A Chat Completions request body → IR (raises ``InvalidRequestError`` for bad input)."""
    model = validate_request(body)
    if model.n is not None and model.n != 1:
        raise InvalidRequestError("Only n=1 is supported", param="n")
    request = Request(model=model.model)
    extra = {key: value for key, value in body.items() if key not in _KNOWN_FIELDS}
    _decode_messages(model, body["messages"], request)
    _decode_tools(model, body, request, extra)
    request.parallel_tool_calls = model.parallel_tool_calls
    if model.max_completion_tokens is not None:
        request.max_tokens = model.max_completion_tokens
    else:
        request.max_tokens = model.max_tokens
    request.temperature = model.temperature
    request.top_p = model.top_p
    if isinstance(model.stop, str):
        request.stop = [model.stop]
    elif model.stop is not None:
        request.stop = list(model.stop)
    request.stream = bool(model.stream)
    if model.stream_options is not None:
        request.include_usage = bool(model.stream_options.include_usage)
        rest = {k: v for k, v in body["stream_options"].items() if k != "include_usage"}
        if rest:
            extra["stream_options"] = rest
    if model.reasoning_effort is not None:
        effort = model.reasoning_effort
        if effort not in _EFFORTS:
            raise InvalidRequestError(
                f"Invalid request: reasoning_effort: unknown value {effort!r}",
                param="reasoning_effort",
            )
        request.reasoning = ReasoningConfig(enabled=effort != "none", effort=effort)  # type: ignore[arg-type]
    if model.response_format is not None:
        _decode_response_format(model, body, request, extra)
    request.user = model.user
    request.prompt_cache_key = model.prompt_cache_key
    request.extra = extra
    return request


def _decode_response_format(
    model: ChatRequestModel, body: dict[str, Any], request: Request, extra: dict[str, Any]
) -> None:
    fmt = model.response_format
    assert fmt is not None
    if fmt.type in ("text", "json_object"):
        request.response_format = ResponseFormat(type=fmt.type)  # type: ignore[arg-type]
    elif fmt.type == "json_schema":
        schema = fmt.json_schema
        if schema is None:
            raise InvalidRequestError(
                "Invalid request: response_format.json_schema: Field required",
                param="response_format.json_schema",
            )
        request.response_format = ResponseFormat(
            type="json_schema",
            name=schema.name,
            schema=schema.schema_,
            strict=schema.strict,
            description=schema.description,
        )
    else:
        extra["response_format"] = body["response_format"]


def _decode_tools(
    model: ChatRequestModel, body: dict[str, Any], request: Request, extra: dict[str, Any]
) -> None:
    others: list[Any] = []
    for i, tool in enumerate(model.tools or []):
        if tool.type != "function":
            others.append(body["tools"][i])
            continue
        if tool.function is None:
            raise InvalidRequestError(
                f"Invalid request: tools.{i}.function: Field required", param=f"tools.{i}.function"
            )
        request.tools.append(_tool(tool.function.name, tool.function))
    for function in model.functions or []:
        request.tools.append(_tool(function.name, function))
    if others:
        extra["tools"] = others
    choice = model.tool_choice if model.tool_choice is not None else model.function_call
    if choice is None:
        return
    key = "tool_choice" if model.tool_choice is not None else "function_call"
    if choice in ("none", "auto", "required"):
        request.tool_choice = ToolChoice(mode=choice)  # type: ignore[arg-type]
        return
    if isinstance(choice, dict):
        named = choice.get("function") if key == "tool_choice" else choice
        if (key == "function_call" or choice.get("type") == "function") and isinstance(named, dict):
            name = named.get("name")
            if isinstance(name, str):
                request.tool_choice = ToolChoice(mode="tool", name=name)
                return
    extra[key] = body[key]


def _tool(name: str, function: Any) -> Tool:
    tool = Tool(name=name, description=function.description, strict=function.strict)
    if function.parameters is not None:
        tool.parameters = function.parameters
    return tool


def _decode_messages(model: ChatRequestModel, raw_messages: list[Any], request: Request) -> None:
    messages = model.messages
    start = 0
    while start < len(messages) and _is_instruction(messages[start]):
        request.system.extend(_texts(messages[start]))
        start += 1
    pending_legacy: dict[str, list[str]] = {}
    for j in range(start, len(messages)):
        message, raw = messages[j], raw_messages[j]
        path = f"messages.{j}"
        role = message.role
        if role in ("system", "developer", "user"):
            content = _parts(message, raw, path)
            request.messages.append(Message(role=role, content=content, name=message.name))  # type: ignore[arg-type]
        elif role == "assistant":
            request.messages.append(_assistant(message, raw, path, j, pending_legacy))
        elif role == "tool":
            if message.tool_call_id is None:
                raise InvalidRequestError(
                    f"Invalid request: {path}.tool_call_id: Field required",
                    param=f"{path}.tool_call_id",
                )
            result = ToolResult(
                call_id=message.tool_call_id, content=_result_parts(message, raw, path)
            )
            request.messages.append(Message(role="tool", content=[result], name=message.name))
        elif role == "function":
            if message.name is None:
                raise InvalidRequestError(
                    f"Invalid request: {path}.name: Field required", param=f"{path}.name"
                )
            waiting = pending_legacy.get(message.name)
            call_id = waiting.pop(0) if waiting else f"call_legacy_{message.name}"
            result = ToolResult(call_id=call_id, content=_result_parts(message, raw, path))
            request.messages.append(Message(role="tool", content=[result], name=message.name))
        else:
            check_role("chat", role, f"{path}.role")


def _is_instruction(message: ChatMessageModel) -> bool:
    if message.role not in _INSTRUCTION_ROLES:
        return False
    content = message.content
    return not isinstance(content, list) or all(part.type == "text" for part in content)


def _texts(message: ChatMessageModel) -> list[Text]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    return [Text(part.text or "") for part in content]


def _parts(message: ChatMessageModel, raw: dict[str, Any], path: str) -> list[ContentPart]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    raw_parts = raw["content"]
    return [_part(part, raw_parts[k], f"{path}.content.{k}") for k, part in enumerate(content)]


def _part(part: ChatContentPartModel, raw: dict[str, Any], path: str) -> ContentPart:
    if part.type == "text":
        if part.text is None:
            raise InvalidRequestError(
                f"Invalid request: {path}.text: Field required", param=f"{path}.text"
            )
        return Text(part.text)
    if part.type == "image_url":
        if part.image_url is None:
            raise InvalidRequestError(
                f"Invalid request: {path}.image_url: Field required", param=f"{path}.image_url"
            )
        return image_from_url(part.image_url.url, part.image_url.detail)
    CHAT_PARTS.check(part.type, f"{path}.type")
    return Opaque("chat", raw)


def _result_parts(message: ChatMessageModel, raw: dict[str, Any], path: str) -> list[Text | Image]:
    return [part for part in _parts(message, raw, path) if isinstance(part, Text | Image)]


def _assistant(
    message: ChatMessageModel,
    raw: dict[str, Any],
    path: str,
    position: int,
    pending_legacy: dict[str, list[str]],
) -> Message:
    content: list[ContentPart] = []
    if message.reasoning_content:
        content.append(Reasoning(text=message.reasoning_content))
    # Clients send `content: ""` next to tool calls; an empty text block is invalid elsewhere.
    content.extend(
        part
        for part in _parts(message, raw, path)
        if not (isinstance(part, Text) and not part.text)
    )
    if message.refusal is not None:
        content.append(Opaque("chat", {"type": "refusal", "refusal": message.refusal}))
    for k, call in enumerate(message.tool_calls or []):
        if call.type != "function":
            content.append(Opaque("chat", raw["tool_calls"][k]))
            continue
        content.append(
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
        )
    if message.function_call is not None:
        call_id = f"call_legacy_{position}"
        pending_legacy.setdefault(message.function_call.name, []).append(call_id)
        content.append(
            ToolCall(
                id=call_id,
                name=message.function_call.name,
                arguments=message.function_call.arguments or "",
            )
        )
    return Message(role="assistant", content=content, name=message.name)


# --- encoding ---------------------------------------------------------------------------------


def encode_request(request: Request) -> dict[str, Any]:
    """IR → a Chat Completions request body (``Request.extra`` entries are written back as is)."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": _content(list(request.system))})
    seen_calls: set[str] = set()
    for message in request.messages:
        messages.extend(_encode_message(message, seen_calls))
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.tools:
        body["tools"] = [_encode_tool(tool) for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name or ""}}
        else:
            body["tool_choice"] = choice.mode
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_tokens is not None:
        body["max_completion_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True
        if request.include_usage:
            body["stream_options"] = {"include_usage": True}
    effort = _effort(request.reasoning)
    if effort is not None:
        body["reasoning_effort"] = effort
    if request.response_format is not None:
        body["response_format"] = _encode_response_format(request.response_format)
    if request.user is not None:
        body["user"] = request.user
    if request.prompt_cache_key is not None:
        body["prompt_cache_key"] = request.prompt_cache_key
    for key, value in request.extra.items():
        if key == "tools" and isinstance(value, list):
            body["tools"] = [*body.get("tools", []), *value]
        elif key == "stream_options" and isinstance(value, dict):
            body["stream_options"] = {**value, **body.get("stream_options", {})}
        elif key not in body:
            body[key] = value
    return body


def _effort(config: ReasoningConfig | None) -> str | None:
    if config is None:
        return None
    if config.effort is not None:
        return "xhigh" if config.effort == "max" else config.effort
    if not config.enabled:
        return "none"
    if config.budget_tokens is not None:
        return effort_for_budget(config.budget_tokens)
    return None


def _encode_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _encode_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    schema: dict[str, Any] = {"name": fmt.name or "response"}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.schema is not None:
        schema["schema"] = fmt.schema
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def _content(parts: list[Any]) -> str | list[dict[str, Any]] | None:
    """Chat ``content``: one text as a string, several parts as a list, nothing as ``None``."""
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], Text):
        return parts[0].text
    encoded: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            encoded.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            encoded.append(image_url(part))
        elif isinstance(part, Opaque):
            encoded.append(part.data)
    return encoded


def _is_chat_part(part: ContentPart) -> bool:
    return isinstance(part, Text | Image) or (
        isinstance(part, Opaque) and part.format == "chat" and "type" in part.data
    )


def _encode_message(message: Message, seen_calls: set[str]) -> list[dict[str, Any]]:
    content = message.content
    if len(content) == 1 and isinstance(content[0], Opaque) and "role" in content[0].data:
        return [content[0].data] if content[0].format == "chat" else []
    if message.role == "assistant":
        return [_encode_assistant(message, seen_calls)]
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ToolResult):
            out.append(_encode_result(part, seen_calls))
    parts = [part for part in content if _is_chat_part(part)]
    if parts or message.role != "tool":
        role = "user" if message.role == "tool" else message.role
        encoded: dict[str, Any] = {"role": role, "content": _content(parts)}
        if message.name is not None and message.role != "tool":
            encoded["name"] = message.name
        out.append(encoded)
    return out


def _encode_result(result: ToolResult, seen_calls: set[str]) -> dict[str, Any]:
    if result.call_id in seen_calls:
        body = _content(list(result.content))
        return {
            "role": "tool",
            "tool_call_id": result.call_id,
            "content": "" if body is None else body,
        }
    text = "\n".join(part.text for part in result.content if isinstance(part, Text))
    return {"role": "user", "content": f"Tool result for {result.call_id}: {text}"}


def _encode_assistant(message: Message, seen_calls: set[str]) -> dict[str, Any]:
    parts: list[ContentPart] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    refusal: str | None = None
    for part in message.content:
        if isinstance(part, ToolCall):
            seen_calls.add(part.id)
            tool_calls.append(
                {
                    "id": part.id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": part.arguments},
                }
            )
        elif isinstance(part, Reasoning):
            if part.origin is None and part.text:
                reasoning.append(part.text)
        elif isinstance(part, Opaque):
            if part.format != "chat":
                continue
            if part.data.get("type") == "refusal":
                refusal = part.data.get("refusal")
            elif "function" in part.data and "id" in part.data:
                seen_calls.add(part.data["id"])
                tool_calls.append(part.data)
            else:
                parts.append(part)
        elif isinstance(part, Text | Image):
            parts.append(part)
    encoded: dict[str, Any] = {"role": "assistant", "content": _content(parts)}
    if reasoning:
        encoded["reasoning_content"] = "".join(reasoning)
    if refusal is not None:
        encoded["refusal"] = refusal
    if tool_calls:
        encoded["tool_calls"] = tool_calls
    if message.name is not None:
        encoded["name"] = message.name
    return encoded
