"""Chat Completions requests: client transcripts → IR, IR → body, bad input, round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccproxy.llm import ir
from ccproxy.llm.codec import get_codec
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.chat import codec

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"

# A coding-agent conversation as OpenAI-compatible clients send it: developer instructions,
# an image, parallel tool calls after text with `content: null`, tool results, a
# mid-conversation system message, and a reasoning_content echo.
AGENT_TRANSCRIPT: dict[str, Any] = {
    "model": "gpt-5",
    "messages": [
        {"role": "developer", "content": "You are a coding agent."},
        {"role": "system", "content": [{"type": "text", "text": "Be terse."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture, and the weather?"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check both.",
            "reasoning_content": "The user wants two things.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 21C"},
        {
            "role": "tool",
            "tool_call_id": "call_b",
            "content": [{"type": "text", "text": "12:00"}],
        },
        {"role": "system", "content": "The user prefers Celsius."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "noop", "arguments": ""}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_missing", "content": "orphan output"},
        {"role": "user", "content": "Thanks", "name": "alice"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "time"}},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "max_completion_tokens": 1000,
    "temperature": 0.2,
    "top_p": 0.9,
    "stop": "END",
    "stream": True,
    "stream_options": {"include_usage": True},
    "reasoning_effort": "high",
    "user": "user-1",
    "seed": 7,
    "logprobs": False,
    "presence_penalty": 0.5,
}


def test_agent_transcript_decodes_to_ir() -> None:
    request = codec.decode_request(copy.deepcopy(AGENT_TRANSCRIPT))

    assert request.model == "gpt-5"
    assert request.system == [ir.Text("You are a coding agent."), ir.Text("Be terse.")]
    roles = [message.role for message in request.messages]
    assert roles == ["user", "assistant", "tool", "tool", "system", "assistant", "tool", "user"]

    user = request.messages[0]
    assert user.content == [
        ir.Text("What is in this picture, and the weather?"),
        ir.Image(media_type="image/png", data=PNG, detail="low"),
        ir.Image(url="https://example.com/cat.jpg"),
    ]
    assistant = request.messages[1]
    assert assistant.content == [
        ir.Reasoning(text="The user wants two things.", origin=None),
        ir.Text("Let me check both."),
        ir.ToolCall("call_a", "weather", '{"city":"Paris"}'),
        ir.ToolCall("call_b", "time", "{}"),
    ]
    # Consecutive tool messages stay separate IR messages.
    assert request.messages[2].content == [ir.ToolResult("call_a", [ir.Text("Sunny, 21C")])]
    assert request.messages[3].content == [ir.ToolResult("call_b", [ir.Text("12:00")])]
    assert request.messages[4].content == [ir.Text("The user prefers Celsius.")]
    assert request.messages[5].content == [ir.ToolCall("call_c", "noop", "")]
    assert request.messages[6].content == [
        ir.ToolResult("call_missing", [ir.Text("orphan output")])
    ]
    assert not request.messages[6].content[0].is_error  # type: ignore[union-attr]
    assert request.messages[7].name == "alice"

    assert request.tools == [
        ir.Tool(
            name="weather",
            description="Weather for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            strict=True,
        ),
        ir.Tool(name="time"),
    ]
    assert request.tool_choice == ir.ToolChoice("auto")
    assert request.parallel_tool_calls is True
    assert request.max_tokens == 1000
    assert request.temperature == 0.2
    assert request.top_p == 0.9
    assert request.stop == ["END"]
    assert request.stream is True
    assert request.include_usage is True
    assert request.reasoning == ir.ReasoningConfig(enabled=True, effort="high")
    assert request.user == "user-1"
    assert request.extra == {"seed": 7, "logprobs": False, "presence_penalty": 0.5}


def test_agent_transcript_encodes_back() -> None:
    body = codec.encode_request(codec.decode_request(copy.deepcopy(AGENT_TRANSCRIPT)))

    messages = body["messages"]
    # Leading instructions become one system message with both texts.
    assert messages[0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are a coding agent."},
            {"type": "text", "text": "Be terse."},
        ],
    }
    assert messages[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
    }
    assert messages[2] == {
        "role": "assistant",
        "content": "Let me check both.",
        "reasoning_content": "The user wants two things.",
        "tool_calls": AGENT_TRANSCRIPT["messages"][3]["tool_calls"],
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 21C"}
    assert messages[4] == {"role": "tool", "tool_call_id": "call_b", "content": "12:00"}
    assert messages[5] == {"role": "system", "content": "The user prefers Celsius."}
    assert messages[6]["content"] is None
    assert messages[6]["tool_calls"][0]["id"] == "call_c"
    # The orphan result cannot be a tool message: its call is not in the conversation.
    assert messages[7] == {"role": "user", "content": "Tool result for call_missing: orphan output"}
    assert messages[8] == {"role": "user", "content": "Thanks", "name": "alice"}
    assert body["tools"][1] == {
        "type": "function",
        "function": {"name": "time", "parameters": {"type": "object", "properties": {}}},
    }
    assert body["max_completion_tokens"] == 1000
    assert body["stop"] == ["END"]
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "high"
    assert body["seed"] == 7
    assert body["presence_penalty"] == 0.5


def test_get_codec_returns_chat_codec() -> None:
    assert get_codec("chat") is codec
    assert codec.format == "chat"


def test_minimal_request_and_defaults() -> None:
    request = codec.decode_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert request.system == []
    assert request.messages == [ir.Message(role="user", content=[ir.Text("hi")])]
    assert request.stream is False
    assert request.include_usage is False
    assert request.max_tokens is None
    assert request.extra == {}
    assert codec.encode_request(request) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_max_tokens_and_max_completion_tokens() -> None:
    base: dict[str, Any] = {"model": "m", "messages": []}
    assert codec.decode_request({**base, "max_tokens": 5}).max_tokens == 5
    assert (
        codec.decode_request({**base, "max_tokens": 5, "max_completion_tokens": 9}).max_tokens == 9
    )


def test_stop_list_and_reasoning_none() -> None:
    request = codec.decode_request(
        {"model": "m", "messages": [], "stop": ["a", "b"], "reasoning_effort": "none"}
    )
    assert request.stop == ["a", "b"]
    assert request.reasoning == ir.ReasoningConfig(enabled=False, effort="none")
    assert codec.encode_request(request)["reasoning_effort"] == "none"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ir.ReasoningConfig(effort="max"), "xhigh"),
        (ir.ReasoningConfig(budget_tokens=4096), "low"),
        (ir.ReasoningConfig(enabled=False), "none"),
        (ir.ReasoningConfig(adaptive=True), None),
    ],
)
def test_reasoning_config_encoding(config: ir.ReasoningConfig, expected: str | None) -> None:
    body = codec.encode_request(ir.Request(model="m", reasoning=config))
    assert body.get("reasoning_effort") == expected


def test_tool_choice_forms() -> None:
    def choice(value: Any) -> ir.ToolChoice | None:
        return codec.decode_request(
            {"model": "m", "messages": [], "tool_choice": value}
        ).tool_choice

    assert choice("none") == ir.ToolChoice("none")
    assert choice("required") == ir.ToolChoice("required")
    assert choice({"type": "function", "function": {"name": "f"}}) == ir.ToolChoice("tool", "f")
    body = codec.encode_request(ir.Request(model="m", tool_choice=ir.ToolChoice("tool", "f")))
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    # A form the IR does not model is carried for re-encoding as Chat.
    allowed = {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}
    request = codec.decode_request({"model": "m", "messages": [], "tool_choice": allowed})
    assert request.tool_choice is None
    assert request.extra == {"tool_choice": allowed}
    assert codec.encode_request(request)["tool_choice"] == allowed


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {
        "model": "m",
        "messages": [],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": schema, "strict": True, "description": "d"},
        },
    }
    request = codec.decode_request(body)
    assert request.response_format == ir.ResponseFormat(
        type="json_schema", name="out", schema=schema, strict=True, description="d"
    )
    assert codec.encode_request(request)["response_format"] == body["response_format"]
    plain = codec.decode_request({**body, "response_format": {"type": "json_object"}})
    assert plain.response_format == ir.ResponseFormat(type="json_object")


def test_non_function_tools_and_parts_without_ir_form_are_carried() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    file = {"type": "file", "file": {"file_id": "file-1"}}
    custom_tool = {"type": "custom", "custom": {"name": "grammar"}}
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [audio, file]},
        ],
        "tools": [custom_tool, {"type": "function", "function": {"name": "f"}}],
        "stream_options": {"include_usage": False, "include_obfuscation": False},
    }
    request = codec.decode_request(body)
    assert request.messages[0].content == [
        ir.Opaque("chat", audio),
        ir.Opaque("chat", file),
    ]
    assert request.tools == [ir.Tool(name="f")]
    assert request.extra == {
        "tools": [custom_tool],
        "stream_options": {"include_obfuscation": False},
    }
    encoded = codec.encode_request(request)
    assert encoded["messages"] == body["messages"]
    assert encoded["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
        },
        custom_tool,
    ]


@pytest.mark.parametrize("role", ["critic", "model", "System", ""])
def test_unknown_roles_are_refused_naming_the_field(role: str) -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with pytest.raises(InvalidRequestError, match="unknown role") as caught:
        codec.decode_request(
            {"model": "m", "messages": [*messages, {"role": role, "content": "x"}]}
        )
    assert caught.value.param == "messages.2.role"


def test_legacy_functions_and_function_role() -> None:
    request = codec.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "f", "arguments": "{}"},
                },
                {"role": "function", "name": "f", "content": "done"},
            ],
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"},
        }
    )
    assert request.messages[1].content == [ir.ToolCall("call_legacy_1", "f", "{}")]
    assert request.messages[2] == ir.Message(
        role="tool", name="f", content=[ir.ToolResult("call_legacy_1", [ir.Text("done")])]
    )
    assert request.tools == [ir.Tool(name="f", parameters={"type": "object"})]
    assert request.tool_choice == ir.ToolChoice("tool", "f")
    body = codec.encode_request(request)
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_legacy_1",
        "content": "done",
    }


def test_empty_assistant_text_next_to_tool_calls_is_dropped() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = codec.decode_request(
        {"model": "m", "messages": [{"role": "assistant", "content": "", "tool_calls": [call]}]}
    )
    assert request.messages[0].content == [ir.ToolCall("c1", "f", "{}")]


def test_system_with_non_text_parts_is_not_leading_instruction() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    request = codec.decode_request(
        {
            "model": "m",
            "messages": [{"role": "system", "content": [image]}, {"role": "user", "content": "x"}],
        }
    )
    assert request.system == []
    assert request.messages[0] == ir.Message(
        role="system", content=[ir.Image(url="https://x/y.png")]
    )


def test_foreign_reasoning_is_not_written_back_but_own_is() -> None:
    request = ir.Request(
        model="m",
        messages=[
            ir.Message(
                role="assistant",
                content=[
                    ir.Reasoning(text="claude thought", origin="anthropic", signature="sig"),
                    ir.Reasoning(text="codex summary", origin="openai", encrypted_content="enc"),
                    ir.Text("answer"),
                ],
            ),
            ir.Message(
                role="assistant", content=[ir.Reasoning(text="chat thought"), ir.Text("ok")]
            ),
        ],
    )
    messages = codec.encode_request(request)["messages"]
    assert messages[0] == {"role": "assistant", "content": "answer"}
    assert messages[1] == {
        "role": "assistant",
        "content": "ok",
        "reasoning_content": "chat thought",
    }


def test_anthropic_style_user_turn_with_results_and_text() -> None:
    request = ir.Request(
        model="m",
        messages=[
            ir.Message(role="assistant", content=[ir.ToolCall("toolu_1", "f", "{}")]),
            ir.Message(
                role="user",
                content=[
                    ir.ToolResult("toolu_1", [ir.Text("out")], is_error=True),
                    ir.Text("and now?"),
                ],
            ),
        ],
    )
    messages = codec.encode_request(request)["messages"]
    # Error results keep their text as is: Chat has no error flag.
    assert messages[1:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "out"},
        {"role": "user", "content": "and now?"},
    ]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "model"),
        ({"model": 5, "messages": []}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": [{"text": "x"}]},
                ],
            },
            "messages.1.content.0.type",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages.0.content.0.image_url",
        ),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages.0.tool_call_id"),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]},
            "messages.0.tool_calls.0.function",
        ),
        ({"model": "m", "messages": [], "max_tokens": "lots"}, "max_tokens"),
        ({"model": "m", "messages": [], "tools": [{"type": "function"}]}, "tools.0.function"),
        ({"model": "m", "messages": [], "n": 2}, "n"),
        ({"model": "m", "messages": [], "reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"model": "m", "messages": [], "stop": [1]}, "stop.0"),
        (
            {"model": "m", "messages": [], "response_format": {"type": "json_schema"}},
            "response_format.json_schema",
        ),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        codec.decode_request(body)
    assert caught.value.param == param
    assert param in caught.value.message


@pytest.mark.parametrize("body", [[], "x", None])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(InvalidRequestError):
        codec.decode_request(body)


# --- round trip -------------------------------------------------------------------------------

_text = st.text(min_size=1, max_size=20)
_id = st.from_regex(r"call_[a-zA-Z0-9]{1,12}", fullmatch=True)
_json_args = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(), max_size=3).map(
    lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"
)
_image = st.one_of(
    st.builds(
        ir.Image,
        media_type=st.sampled_from(["image/png", "image/jpeg"]),
        data=st.from_regex(r"[A-Za-z0-9+/]{4,16}", fullmatch=True),
        detail=st.sampled_from([None, "low", "high", "auto"]),
    ),
    st.builds(
        ir.Image, url=st.just("https://example.com/a.png"), detail=st.sampled_from([None, "auto"])
    ),
)
_user_content = st.one_of(
    _text.map(lambda t: [ir.Text(t)]),
    st.lists(st.one_of(_text.map(ir.Text), _image), min_size=2, max_size=4),
)


@st.composite
def _conversation(draw: st.DrawFn) -> list[ir.Message]:
    messages: list[ir.Message] = []
    for _ in range(draw(st.integers(0, 4))):
        messages.append(
            ir.Message(role="user", content=draw(_user_content), name=draw(st.none() | _text))
        )
        role = draw(st.sampled_from(["system", "developer"]))
        if draw(st.booleans()):
            messages.append(ir.Message(role=role, content=[ir.Text(draw(_text))]))
        content: list[ir.ContentPart] = []
        if draw(st.booleans()):
            content.append(ir.Reasoning(text=draw(_text)))
        if draw(st.booleans()):
            content.append(ir.Text(draw(_text)))
        calls = [
            ir.ToolCall(id=f"{draw(_id)}_{n}", name=draw(_text), arguments=draw(_json_args))
            for n in range(draw(st.integers(0, 3)))
        ]
        if not content and not calls:
            content.append(ir.Text(draw(_text)))
        messages.append(ir.Message(role="assistant", content=content + list(calls)))
        for call in calls:
            result = ir.ToolResult(
                call.id, draw(st.lists(_text.map(ir.Text), min_size=1, max_size=2))
            )
            messages.append(ir.Message(role="tool", content=[result]))
    return messages


_requests = st.builds(
    ir.Request,
    model=_text,
    messages=_conversation(),
    system=st.lists(_text.map(ir.Text), max_size=2),
    tools=st.lists(
        st.builds(
            ir.Tool,
            name=_text,
            description=st.none() | _text,
            parameters=st.just({"type": "object", "properties": {"x": {"type": "string"}}}),
            strict=st.none() | st.booleans(),
        ),
        max_size=2,
    ),
    tool_choice=st.none()
    | st.builds(ir.ToolChoice, mode=st.sampled_from(["auto", "none", "required"]))
    | _text.map(lambda n: ir.ToolChoice("tool", n)),
    parallel_tool_calls=st.none() | st.booleans(),
    max_tokens=st.none() | st.integers(1, 100_000),
    temperature=st.none() | st.floats(0, 2),
    top_p=st.none() | st.floats(0, 1),
    stop=st.lists(_text, max_size=3),
    reasoning=st.none()
    | st.sampled_from(["minimal", "low", "medium", "high", "xhigh"]).map(
        lambda e: ir.ReasoningConfig(effort=e)
    ),
    response_format=st.none()
    | st.just(ir.ResponseFormat("json_object"))
    | st.builds(
        ir.ResponseFormat,
        type=st.just("json_schema"),
        name=_text,
        schema=st.just({"type": "object"}),
        strict=st.none() | st.booleans(),
        description=st.none() | _text,
    ),
    user=st.none() | _text,
    prompt_cache_key=st.none() | _text,
    extra=st.dictionaries(
        st.sampled_from(["seed", "logprobs", "presence_penalty"]), st.integers(), max_size=2
    ),
).flatmap(
    lambda r: st.tuples(st.just(r), st.booleans(), st.booleans()).map(
        lambda t: _with_stream(t[0], stream=t[1], include_usage=t[1] and t[2])
    )
)


def _with_stream(request: ir.Request, *, stream: bool, include_usage: bool) -> ir.Request:
    request.stream = stream
    request.include_usage = include_usage
    return request


@settings(max_examples=150)
@given(_requests)
def test_request_round_trip(request: ir.Request) -> None:
    snapshot = copy.deepcopy(request)
    body = codec.encode_request(request)
    assert request == snapshot  # encoding does not mutate the IR
    assert codec.decode_request(copy.deepcopy(body)) == snapshot
