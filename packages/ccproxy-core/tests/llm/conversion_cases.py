"""Feature fixtures for the conversion matrix, written in the IR so every format gets the same case.

Each request case is sent through client codec → IR → upstream codec → IR and checked for the
feature; each response/stream case starts at the upstream and ends in the client's official SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ccproxy.llm import ir

FORMATS: tuple[ir.WireFormat, ...] = ("anthropic", "chat", "responses")
DIRECTIONS: list[tuple[ir.WireFormat, ir.WireFormat]] = [
    (a, b) for a in FORMATS for b in FORMATS if a != b
]
KINDS = ("request", "response", "stream")

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = ir.Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ir.Tool(
    name="get_time",
    description="Time in a zone",
    parameters={"type": "object", "properties": {"tz": {"type": "string"}}},
)


def user(*parts: ir.ContentPart | str) -> ir.Message:
    return ir.Message("user", [ir.Text(p) if isinstance(p, str) else p for p in parts])


def assistant(*parts: ir.ContentPart | str) -> ir.Message:
    return ir.Message("assistant", [ir.Text(p) if isinstance(p, str) else p for p in parts])


def tool_result(call_id: str, text: str, *, is_error: bool = False) -> ir.Message:
    return ir.Message("tool", [ir.ToolResult(call_id, [ir.Text(text)], is_error=is_error)])


@dataclass
class RequestCase:
    """A request feature: the IR the client sends and a check of what the upstream received."""

    request: ir.Request
    check: Callable[[ir.Request, dict[str, Any], ir.WireFormat, ir.WireFormat], None]
    lossy: str = ""
    #: Hand-written client bodies where a client sends a shape our own encoder never produces.
    client_bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


def texts(message: ir.Message) -> list[str]:
    return [p.text for p in message.content if isinstance(p, ir.Text)]


def all_text(request: ir.Request) -> str:
    pieces = [t.text for t in request.system]
    for message in request.messages:
        for part in message.content:
            if isinstance(part, ir.Text):
                pieces.append(part.text)
            elif isinstance(part, ir.ToolResult):
                pieces.extend(t.text for t in part.content if isinstance(t, ir.Text))
    return "\n".join(pieces)


def tool_calls(request: ir.Request) -> list[ir.ToolCall]:
    return [p for m in request.messages for p in m.content if isinstance(p, ir.ToolCall)]


def tool_results(request: ir.Request) -> list[ir.ToolResult]:
    return [p for m in request.messages for p in m.content if isinstance(p, ir.ToolResult)]


def check_text(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert [m.role for m in req.messages] == ["user"]
    assert texts(req.messages[0]) == ["What is the capital of France?"]
    assert req.model == "upstream-model"


def check_system(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert "".join(t.text for t in req.system) == "You are terse."
    assert [m.role for m in req.messages] == ["user"]
    if upstream == "responses":
        assert body["instructions"] == "You are terse."
        assert all(i.get("role") != "system" for i in body.get("input", []) if isinstance(i, dict))


def check_mid_system(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert "Remember: answer in French." in all_text(req)
    assert "".join(t.text for t in req.system) == "You are terse."
    if upstream == "responses":
        roles = [i.get("role") for i in body["input"] if isinstance(i, dict)]
        assert "system" not in roles
        assert "developer" in roles
    # The reminder stays after the first exchange, not merged into the top-level instructions.
    assert "Remember" not in "".join(t.text for t in req.system)


def check_multi_turn(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert [(m.role, texts(m)) for m in req.messages] == [
        ("user", ["Hi"]),
        ("assistant", ["Hello! How can I help?"]),
        ("user", ["Tell me a joke"]),
    ]


def check_image_base64(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    [image] = [p for p in req.messages[0].content if isinstance(p, ir.Image)]
    assert (image.media_type, image.data) == ("image/png", PNG)
    assert "Describe it" in texts(req.messages[0])


def check_image_url(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    [image] = [p for p in req.messages[0].content if isinstance(p, ir.Image)]
    assert image.url == "https://example.com/cat.png"


def check_tools(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert [t.name for t in req.tools] == ["get_weather", "get_time"]
    assert req.tools[0].parameters["required"] == ["city"]
    assert req.tools[0].description == "Weather for a city"
    assert req.tool_choice is not None
    assert (req.tool_choice.mode, req.tool_choice.name) == ("tool", "get_weather")


def check_tool_round_trip(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    [call] = tool_calls(req)
    assert call.name == "get_weather"
    assert __import__("json").loads(call.arguments) == {"city": "Paris"}
    [result] = tool_results(req)
    assert result.call_id == call.id
    assert [t.text for t in result.content if isinstance(t, ir.Text)] == ["18C and sunny"]
    assert texts(req.messages[-1]) == ["Thanks!"] or "Thanks!" in all_text(req)


def check_parallel_tool_calls(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    calls = tool_calls(req)
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    results = tool_results(req)
    assert [r.call_id for r in results] == [c.id for c in calls]
    assert "Let me check both." in all_text(req)


def check_tool_error_result(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    [result] = tool_results(req)
    assert "city not found" in " ".join(t.text for t in result.content if isinstance(t, ir.Text))
    if upstream == "anthropic":
        # Anthropic is the only format with an error flag; OpenAI formats carry the text only.
        pass


def check_orphan_tool_result(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    # The call is missing: the result must survive as something the upstream accepts.
    assert "orphaned output" in all_text(req) or any(
        "orphaned output" in t.text
        for r in tool_results(req)
        for t in r.content
        if isinstance(t, ir.Text)
    )


def check_reasoning_config(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert req.reasoning is not None
    assert req.reasoning.enabled
    if upstream == "responses":
        assert "reasoning.encrypted_content" in body.get("include", [])
    if upstream == "anthropic":
        assert body["thinking"]["type"] in ("enabled", "adaptive")


def check_sampling(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert req.max_tokens == 321
    assert req.temperature == 0.25
    assert req.top_p == 0.5
    # Responses has no stop sequences, so neither a Responses client nor upstream carries them.
    expected = [] if "responses" in (client, upstream) else ["END"]
    assert req.stop == expected


def check_structured_output(
    req: ir.Request, body: dict[str, Any], upstream: ir.WireFormat, client: ir.WireFormat
) -> None:
    assert req.response_format is not None
    assert req.response_format.type == "json_schema"
    assert req.response_format.schema is not None
    assert req.response_format.schema["properties"]["answer"] == {"type": "string"}


def base(*messages: ir.Message, **fields: Any) -> ir.Request:
    return ir.Request(model="client-model", messages=list(messages), max_tokens=1024, **fields)


REQUEST_CASES: dict[str, RequestCase] = {
    "text": RequestCase(base(user("What is the capital of France?")), check_text),
    "system": RequestCase(base(user("Hi"), system=[ir.Text("You are terse.")]), check_system),
    "mid_conversation_system": RequestCase(
        base(
            user("Hi"),
            assistant("Hello!"),
            ir.Message("system", [ir.Text("Remember: answer in French.")]),
            user("How are you?"),
            system=[ir.Text("You are terse.")],
        ),
        check_mid_system,
        client_bodies={
            # Claude Code puts role "system" messages inside `messages` (WIRE.md).
            "anthropic": {
                "model": "client-model",
                "max_tokens": 1024,
                "system": "You are terse.",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "system", "content": "Remember: answer in French."},
                    {"role": "user", "content": "How are you?"},
                ],
            }
        },
    ),
    "multi_turn": RequestCase(
        base(user("Hi"), assistant("Hello! How can I help?"), user("Tell me a joke")),
        check_multi_turn,
    ),
    "image_base64": RequestCase(
        base(user("Describe it", ir.Image(media_type="image/png", data=PNG))), check_image_base64
    ),
    "image_url": RequestCase(
        base(user("Describe it", ir.Image(url="https://example.com/cat.png"))), check_image_url
    ),
    "tools": RequestCase(
        base(
            user("Weather in Paris?"),
            tools=[WEATHER, CLOCK],
            tool_choice=ir.ToolChoice("tool", "get_weather"),
        ),
        check_tools,
    ),
    "tool_round_trip": RequestCase(
        base(
            user("Weather in Paris?"),
            assistant(ir.ToolCall("call_abc123", "get_weather", '{"city":"Paris"}')),
            tool_result("call_abc123", "18C and sunny"),
            user("Thanks!"),
            tools=[WEATHER],
        ),
        check_tool_round_trip,
    ),
    "parallel_tool_calls": RequestCase(
        base(
            user("Weather and time in Paris?"),
            assistant(
                "Let me check both.",
                ir.ToolCall("call_w1", "get_weather", '{"city":"Paris"}'),
                ir.ToolCall("call_t1", "get_time", '{"tz":"Europe/Paris"}'),
            ),
            tool_result("call_w1", "18C"),
            tool_result("call_t1", "14:00"),
            tools=[WEATHER, CLOCK],
        ),
        check_parallel_tool_calls,
    ),
    "tool_error_result": RequestCase(
        base(
            user("Weather in Atlantis?"),
            assistant(ir.ToolCall("call_err1", "get_weather", '{"city":"Atlantis"}')),
            tool_result("call_err1", "city not found", is_error=True),
            tools=[WEATHER],
        ),
        check_tool_error_result,
    ),
    "orphan_tool_result": RequestCase(
        base(
            user("Continue"),
            tool_result("call_missing", "orphaned output"),
            user("Go on"),
            tools=[WEATHER],
        ),
        check_orphan_tool_result,
    ),
    "reasoning_config": RequestCase(
        base(
            user("Think hard: 17*23?"),
            reasoning=ir.ReasoningConfig(effort="high", budget_tokens=24000),
        ),
        check_reasoning_config,
    ),
    "sampling": RequestCase(
        ir.Request(
            model="client-model",
            messages=[user("Count")],
            max_tokens=321,
            temperature=0.25,
            top_p=0.5,
            stop=["END"],
        ),
        check_sampling,
        lossy="Responses has no stop sequences: dropped.",
    ),
    "structured_output": RequestCase(
        base(
            user("Answer as JSON"),
            response_format=ir.ResponseFormat(
                "json_schema",
                name="answer",
                schema={
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                    "required": ["answer"],
                },
                strict=True,
            ),
        ),
        check_structured_output,
    ),
}


@dataclass
class ResponseCase:
    """A response feature: the upstream's response as IR and what the client must end up with."""

    response: ir.Response
    expected_text: str = ""
    expected_tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    expected_stop: str = "end_turn"
    expected_reasoning: str = ""
    expected_usage: ir.Usage | None = None


def response(
    *content: ir.ContentPart, stop: ir.StopReason = "end_turn", usage: ir.Usage | None = None
) -> ir.Response:
    return ir.Response(
        id="upstream-id",
        model="upstream-model",
        content=list(content),
        stop_reason=stop,
        usage=usage or ir.Usage(input=12, output=5),
    )


RESPONSE_CASES: dict[str, ResponseCase] = {
    "text": ResponseCase(
        response(ir.Text("Paris is the capital of France.")),
        expected_text="Paris is the capital of France.",
    ),
    "tool_call": ResponseCase(
        response(ir.ToolCall("toolu_01", "get_weather", '{"city":"Paris"}'), stop="tool_use"),
        expected_tools=[("get_weather", {"city": "Paris"})],
        expected_stop="tool_use",
    ),
    "parallel_tool_calls": ResponseCase(
        response(
            ir.Text("Checking both."),
            ir.ToolCall("toolu_w", "get_weather", '{"city":"Paris"}'),
            ir.ToolCall("toolu_t", "get_time", '{"tz":"Europe/Paris"}'),
            stop="tool_use",
        ),
        expected_text="Checking both.",
        expected_tools=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})],
        expected_stop="tool_use",
    ),
    "reasoning": ResponseCase(
        response(
            ir.Reasoning("Multiply 17 by 23.", origin="anthropic", signature="sig-abc"),
            ir.Text("391"),
        ),
        expected_text="391",
        expected_reasoning="Multiply 17 by 23.",
    ),
    "max_tokens": ResponseCase(
        response(ir.Text("Once upon a"), stop="max_tokens"),
        expected_text="Once upon a",
        expected_stop="max_tokens",
    ),
    "usage": ResponseCase(
        response(ir.Text("ok"), usage=ir.Usage(input=100, output=40, cache_read=30, reasoning=0)),
        expected_text="ok",
        expected_usage=ir.Usage(input=100, output=40, cache_read=30),
    ),
}


def response_events(resp: ir.Response) -> list[ir.StreamEvent]:
    """The IR stream of ``resp``, with text and arguments split into several deltas."""
    events: list[ir.StreamEvent] = [
        ir.ResponseStart(
            resp.id, resp.model, ir.Usage(input=resp.usage.input, cache_read=resp.usage.cache_read)
        )
    ]
    for index, part in enumerate(resp.content):
        if isinstance(part, ir.Text):
            events.append(ir.BlockStart(index, ir.Text("")))
            for piece in _pieces(part.text):
                events.append(ir.TextDelta(index, piece))
        elif isinstance(part, ir.ToolCall):
            events.append(ir.BlockStart(index, ir.ToolCall(part.id, part.name, "")))
            for piece in _pieces(part.arguments):
                events.append(ir.ToolArgumentsDelta(index, piece))
        elif isinstance(part, ir.Reasoning):
            events.append(ir.BlockStart(index, ir.Reasoning(origin=part.origin, id=part.id)))
            for piece in _pieces(part.text):
                events.append(ir.ReasoningDelta(index, piece))
            events.append(
                ir.ReasoningSignature(
                    index, signature=part.signature, encrypted_content=part.encrypted_content
                )
            )
        events.append(ir.BlockStop(index))
    events.append(ir.ResponseEnd(resp.stop_reason, resp.usage))
    return events


def _pieces(text: str) -> list[str]:
    size = max(len(text) // 3, 1)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
