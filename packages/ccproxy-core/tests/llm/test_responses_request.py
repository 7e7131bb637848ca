"""Responses request bodies: hand-written transcripts decoded to the IR and IR encoded for Codex."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccproxy.llm import ir
from ccproxy.llm.codec import get_codec
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.formats.responses import codec
from ccproxy.llm.reasoning import seal_envelope

TRANSCRIPTS = Path(__file__).parent / "transcripts" / "responses"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_get_codec_returns_this_codec() -> None:
    assert get_codec("responses") is codec
    assert codec.format == "responses"


# --- decoding client requests -------------------------------------------------------------------


def test_input_as_plain_string_is_one_user_message() -> None:
    req = codec.decode_request(
        {"model": "gpt-5", "input": "Hello there", "instructions": "Be brief."}
    )
    assert req.model == "gpt-5"
    assert req.system == [ir.Text("Be brief.")]
    assert req.messages == [ir.Message("user", [ir.Text("Hello there")])]
    assert req.stream is False
    assert req.extra == {}


def test_codex_cli_transcript_decodes_every_interpreted_field() -> None:
    body = json.loads((TRANSCRIPTS / "codex_cli_request.json").read_text())
    req = codec.decode_request(body)

    assert req.model == "gpt-5.1-codex"
    # No instructions field: the leading developer messages are the system prompt.
    assert [t.text for t in req.system] == [
        "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI on a user's computer.",
        "<permissions instructions>Filesystem sandboxing: workspace-write.</permissions instructions>",
    ]
    assert [m.role for m in req.messages] == [
        "user",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    env, prompt, assistant, results, answer, last = req.messages
    assert env.content == [ir.Text(body["input"][2]["content"][0]["text"])]
    assert prompt.content == [ir.Text("List the files in this directory.")]
    reasoning, call = assistant.content
    assert reasoning == ir.Reasoning(
        text="**Listing files**\n\nI will run ls.",
        origin="openai",
        encrypted_content="gAAAAABo-opaque-reasoning-blob==",
    )
    assert call == ir.ToolCall(
        id="call_Xq1s2bKp0JvQ8n7m",
        name="shell",
        arguments='{"command":["bash","-lc","ls"],"workdir":"/home/user/project"}',
    )
    # The custom tool call and its output are not modelled: they ride along, in place, as opaque items.
    result, custom_call, custom_output = results.content
    assert result == ir.ToolResult("call_Xq1s2bKp0JvQ8n7m", [ir.Text("README.md\nsrc\ntests\n")])
    assert custom_call == ir.Opaque("responses", body["input"][7])
    assert custom_output == ir.Opaque("responses", body["input"][8])
    assert answer.content == [ir.Text("The directory holds README.md, src and tests.")]
    assert last.content == [ir.Text("Thanks. Now run the tests.")]

    assert [t.name for t in req.tools] == ["shell", "update_plan"]
    assert req.tools[0].strict is False
    assert req.tools[0].parameters["required"] == ["command"]
    assert req.extra["tools_other"] == [body["tools"][2], body["tools"][3]]
    assert req.tool_choice == ir.ToolChoice("auto")
    assert req.parallel_tool_calls is False
    assert req.reasoning == ir.ReasoningConfig(enabled=True, effort="medium", summary="auto")
    assert req.stream is True
    assert req.prompt_cache_key == "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert req.extra["store"] is False
    assert req.extra["include"] == ["reasoning.encrypted_content"]
    assert req.extra["client_metadata"] == body["client_metadata"]
    assert req.extra["text_verbosity"] == "medium"
    assert req.response_format is None


def test_codex_cli_transcript_reencodes_the_conversation_in_place() -> None:
    body = json.loads((TRANSCRIPTS / "codex_cli_request.json").read_text())
    out = codec.encode_request(codec.decode_request(body))
    assert out["instructions"].startswith("You are Codex")
    kinds = [(i["type"], i.get("role")) for i in out["input"]]
    assert kinds == [
        ("message", "user"),
        ("message", "user"),
        ("reasoning", None),
        ("function_call", None),
        ("function_call_output", None),
        ("custom_tool_call", None),
        ("custom_tool_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert out["tools"][2:] == body["tools"][2:]
    assert out["include"] == ["reasoning.encrypted_content"]
    assert out["text"] == {"verbosity": "medium"}
    assert out["reasoning"] == {"effort": "medium", "summary": "auto"}


def test_developer_and_system_roles_mid_conversation_stay_messages() -> None:
    req = codec.decode_request(
        {
            "model": "m",
            "instructions": "Top.",
            "input": [
                {"role": "system", "content": "Leading system."},
                {
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "Leading developer."}],
                },
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Mid system."},
                {"role": "developer", "content": "Mid developer."},
            ],
        }
    )
    assert [t.text for t in req.system] == ["Top.", "Leading system.", "Leading developer."]
    assert req.messages == [
        ir.Message("user", [ir.Text("Hi")]),
        ir.Message("system", [ir.Text("Mid system.")]),
        ir.Message("developer", [ir.Text("Mid developer.")]),
    ]


def test_images_by_data_url_and_url_and_file_id() -> None:
    req = codec.decode_request(
        {
            "model": "m",
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {
                            "type": "input_image",
                            "image_url": f"data:image/png;base64,{PNG}",
                            "detail": "high",
                        },
                        {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                        {"type": "input_image", "file_id": "file-123", "detail": "auto"},
                        {"type": "input_file", "file_id": "file-456"},
                    ],
                }
            ],
        }
    )
    text, inline, remote, by_file, file_part = req.messages[0].content
    assert text == ir.Text("What is this?")
    assert inline == ir.Image(media_type="image/png", data=PNG, detail="high")
    assert remote == ir.Image(url="https://example.com/cat.jpg")
    assert by_file == ir.Opaque(
        "responses", {"type": "input_image", "file_id": "file-123", "detail": "auto"}
    )
    assert file_part == ir.Opaque("responses", {"type": "input_file", "file_id": "file-456"})

    out = codec.encode_request(req)
    assert out["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {
                    "type": "input_image",
                    "image_url": f"data:image/png;base64,{PNG}",
                    "detail": "high",
                },
                {
                    "type": "input_image",
                    "image_url": "https://example.com/cat.jpg",
                    "detail": "auto",
                },
                {"type": "input_image", "file_id": "file-123", "detail": "auto"},
                {"type": "input_file", "file_id": "file-456"},
            ],
        }
    ]


def test_parallel_tool_calls_after_text_and_their_results() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "Weather in Paris and Tokyo?"},
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking both.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_a",
                "name": "weather",
                "arguments": '{"city":"Paris"}',
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_b",
                "name": "weather",
                "arguments": '{"city":"Tokyo"}',
            },
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {
                "type": "function_call_output",
                "call_id": "call_b",
                "output": [
                    {"type": "input_text", "text": "22C"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            },
        ],
    }
    req = codec.decode_request(body)
    assert req.messages[1] == ir.Message(
        "assistant",
        [
            ir.Text("Checking both."),
            ir.ToolCall("call_a", "weather", '{"city":"Paris"}'),
            ir.ToolCall("call_b", "weather", '{"city":"Tokyo"}'),
        ],
    )
    assert req.messages[2] == ir.Message(
        "tool",
        [
            ir.ToolResult("call_a", [ir.Text("18C")]),
            ir.ToolResult("call_b", [ir.Text("22C"), ir.Image(media_type="image/png", data=PNG)]),
        ],
    )
    items = codec.encode_request(req)["input"]
    assert items[1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Checking both."}],
    }
    # Items carry no id (the Codex backend runs with store=false and would look them up).
    assert items[2] == {
        "type": "function_call",
        "call_id": "call_a",
        "name": "weather",
        "arguments": '{"city":"Paris"}',
    }
    assert items[4] == {"type": "function_call_output", "call_id": "call_a", "output": "18C"}
    assert items[5]["output"] == [
        {"type": "input_text", "text": "22C"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
    ]


def test_reasoning_history_opens_our_envelope_and_keeps_openai_proofs() -> None:
    claude = ir.Reasoning(text="Let me think.", origin="anthropic", signature="EqQBCkYIBxgCKkB...")
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "Hi"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Let me think."}],
                "encrypted_content": seal_envelope(claude),
            },
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAA-openai"},
            {
                "type": "reasoning",
                "id": "rs_3",
                "summary": [],
                "encrypted_content": "ccproxy.v1.!!not-base64",
            },
            {"role": "assistant", "content": "Hello!"},
        ],
    }
    req = codec.decode_request(body)
    opened, openai_own, broken, text = req.messages[1].content
    assert opened == claude
    assert openai_own == ir.Reasoning(origin="openai", encrypted_content="gAAAA-openai", id="rs_2")
    # A damaged envelope is not ours to open: it stays an OpenAI proof (the upstream will judge it).
    assert broken.origin == "openai"  # type: ignore[union-attr]
    assert text == ir.Text("Hello!")


def test_tool_choice_forms_and_structured_output() -> None:
    base: dict[str, Any] = {"model": "m", "input": "x"}
    assert codec.decode_request({**base, "tool_choice": "required"}).tool_choice == ir.ToolChoice(
        "required"
    )
    assert codec.decode_request({**base, "tool_choice": "none"}).tool_choice == ir.ToolChoice(
        "none"
    )
    named = codec.decode_request({**base, "tool_choice": {"type": "function", "name": "f"}})
    assert named.tool_choice == ir.ToolChoice("tool", "f")
    assert codec.encode_request(named)["tool_choice"] == {"type": "function", "name": "f"}
    other = codec.decode_request({**base, "tool_choice": {"type": "web_search_preview"}})
    assert other.tool_choice is None
    assert codec.encode_request(other)["tool_choice"] == {"type": "web_search_preview"}

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    req = codec.decode_request(
        {
            **base,
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
            },
        }
    )
    assert req.response_format == ir.ResponseFormat(
        "json_schema", name="out", schema=schema, strict=True
    )
    assert codec.encode_request(req)["text"] == {
        "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
    }


def test_sampling_user_and_conversation_fields() -> None:
    req = codec.decode_request(
        {
            "model": "m",
            "input": "x",
            "max_output_tokens": 512,
            "temperature": 0.2,
            "top_p": 0.9,
            "safety_identifier": "user-hash",
            "previous_response_id": "resp_prev",
            "metadata": {"k": "v"},
            "service_tier": "priority",
        }
    )
    assert (req.max_tokens, req.temperature, req.top_p) == (512, 0.2, 0.9)
    assert req.user == "user-hash"
    assert req.previous_response_id == "resp_prev"
    assert req.extra == {"metadata": {"k": "v"}, "service_tier": "priority"}
    out = codec.encode_request(req)
    assert out["max_output_tokens"] == 512
    assert out["user"] == "user-hash"
    assert out["previous_response_id"] == "resp_prev"
    # Fields of the source the IR does not interpret are not re-encoded.
    assert "metadata" not in out
    assert "service_tier" not in out


# --- encoding converted traffic for the Codex upstream -----------------------------------------


def _converted_request() -> ir.Request:
    """What an Anthropic client's conversation looks like in the IR (built by hand)."""
    return ir.Request(
        model="gpt-5.1-codex",
        system=[
            ir.Text("You are Claude Code.", cache_control={"type": "ephemeral"}),
            ir.Text("Be careful."),
        ],
        messages=[
            ir.Message(
                "user", [ir.Text("Fix the bug."), ir.Image(media_type="image/png", data=PNG)]
            ),
            ir.Message(
                "assistant",
                [
                    ir.Reasoning(text="Thinking...", origin="anthropic", signature="sig"),
                    ir.Reasoning(
                        text="Codex summary", origin="openai", encrypted_content="enc", id="rs_9"
                    ),
                    ir.Reasoning(text="no proof", origin="openai"),
                    ir.Text("Looking."),
                    ir.ToolCall("toolu_01", "Read", '{"file_path":"a.py"}'),
                ],
            ),
            ir.Message(
                "user",
                [
                    ir.ToolResult("toolu_01", [ir.Text("print(1)")], is_error=True),
                    ir.ToolResult("toolu_missing", [ir.Text("stale output")]),
                    ir.Text("Go on."),
                ],
            ),
            ir.Message("system", [ir.Text("<system-reminder>Stay on task.</system-reminder>")]),
        ],
        tools=[
            ir.Tool(
                "Read",
                "Reads a file",
                {"type": "object", "properties": {"file_path": {"type": "string"}}},
            )
        ],
        tool_choice=ir.ToolChoice("required"),
        max_tokens=64000,
        stop=["\n\nHuman:"],
        reasoning=ir.ReasoningConfig(enabled=True, budget_tokens=20000),
        user="user_abc_account_def",
        stream=True,
        extra={
            "billing_header": "x-anthropic-billing-header: cc_version=2",
            "context_management": {},
        },
    )


def test_encode_converted_request_for_codex() -> None:
    out = codec.encode_request(_converted_request())
    assert out["instructions"] == "You are Claude Code.\n\nBe careful."
    assert out["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Fix the bug."},
                {
                    "type": "input_image",
                    "image_url": f"data:image/png;base64,{PNG}",
                    "detail": "auto",
                },
            ],
        },
        # Claude thinking is dropped (foreign proof); Codex reasoning travels without its id.
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Codex summary"}],
            "encrypted_content": "enc",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Looking."}],
        },
        {
            "type": "function_call",
            "call_id": "toolu_01",
            "name": "Read",
            "arguments": '{"file_path":"a.py"}',
        },
        # An error result keeps its text as is (Responses has no error flag).
        {"type": "function_call_output", "call_id": "toolu_01", "output": "print(1)"},
        # A result whose call is missing would be rejected: it becomes user text.
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Tool result for toolu_missing: stale output"}
            ],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Go on."}]},
        # A mid-conversation system message becomes a developer message, never a system item.
        {
            "type": "message",
            "role": "developer",
            "content": [
                {"type": "input_text", "text": "<system-reminder>Stay on task.</system-reminder>"}
            ],
        },
    ]
    assert out["tools"] == [
        {
            "type": "function",
            "name": "Read",
            "description": "Reads a file",
            "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}},
            "strict": False,
        }
    ]
    assert out["tool_choice"] == "required"
    assert out["max_output_tokens"] == 64000
    assert out["reasoning"] == {"effort": "high", "summary": "auto"}
    assert out["include"] == ["reasoning.encrypted_content"]
    assert out["stream"] is True
    assert out["user"] == "user_abc_account_def"
    for absent in ("store", "stop", "billing_header", "context_management", "system"):
        assert absent not in out


def test_a_result_whose_call_is_missing_decodes_and_encodes_as_text() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "Go on."},
            {"type": "function_call_output", "call_id": "call_gone", "output": "42"},
        ],
    }
    req = codec.decode_request(body)
    assert req.messages[1] == ir.Message("tool", [ir.ToolResult("call_gone", [ir.Text("42")])])
    assert codec.encode_request(req)["input"][1] == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Tool result for call_gone: 42"}],
    }
    # With the calls held upstream (previous_response_id) the output goes as it is.
    body["previous_response_id"] = "resp_1"
    assert codec.encode_request(codec.decode_request(body))["input"][1] == {
        "type": "function_call_output",
        "call_id": "call_gone",
        "output": "42",
    }


def test_orphan_results_are_kept_when_previous_response_id_holds_the_calls() -> None:
    req = ir.Request(
        model="m",
        messages=[ir.Message("tool", [ir.ToolResult("call_1", [ir.Text("ok")])])],
        previous_response_id="resp_1",
    )
    assert codec.encode_request(req)["input"] == [
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"}
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ir.ReasoningConfig(effort="low"), {"effort": "low"}),
        (ir.ReasoningConfig(effort="max"), {"effort": "xhigh"}),
        (ir.ReasoningConfig(adaptive=True), {"summary": "auto"}),
        (ir.ReasoningConfig(budget_tokens=1024), {"effort": "minimal", "summary": "auto"}),
        (ir.ReasoningConfig(enabled=False), None),
        (ir.ReasoningConfig(enabled=False, effort="none"), {"effort": "none"}),
    ],
)
def test_reasoning_config_mapping(
    config: ir.ReasoningConfig, expected: dict[str, Any] | None
) -> None:
    out = codec.encode_request(ir.Request(model="m", reasoning=config))
    assert out.get("reasoning") == expected
    assert ("include" in out) is (expected is not None)


def test_encoding_never_crashes_on_odd_ir() -> None:
    out = codec.encode_request(
        ir.Request(
            model="m",
            messages=[
                ir.Message("user", []),
                ir.Message(
                    "assistant",
                    [ir.Image(url="https://x/y.png"), ir.Opaque("anthropic", {"type": "x"})],
                ),
                ir.Message("tool", [ir.ToolResult("c", [])]),
            ],
            tool_choice=ir.ToolChoice("tool"),
        )
    )
    assert out["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Tool result for c: "}],
        }
    ]
    assert out["tool_choice"] == {"type": "function", "name": ""}


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": 5, "input": "x"}, "model"),
        ({"model": "m", "input": 42}, "input"),
        ({"model": "m", "input": {"role": "user"}}, "input"),
        ({"model": "m", "input": ["hi"]}, "input.0"),
        ({"model": "m", "input": [{"content": "no role"}]}, "input.0.type"),
        ({"model": "m", "input": [{"role": "user", "content": 3}]}, "input.0.content"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"text": "x"}]}]},
            "input.0.content.0.type",
        ),
        (
            {
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}],
            },
            "input.0.content.0.text",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input.0.call_id",
        ),
        (
            {
                "model": "m",
                "input": [{"type": "function_call_output", "call_id": "c", "output": 1}],
            },
            "input.0.output",
        ),
        ({"model": "m", "input": [{"type": "reasoning", "summary": "x"}]}, "input.0.summary"),
        ({"model": "m", "input": "x", "tools": {"type": "function"}}, "tools"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools.0.name"),
        ({"model": "m", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "m", "input": "x", "tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"model": "m", "input": "x", "max_output_tokens": "lots"}, "max_output_tokens"),
        ({"model": "m", "input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        codec.decode_request(body)
    assert caught.value.param == param
    assert param in caught.value.message


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequestError):
        codec.decode_request([])  # type: ignore[arg-type]


def test_unknown_items_and_fields_are_carried() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "input": [
            {"type": "item_reference", "id": "msg_earlier"},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "..."}}]},
        ],
        "future_field": {"a": 1},
    }
    req = codec.decode_request(body)
    assert req.messages[0] == ir.Message("user", [ir.Opaque("responses", body["input"][0])])
    assert req.messages[1].content == [ir.Opaque("responses", body["input"][1]["content"][0])]
    assert req.extra == {"future_field": {"a": 1}}
    assert codec.encode_request(req)["input"] == [
        body["input"][0],
        {"type": "message", "role": "user", "content": [body["input"][1]["content"][0]]},
    ]


@pytest.mark.parametrize("item", [{"role": "critic"}, {"type": "message", "role": "tool"}])
def test_unknown_message_roles_are_refused_naming_the_field(item: dict[str, Any]) -> None:
    items = [{"role": "user", "content": "a"}, {**item, "content": "b"}]
    with pytest.raises(InvalidRequestError, match="unknown role") as caught:
        codec.decode_request({"model": "m", "input": items})
    assert caught.value.param == "input.1.role"
