"""Anthropic Messages non-streaming responses: upstream bodies → IR, IR → client bodies the
official SDK parses."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from ccproxy.llm import ir
from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.formats.anthropic import codec
from ccproxy.llm.reasoning import open_envelope


def sdk_create(body: dict[str, Any]) -> anthropic.types.Message:
    """``client.messages.create`` answered with ``body`` (no network: a mock transport)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body)

    client = anthropic.Anthropic(
        api_key="x",
        base_url="http://127.0.0.1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return client.messages.create(
        model="claude-client", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )


UPSTREAM_BODY: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-8",
    "content": [
        {"type": "thinking", "thinking": "Check the weather tool.", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p"},
        {
            "type": "text",
            "text": "Checking.",
            "citations": [{"type": "char_location", "cited_text": "x"}],
        },
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "q"},
        },
        {
            "type": "tool_use",
            "id": "toolu_01A",
            "name": "get_weather",
            "input": {"city": "Paris", "days": [1, 2]},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 120,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 4000,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens": 80,
        "output_tokens_details": {"thinking_tokens": 25},
        "service_tier": "standard",
    },
}


def test_decode_upstream_body() -> None:
    resp = codec.decode_response(UPSTREAM_BODY)
    assert resp.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert resp.model == "claude-opus-4-8"
    assert resp.stop_reason == "tool_use"
    assert resp.stop_sequence is None
    assert resp.usage == ir.Usage(
        input=120, output=80, cache_read=4000, cache_write_5m=100, cache_write_1h=200, reasoning=25
    )
    thinking, redacted, text, server, call = resp.content
    assert thinking == ir.Reasoning(
        "Check the weather tool.", origin="anthropic", signature="EqQBCgIYAhIM"
    )
    assert redacted == ir.Reasoning(origin="anthropic", redacted_data="EmwKAhgBEgy3va3p")
    assert text == ir.Text("Checking.")
    assert server == ir.Opaque("anthropic", UPSTREAM_BODY["content"][3])
    assert call == ir.ToolCall("toolu_01A", "get_weather", '{"city":"Paris","days":[1,2]}')


def test_decode_usage_without_split_and_odd_bodies() -> None:
    resp = codec.decode_response(
        {
            "id": "msg_1",
            "model": "m",
            "content": [{"type": "text", "text": "hi"}, "junk"],
            "stop_reason": "model_context_window_exceeded",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 7},
        }
    )
    assert resp.usage == ir.Usage(input=5, output=2, cache_write_5m=7)
    assert resp.content == [ir.Text("hi")]
    assert resp.stop_reason == "end_turn"  # an unknown stop reason
    empty = codec.decode_response({"type": "message", "content": []})
    assert (empty.content, empty.stop_reason, empty.usage) == ([], None, ir.Usage())


@pytest.mark.parametrize(
    "body", [{}, {"type": "error"}, {"type": "message", "content": "hi"}, {"content": None}]
)
def test_a_body_that_is_not_a_message_is_an_invalid_response(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidResponseError, match="not an Anthropic message"):
        codec.decode_response(body)


def test_encode_response_is_parsed_by_the_sdk() -> None:
    foreign = ir.Reasoning(
        "**Weather** lookup", origin="openai", id="rs_abc", encrypted_content="gAAAA-enc"
    )
    response = ir.Response(
        id="resp_0123",
        model="gpt-5-codex",
        content=[
            foreign,
            ir.Text("Checking both."),
            ir.ToolCall("call_w", "get_weather", '{"city": "Paris"}'),
            ir.ToolCall("call_t", "get_time", '{"tz":"Europe/Paris"}'),
            ir.ToolResult("call_w", [ir.Text("never shown")]),
            ir.Opaque("responses", {"type": "web_search_call"}),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=10, output=30, cache_read=90, cache_write_1h=4, reasoning=12),
    )
    body = codec.encode_response(response, model="claude-client")
    assert body["id"].startswith("msg_")
    assert body["model"] == "claude-client"
    assert [b["type"] for b in body["content"]] == ["thinking", "text", "tool_use", "tool_use"]

    message = sdk_create(body)
    assert message.model == "claude-client"
    assert message.stop_reason == "tool_use"
    thinking, text, weather, clock = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "**Weather** lookup"
    # The client holds an envelope that restores the Codex reasoning item when sent back.
    assert open_envelope(thinking.signature, text=thinking.thinking) == foreign
    assert text.type == "text"
    assert text.text == "Checking both."
    assert weather.type == "tool_use"
    assert (weather.id, weather.name, weather.input) == ("call_w", "get_weather", {"city": "Paris"})
    assert clock.type == "tool_use"
    assert clock.input == {"tz": "Europe/Paris"}
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (10, 30)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (90, 4)
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 4
    assert usage.output_tokens_details is not None
    assert usage.output_tokens_details.thinking_tokens == 12


def test_encode_anthropic_reasoning_as_received_and_stop_reasons() -> None:
    response = ir.Response(
        id="msg_keep",
        model="m",
        content=[
            ir.Reasoning("t", origin="anthropic", signature="sig"),
            ir.Reasoning(origin="anthropic", redacted_data="red"),
            ir.Reasoning("no proof"),
            ir.Text("Sorry."),
        ],
        stop_reason="content_filter",
    )
    body = codec.encode_response(response, model="claude-client")
    assert body["id"] == "msg_keep"
    assert body["content"] == [
        {"type": "thinking", "thinking": "t", "signature": "sig"},
        {"type": "redacted_thinking", "data": "red"},
        {"type": "thinking", "thinking": "no proof", "signature": ""},
        {"type": "text", "text": "Sorry."},
    ]
    assert body["stop_reason"] == "refusal"
    message = sdk_create(body)
    assert [b.type for b in message.content] == [
        "thinking",
        "redacted_thinking",
        "thinking",
        "text",
    ]

    def stop(reason: ir.StopReason | None, *content: ir.ContentPart) -> Any:
        resp = ir.Response(id="x", model="m", content=list(content), stop_reason=reason)
        return codec.encode_response(resp, model="m")["stop_reason"]

    assert stop(None, ir.Text("a")) == "end_turn"
    assert stop(None, ir.ToolCall("c", "f", "{}")) == "tool_use"
    assert stop("error", ir.Text("a")) == "end_turn"
    for reason in ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"):
        assert stop(reason) == reason


def test_encode_invalid_arguments_and_stop_sequence() -> None:
    response = ir.Response(
        id="msg_1",
        model="m",
        content=[ir.ToolCall("", "f", "{broken"), ir.ToolCall("id with space", "g", "[1]")],
        stop_reason="stop_sequence",
        stop_sequence="END",
    )
    body = codec.encode_response(response, model="m")
    first, second = body["content"]
    assert first["input"] == {}
    assert first["id"].startswith("toolu_")
    assert second["input"] == {}
    assert second["id"].startswith("id_with_space_")
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "END")
    message = sdk_create(body)
    assert message.stop_sequence == "END"
