"""Responses ``response`` objects: decoding upstream bodies, and the openai SDK parsing ours."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from ccproxy.llm import ir
from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.formats.responses import codec

UPSTREAM_BODY: dict[str, Any] = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-5.1-codex",
    "output": [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [
                {"type": "summary_text", "text": "**Plan**"},
                {"type": "summary_text", "text": "Call the tool."},
            ],
            "encrypted_content": "gAAAA-enc",
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Sure, ", "annotations": []},
                {
                    "type": "output_text",
                    "text": "checking.",
                    "annotations": [{"type": "url_citation"}],
                },
            ],
        },
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "id": "ws_1",
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search"},
        },
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 2000,
        "input_tokens_details": {"cached_tokens": 1500},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 120},
        "total_tokens": 2300,
    },
}


def openai_client(payload: bytes, content_type: str) -> openai.OpenAI:
    """An ``openai`` client whose every request is answered with ``payload`` (no network)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=payload, headers={"content-type": content_type})

    return openai.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def test_decode_upstream_response() -> None:
    resp = codec.decode_response(UPSTREAM_BODY)
    assert resp.id == UPSTREAM_BODY["id"]
    assert resp.model == "gpt-5.1-codex"
    assert resp.created == 1741476542
    assert resp.content == [
        ir.Reasoning(
            text="**Plan**\n\nCall the tool.",
            origin="openai",
            encrypted_content="gAAAA-enc",
            id="rs_1",
        ),
        ir.Text("Sure, checking."),
        ir.ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
        ir.Opaque("responses", UPSTREAM_BODY["output"][3]),
    ]
    assert resp.stop_reason == "tool_use"
    # input_tokens includes the cache; output_tokens includes reasoning.
    assert resp.usage == ir.Usage(input=500, output=300, cache_read=1500, reasoning=120)


@pytest.mark.parametrize(
    "body", [{}, {"output": "x"}, {"object": "error", "output": []}, {"type": "error"}]
)
def test_a_body_that_is_not_a_response_is_an_invalid_response(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidResponseError, match="not a Responses response"):
        codec.decode_response(body)


@pytest.mark.parametrize(
    ("status", "details", "expected"),
    [
        ("completed", None, "end_turn"),
        ("incomplete", {"reason": "max_output_tokens"}, "max_tokens"),
        ("incomplete", {"reason": "content_filter"}, "content_filter"),
        ("failed", None, "error"),
        ("in_progress", None, None),
    ],
)
def test_decode_stop_reasons(
    status: str, details: dict[str, Any] | None, expected: str | None
) -> None:
    body: dict[str, Any] = {
        "id": "resp_1",
        "model": "m",
        "status": status,
        "incomplete_details": details,
        "output": [],
    }
    assert codec.decode_response(body).stop_reason == expected


def test_decode_refusal_and_cache_writes() -> None:
    body = {
        "id": "resp_1",
        "model": "m",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't help."}],
            }
        ],
        "usage": {
            "input_tokens": 100,
            "input_tokens_details": {
                "cached_tokens": 10,
                "cache_write_tokens": 30,
                "cache_write_tokens_details": {"ttl_30m_tokens": 20, "ttl_12h_tokens": 10},
            },
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 105,
        },
    }
    resp = codec.decode_response(body)
    assert resp.content == [ir.Text("I can't help.")]
    assert resp.stop_reason == "refusal"
    assert resp.usage == ir.Usage(
        input=60, output=5, cache_read=10, cache_write_5m=20, cache_write_1h=10
    )


def _claude_response() -> ir.Response:
    return ir.Response(
        id="msg_01XFDUDYJgAACzvnptvVoYEL",
        model="claude-sonnet-4-5",
        content=[
            ir.Reasoning(
                text="The user wants weather.", origin="anthropic", signature="EqQBCkYIBxgCKkBsig"
            ),
            ir.Reasoning(origin="anthropic", redacted_data="EmwKAhgBEgy3va3pzix"),
            ir.Text("Let me check."),
            ir.ToolCall(
                "toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city": "Paris", "unit": "c"}'
            ),
            ir.ToolCall("toolu_01B", "get_time", "{}"),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=20, output=80, cache_read=1000, cache_write_5m=50, reasoning=0),
        created=1760000000,
    )


def test_encode_response_is_parsed_by_the_openai_sdk() -> None:
    body = codec.encode_response(_claude_response(), model="gpt-client")
    assert body["id"].startswith("resp_")
    assert body["model"] == "gpt-client"
    assert body["status"] == "completed"
    client = openai_client(json.dumps(body).encode(), "application/json")
    result = client.responses.create(model="gpt-client", input="weather?")
    assert result.id == body["id"]
    assert result.model == "gpt-client"
    assert result.output_text == "Let me check."
    calls = [item for item in result.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris", "unit": "c"}),
        ("toolu_01B", "get_time", {}),
    ]
    assert all(c.id is not None and c.id.startswith("fc_") for c in calls)
    reasoning = [item for item in result.output if item.type == "reasoning"]
    assert [r.id.startswith("rs_") for r in reasoning] == [True, True]
    assert [s.text for s in reasoning[0].summary] == ["The user wants weather."]
    assert reasoning[1].summary == []
    message = next(item for item in result.output if item.type == "message")
    assert message.id.startswith("msg_")
    assert result.usage is not None
    assert result.usage.input_tokens == 1070
    assert result.usage.input_tokens_details.cached_tokens == 1000
    assert result.usage.output_tokens == 80
    assert result.usage.total_tokens == 1150


def test_claude_thinking_survives_a_round_trip_through_a_responses_client() -> None:
    """The client sends the reasoning items back as input: the decoder restores the thinking."""
    body = codec.encode_response(_claude_response(), model="gpt-client")
    result = openai_client(json.dumps(body).encode(), "application/json").responses.create(
        model="m", input="x"
    )
    history = [item.model_dump(exclude_none=True) for item in result.output]
    req = codec.decode_request(
        {"model": "m", "input": [{"role": "user", "content": "weather?"}, *history]}
    )
    assert req.messages[1].content == _claude_response().content


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("stop_sequence", "completed", None),
        ("pause_turn", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("refusal", "incomplete", "content_filter"),
        ("error", "failed", None),
    ],
)
def test_encode_stop_reasons(stop: ir.StopReason, status: str, reason: str | None) -> None:
    body = codec.encode_response(
        ir.Response(id="x", model="m", content=[ir.Text("hi")], stop_reason=stop), model="m"
    )
    assert body["status"] == status
    assert (body["incomplete_details"] or {}).get("reason") == reason
    result = openai_client(json.dumps(body).encode(), "application/json").responses.create(
        model="m", input="x"
    )
    assert result.status == status
    assert result.output_text == "hi"


def test_encode_keeps_native_ids_and_openai_reasoning() -> None:
    resp = ir.Response(
        id="resp_keep",
        model="m",
        content=[
            ir.Reasoning(text="sum", origin="openai", encrypted_content="enc", id="rs_keep"),
            ir.Reasoning(text="plain, no proof"),
            ir.Opaque(
                "responses", {"id": "ws_1", "type": "web_search_call", "status": "completed"}
            ),
            ir.Opaque("anthropic", {"type": "server_tool_use"}),
        ],
        stop_reason="end_turn",
    )
    body = codec.encode_response(resp, model="m")
    assert body["id"] == "resp_keep"
    first, second, third = body["output"]
    assert first == {
        "id": "rs_keep",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "sum"}],
        "encrypted_content": "enc",
    }
    assert "encrypted_content" not in second
    assert third["type"] == "web_search_call"
    assert codec.decode_response(body).content[0] == resp.content[0]
