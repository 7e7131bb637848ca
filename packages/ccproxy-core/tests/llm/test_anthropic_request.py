"""Anthropic Messages requests: decoding client bodies, encoding converted traffic, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccproxy.llm import ir
from ccproxy.llm.codec import get_codec
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.anthropic import codec
from ccproxy.llm.formats.anthropic.request import DEFAULT_MAX_TOKENS
from ccproxy.llm.reasoning import seal_envelope

TRANSCRIPTS = Path(__file__).parent / "transcripts" / "anthropic"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((TRANSCRIPTS / name).read_text())
    return body


def test_registry_returns_this_codec() -> None:
    assert get_codec("anthropic") is codec
    assert codec.format == "anthropic"


# --- decoding ------------------------------------------------------------------------------


def test_claude_code_request_decodes() -> None:
    req = codec.decode_request(load("claude_code_request.json"))

    assert req.model == "claude-opus-4-8"
    assert req.max_tokens == 64000
    assert req.stream is True
    assert req.user == "user_3f2a_account_9c1d_session_77e0"
    # The billing line is taken out of the system prompt and kept aside.
    assert req.extra["billing_header"].startswith("x-anthropic-billing-header: cc_version=")
    assert [t.text for t in req.system] == [
        "You are Claude Code, Anthropic's official CLI for Claude.",
        "You are an interactive CLI tool that helps users with software engineering tasks.",
    ]
    assert req.system[1].cache_control == {"type": "ephemeral"}
    # Unknown top-level fields and server tools are carried in extra.
    assert req.extra["context_management"] == {
        "edits": [{"type": "clear_thinking_20251015", "keep": "all"}]
    }
    assert req.extra["server_tools"] == [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    ]
    assert [t.name for t in req.tools] == ["Read", "Bash"]
    assert req.tools[0].parameters["required"] == ["file_path"]
    assert req.tools[1].cache_control == {"type": "ephemeral"}
    assert req.tool_choice == ir.ToolChoice("auto")
    assert req.parallel_tool_calls is None
    assert req.reasoning == ir.ReasoningConfig(enabled=True, adaptive=True, effort="high")

    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "system"]
    first = req.messages[0].content
    assert isinstance(first[1], ir.Text)
    assert first[1].cache_control == {"type": "ephemeral"}

    thinking, text, read, bash = req.messages[1].content
    assert thinking == ir.Reasoning(
        text="The user wants the file and a listing; run both tools.",
        origin="anthropic",
        signature="EqQBCkgIBRABGAIiQF3sig",
    )
    assert text == ir.Text("I'll read the file and list the directory.")
    assert isinstance(read, ir.ToolCall)
    assert isinstance(bash, ir.ToolCall)
    assert (read.id, read.name) == ("toolu_01A09q90qw90lq917835lq9", "Read")
    assert json.loads(read.arguments) == {"file_path": "/repo/setup.py"}
    assert json.loads(bash.arguments) == {"command": "ls -la", "description": "List files"}

    ok, failed = req.messages[2].content
    assert isinstance(ok, ir.ToolResult)
    assert isinstance(failed, ir.ToolResult)
    assert ok.call_id == read.id
    assert not ok.is_error
    assert isinstance(ok.content[0], ir.Text)
    assert ok.content[0].text.endswith('setup(name="demo")')
    assert failed.call_id == bash.id
    assert failed.is_error
    assert failed.content == [ir.Text("ls: cannot access: Permission denied")]

    assert req.messages[3].content[0] == ir.Reasoning(
        origin="anthropic", redacted_data="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"
    )
    assert req.messages[4].content == [ir.Text("Thanks. Now check the tests.")]
    # Claude Code's mid-conversation system message, even as the last message.
    assert req.messages[5] == ir.Message(
        "system", [ir.Text("The user switched to plan mode: do not edit files.")]
    )


def test_system_string_and_billing_line() -> None:
    req = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "system": "x-anthropic-billing-header: cc_version=1; cch=2;\nYou are helpful.",
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    assert req.system == [ir.Text("You are helpful.")]
    assert req.extra["billing_header"] == "x-anthropic-billing-header: cc_version=1; cch=2;"

    blocks = codec.decode_request(
        {
            "model": "m",
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: a=1;"},
                {"type": "text", "text": "Prompt"},
                {"type": "text", "text": "x-anthropic-billing-header: a=2;"},
            ],
            "messages": [],
        }
    )
    assert blocks.system == [ir.Text("Prompt")]
    assert blocks.extra["billing_header"] == "x-anthropic-billing-header: a=1;"
    assert req.messages == [ir.Message("user", [ir.Text("hi")])]

    plain = codec.decode_request(
        {"model": "m", "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert plain.system == [ir.Text("Be brief.")]
    assert "billing_header" not in plain.extra
    assert plain.max_tokens is None


def test_images_base64_url_and_inside_tool_results() -> None:
    req = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                        {"type": "image", "source": {"type": "file", "file_id": "file_01"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [
                                {"type": "text", "text": "screenshot"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/jpeg",
                                        "data": "AAAA",
                                    },
                                },
                                {
                                    "type": "search_result",
                                    "source": "x",
                                    "title": "t",
                                    "content": [],
                                },
                            ],
                        }
                    ],
                },
            ],
        }
    )
    content = req.messages[0].content
    assert content[1] == ir.Image(media_type="image/png", data=PNG)
    assert content[2] == ir.Image(url="https://x.test/a.jpg")
    assert content[3] == ir.Opaque(
        "anthropic", {"type": "image", "source": {"type": "file", "file_id": "file_01"}}
    )
    assert req.messages[1].content == [ir.ToolCall("toolu_1", "shot", "{}")]
    [result] = req.messages[2].content
    assert result == ir.ToolResult(
        "toolu_1", [ir.Text("screenshot"), ir.Image(media_type="image/jpeg", data="AAAA")]
    )


def test_thinking_signatures_envelope_and_unsigned() -> None:
    foreign = ir.Reasoning(origin="openai", id="rs_123", encrypted_content="gAAAAB-secret")
    req = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": "**Planning** the answer",
                            "signature": seal_envelope(foreign),
                        },
                        {"type": "thinking", "thinking": "no proof", "signature": ""},
                        {"type": "text", "text": "Hello"},
                    ],
                },
            ],
        }
    )
    opened, unsigned, _ = req.messages[1].content
    assert opened == ir.Reasoning(
        text="**Planning** the answer",
        origin="openai",
        id="rs_123",
        encrypted_content="gAAAAB-secret",
    )
    # No signature: no origin, so no upstream is ever sent it.
    assert unsigned == ir.Reasoning(text="no proof")


def test_unknown_blocks_and_fields_are_carried() -> None:
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
        "cache_control": {"type": "ephemeral"},
    }
    server_use = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"q": 1},
    }
    req = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "top_k": 5,
            "service_tier": "auto",
            "messages": [
                {"role": "user", "content": [document, {"type": "text", "text": "Summarise"}]},
                {"role": "assistant", "content": [server_use]},
                {"role": "system", "content": "mid-conversation"},
            ],
        }
    )
    assert req.extra == {"top_k": 5, "service_tier": "auto"}
    assert req.messages[0].content[0] == ir.Opaque("anthropic", document)
    assert req.messages[1].content == [ir.Opaque("anthropic", server_use)]
    assert req.messages[2] == ir.Message("system", [ir.Text("mid-conversation")])


@pytest.mark.parametrize("role", ["narrator", "developer", "tool", "USER", ""])
def test_unknown_roles_are_refused_naming_the_field(role: str) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    with pytest.raises(InvalidRequestError, match="unknown role") as caught:
        codec.decode_request(
            {"model": "m", "max_tokens": 5, "messages": [*messages, {"role": role, "content": "c"}]}
        )
    assert caught.value.param == "messages.2.role"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 5000}},
            ir.ReasoningConfig(budget_tokens=5000),
        ),
        ({"thinking": {"type": "disabled"}}, ir.ReasoningConfig(enabled=False)),
        ({"thinking": {"type": "adaptive"}}, ir.ReasoningConfig(adaptive=True)),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
            ir.ReasoningConfig(adaptive=True, effort="max"),
        ),
        ({"output_config": {"effort": "low"}}, ir.ReasoningConfig(effort="low")),
        ({}, None),
    ],
)
def test_reasoning_config_decoding(
    fields: dict[str, Any], expected: ir.ReasoningConfig | None
) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [], **fields}
    assert codec.decode_request(body).reasoning == expected


def test_tool_choice_parallel_structured_output_and_sampling() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    req = codec.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [],
            "tools": [{"name": "f", "input_schema": {"type": "object"}, "strict": True}],
            "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
        }
    )
    assert req.tool_choice == ir.ToolChoice("tool", "f")
    assert req.parallel_tool_calls is False
    assert req.tools[0].strict is True
    assert req.response_format == ir.ResponseFormat(type="json_schema", schema=schema)
    assert (req.temperature, req.top_p, req.stop) == (0.2, 0.9, ["END"])
    for kind, mode in (("any", "required"), ("none", "none"), ("auto", "auto")):
        body = {"model": "m", "messages": [], "tool_choice": {"type": kind}}
        choice = codec.decode_request(body).tool_choice
        assert choice is not None
        assert choice.mode == mode
    legacy = codec.decode_request(
        {"model": "m", "messages": [], "output_format": {"type": "json_schema", "schema": schema}}
    )
    assert legacy.response_format == ir.ResponseFormat(type="json_schema", schema=schema)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 10, "messages": []}, "model"),
        ({"model": "m", "messages": "hello"}, "messages"),
        ({"model": "m"}, "messages"),
        ({"model": 5, "messages": []}, "model"),
        ({"model": "m", "messages": [], "max_tokens": "lots"}, "max_tokens"),
        ({"model": "m", "messages": [], "system": 42}, "system"),
        ({"model": "m", "messages": [], "system": [{"text": "no type"}]}, "system.0.type"),
        ({"model": "m", "messages": [{"content": "hi"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"model": "m", "messages": ["hi"]}, "messages.0"),
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
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}],
            },
            "messages.0.content.0.text",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}],
                    }
                ],
            },
            "messages.0.content.0.input",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages.0.content.0.tool_use_id",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}
                ],
            },
            "messages.0.content.0.source.data",
        ),
        ({"model": "m", "messages": [], "tools": [{"description": "no name"}]}, "tools.0.name"),
        ({"model": "m", "messages": [], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"model": "m", "messages": [], "tool_choice": "auto"}, "tool_choice"),
        ({"model": "m", "messages": [], "stop_sequences": "END"}, "stop_sequences"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        codec.decode_request(body)
    assert caught.value.param == param
    assert caught.value.message.startswith(param)


def test_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidRequestError):
        codec.decode_request([1, 2])  # type: ignore[arg-type]


# --- encoding (converted traffic to the Anthropic upstream) --------------------------------


def test_encode_converted_conversation() -> None:
    """An IR as an OpenAI client would produce it, encoded for the Anthropic upstream."""
    req = ir.Request(
        model="claude-sonnet-4-5",
        system=[ir.Text("You are terse.")],
        messages=[
            ir.Message("user", [ir.Text("Weather and time?")]),
            ir.Message(
                "assistant",
                [
                    ir.Reasoning(
                        text="summary", origin="openai", id="rs_1", encrypted_content="enc"
                    ),
                    ir.Text("Let me check both."),
                    ir.ToolCall("call_w1", "get_weather", '{"city":"Paris"}'),
                    ir.ToolCall("call.t/1", "get_time", "not json"),
                ],
            ),
            ir.Message("tool", [ir.ToolResult("call_w1", [ir.Text("18C")])]),
            ir.Message("developer", [ir.Text("Answer in French.")]),
            ir.Message("tool", [ir.ToolResult("call.t/1", [ir.Text("boom")], is_error=True)]),
            ir.Message("tool", [ir.ToolResult("call_missing", [ir.Text("orphaned output")])]),
            ir.Message("user", [ir.Text("Thanks"), ir.Image(media_type="image/jpeg", data="AAAA")]),
            ir.Message("system", [ir.Text("Be polite.")]),
        ],
        tools=[
            ir.Tool(
                "get_weather",
                "Weather",
                {"type": "object", "properties": {"city": {"type": "string"}}},
                strict=True,
            ),
            ir.Tool("get_time", None, {}),
        ],
        tool_choice=ir.ToolChoice("auto"),
        parallel_tool_calls=False,
        temperature=0.3,
        stop=["END"],
        user="user-1",
        prompt_cache_key="ignored",
        response_format=ir.ResponseFormat("json_schema", name="a", schema={"type": "object"}),
        extra={"billing_header": "x-anthropic-billing-header: x", "logprobs": True},
        stream=True,
    )
    body = codec.encode_request(req)

    assert body["model"] == "claude-sonnet-4-5"
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["system"] == [{"type": "text", "text": "You are terse."}]
    assert body["stream"] is True
    assert body["metadata"] == {"user_id": "user-1"}
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.3
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}}
    }
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "get_time", "input_schema": {"type": "object"}},
    ]
    for key in ("billing_header", "logprobs", "prompt_cache_key", "thinking"):
        assert key not in body

    sanitized = body["messages"][1]["content"][2]["id"]
    assert sanitized.startswith("call_t_1_")
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather and time?"}]},
        {
            "role": "assistant",
            # Foreign reasoning is dropped; invalid argument JSON is sent as an empty object.
            "content": [
                {"type": "text", "text": "Let me check both."},
                {
                    "type": "tool_use",
                    "id": "call_w1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": sanitized, "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            # Both results first, then the reminder, the orphan as text and the user's turn.
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_w1",
                    "content": [{"type": "text", "text": "18C"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": sanitized,
                    "content": [{"type": "text", "text": "boom"}],
                    "is_error": True,
                },
                {
                    "type": "text",
                    "text": "<system-reminder>\nAnswer in French.\n</system-reminder>",
                },
                {"type": "text", "text": "Tool result for call_missing: orphaned output"},
                {"type": "text", "text": "Thanks"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"},
                },
                {"type": "text", "text": "<system-reminder>\nBe polite.\n</system-reminder>"},
            ],
        },
    ]


def test_encode_orphan_result_at_the_start_and_error_flag() -> None:
    body = codec.encode_request(
        ir.Request(
            model="m",
            messages=[
                ir.Message("user", [ir.Text("Continue")]),
                ir.Message("tool", [ir.ToolResult("call_x", [ir.Text("late")], is_error=True)]),
            ],
        )
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Continue"},
                {"type": "text", "text": "Tool result for call_x (error): late"},
            ],
        }
    ]


def test_encode_keeps_anthropic_reasoning_and_opaque_blocks() -> None:
    server_use = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    body = codec.encode_request(
        ir.Request(
            model="m",
            max_tokens=100,
            messages=[
                ir.Message("user", [ir.Text("q"), ir.Opaque("chat", {"type": "input_audio"})]),
                ir.Message(
                    "assistant",
                    [
                        ir.Reasoning(text="hmm", origin="anthropic", signature="sig"),
                        ir.Reasoning(origin="anthropic", redacted_data="xyz"),
                        ir.Reasoning(text="unsigned"),
                        ir.Opaque("anthropic", server_use),
                        ir.Text(""),
                        ir.Text("a"),
                    ],
                ),
            ],
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                server_use,
                {"type": "text", "text": "a"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "thinking", "output_config", "expected_max"),
    [
        (
            ir.ReasoningConfig(effort="high"),
            None,
            {"type": "enabled", "budget_tokens": 24000},
            None,
            32192,
        ),
        (
            ir.ReasoningConfig(effort="low"),
            50000,
            {"type": "enabled", "budget_tokens": 4096},
            None,
            50000,
        ),
        (
            ir.ReasoningConfig(effort="high"),
            8000,
            {"type": "enabled", "budget_tokens": 4000},
            None,
            8000,
        ),
        (
            ir.ReasoningConfig(effort="medium"),
            2000,
            {"type": "enabled", "budget_tokens": 1024},
            None,
            2000,
        ),
        (
            ir.ReasoningConfig(effort="medium"),
            1000,
            {"type": "enabled", "budget_tokens": 1024},
            None,
            2024,
        ),
        (
            ir.ReasoningConfig(effort="max"),
            None,
            {"type": "enabled", "budget_tokens": 32000},
            None,
            64000,
        ),
        (ir.ReasoningConfig(), None, {"type": "enabled", "budget_tokens": 12000}, None, 20192),
        (ir.ReasoningConfig(effort="none"), None, {"type": "disabled"}, None, DEFAULT_MAX_TOKENS),
        (
            ir.ReasoningConfig(enabled=False, effort="low"),
            None,
            {"type": "disabled"},
            {"effort": "low"},
            DEFAULT_MAX_TOKENS,
        ),
        (
            ir.ReasoningConfig(adaptive=True, effort="high"),
            64000,
            {"type": "adaptive"},
            {"effort": "high"},
            64000,
        ),
        (
            ir.ReasoningConfig(adaptive=True, effort="xhigh"),
            None,
            {"type": "adaptive"},
            {"effort": "high"},
            DEFAULT_MAX_TOKENS,
        ),
        (
            ir.ReasoningConfig(budget_tokens=2048, effort="medium"),
            4096,
            {"type": "enabled", "budget_tokens": 2048},
            {"effort": "medium"},
            4096,
        ),
    ],
)
def test_encode_reasoning(
    reasoning: ir.ReasoningConfig,
    max_tokens: int | None,
    thinking: dict[str, Any] | None,
    output_config: dict[str, Any] | None,
    expected_max: int,
) -> None:
    body = codec.encode_request(
        ir.Request(
            model="m",
            messages=[ir.Message("user", [ir.Text("hi")])],
            max_tokens=max_tokens,
            reasoning=reasoning,
        )
    )
    assert body.get("thinking") == thinking
    assert body.get("output_config") == output_config
    assert body["max_tokens"] == expected_max


def test_encode_thinking_constraints() -> None:
    calls = [
        ir.Message("user", [ir.Text("go")]),
        ir.Message("assistant", [ir.ToolCall("call_1", "f", "{}")]),
        ir.Message("tool", [ir.ToolResult("call_1", [ir.Text("ok")])]),
    ]
    tools = [ir.Tool("f")]
    # The last assistant turn calls tools without a thinking block: thinking must stay off.
    body = codec.encode_request(
        ir.Request(
            model="m", messages=calls, tools=tools, reasoning=ir.ReasoningConfig(effort="low")
        )
    )
    assert "thinking" not in body
    # With its (Anthropic) thinking block kept, thinking stays on.
    calls[1].content.insert(0, ir.Reasoning("t", origin="anthropic", signature="s"))
    body = codec.encode_request(
        ir.Request(
            model="m",
            messages=calls,
            tools=tools,
            reasoning=ir.ReasoningConfig(effort="low"),
            temperature=0.5,
            top_p=0.99,
        )
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert "temperature" not in body  # only 1 is accepted with thinking
    assert body["top_p"] == 0.99
    # A forced tool choice and thinking are mutually exclusive upstream: the choice wins.
    body = codec.encode_request(
        ir.Request(
            model="m",
            messages=calls,
            tools=tools,
            tool_choice=ir.ToolChoice("required"),
            reasoning=ir.ReasoningConfig(adaptive=True),
        )
    )
    assert "thinking" not in body
    assert body["tool_choice"] == {"type": "any"}


def test_encode_tool_choice_variants() -> None:
    def choice(tc: ir.ToolChoice | None, parallel: bool | None, tools: bool = True) -> Any:
        body = codec.encode_request(
            ir.Request(
                model="m",
                messages=[ir.Message("user", [ir.Text("x")])],
                tools=[ir.Tool("f")] if tools else [],
                tool_choice=tc,
                parallel_tool_calls=parallel,
            )
        )
        return body.get("tool_choice")

    assert choice(ir.ToolChoice("required"), None) == {"type": "any"}
    assert choice(ir.ToolChoice("tool", "f"), True) == {
        "type": "tool",
        "name": "f",
        "disable_parallel_tool_use": False,
    }
    assert choice(ir.ToolChoice("none"), False) == {"type": "none"}
    assert choice(None, False) == {"type": "auto", "disable_parallel_tool_use": True}
    assert choice(None, True) is None
    assert choice(ir.ToolChoice("auto"), None, tools=False) is None


def test_encode_sanitises_tool_ids_identically_in_calls_and_results() -> None:
    body = codec.encode_request(
        ir.Request(
            model="m",
            messages=[
                ir.Message("user", [ir.Text("x")]),
                ir.Message(
                    "assistant", [ir.ToolCall("fc:1", "f", "{}"), ir.ToolCall("fc;1", "f", "{}")]
                ),
                ir.Message(
                    "tool",
                    [ir.ToolResult("fc:1", [ir.Text("a")]), ir.ToolResult("fc;1", [ir.Text("b")])],
                ),
            ],
        )
    )
    first, second = (b["id"] for b in body["messages"][1]["content"])
    assert first != second
    assert all(c.isalnum() or c in "_-" for c in first + second)
    results = body["messages"][2]["content"]
    assert [r["tool_use_id"] for r in results] == [first, second]
    assert [r["type"] for r in results] == ["tool_result", "tool_result"]


def test_encode_then_decode_keeps_the_mid_conversation_reminder() -> None:
    req = ir.Request(
        model="m",
        messages=[
            ir.Message("user", [ir.Text("Hi")]),
            ir.Message("assistant", [ir.Text("Hello!")]),
            ir.Message("system", [ir.Text("Remember: answer in French.")]),
            ir.Message("user", [ir.Text("How are you?")]),
        ],
    )
    decoded = codec.decode_request(codec.encode_request(req))
    assert [m.role for m in decoded.messages] == ["user", "assistant", "user"]
    assert decoded.messages[2].content == [
        ir.Text("<system-reminder>\nRemember: answer in French.\n</system-reminder>"),
        ir.Text("How are you?"),
    ]
