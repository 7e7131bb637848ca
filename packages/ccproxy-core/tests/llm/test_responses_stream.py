"""Responses streams: our encoder judged by the openai SDK, and the Codex upstream decoded to IR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from ccproxy.llm import ir
from ccproxy.llm.collect import ResponseCollector
from ccproxy.llm.formats.responses import codec
from ccproxy.llm.reasoning import open_envelope
from ccproxy.llm.sse import SSEEvent, SSEParser

TRANSCRIPTS = Path(__file__).parent / "transcripts" / "responses"


def openai_client(payload: bytes) -> openai.OpenAI:
    """An ``openai`` client whose every request is answered with ``payload`` as SSE (no network)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=payload, headers={"content-type": "text/event-stream"})

    return openai.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def final_response(payload: bytes) -> Any:
    """What ``client.responses.stream(...).get_final_response()`` makes of ``payload``."""
    with openai_client(payload).responses.stream(model="m", input="x") as stream:
        return stream.get_final_response()


def encode(
    events: list[ir.StreamEvent], *, model: str = "gpt-client", request: ir.Request | None = None
) -> bytes:
    encoder = codec.stream_encoder(model=model, request=request)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def sse_events(payload: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(payload) + parser.close()


def decode(payload: bytes) -> list[ir.StreamEvent]:
    decoder = codec.stream_decoder()
    out: list[ir.StreamEvent] = []
    for event in sse_events(payload):
        out += decoder.feed(event)
    return out + decoder.close()


def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


CLAUDE_STREAM: list[ir.StreamEvent] = [
    ir.ResponseStart(id="msg_01abc", model="claude-sonnet-4-5", usage=ir.Usage(input=30)),
    ir.BlockStart(0, ir.Reasoning(origin="anthropic")),
    ir.ReasoningDelta(0, "Two cities, "),
    ir.ReasoningDelta(0, "two calls."),
    ir.ReasoningSignature(0, signature="EqQBCkYIBxgCKkBsig"),
    ir.BlockStop(0),
    ir.BlockStart(1, ir.Text("")),
    ir.TextDelta(1, "Checking "),
    ir.TextDelta(1, "both — ☀️."),
    ir.BlockStop(1),
    ir.BlockStart(2, ir.ToolCall("toolu_paris", "get_weather")),
    ir.ToolArgumentsDelta(2, '{"city": '),
    ir.ToolArgumentsDelta(2, '"Paris"}'),
    ir.BlockStop(2),
    ir.BlockStart(3, ir.ToolCall("toolu_tokyo", "get_weather")),
    ir.ToolArgumentsDelta(3, '{"city": "Tokyo"}'),
    ir.BlockStop(3),
    ir.ResponseEnd("tool_use", ir.Usage(input=30, output=120, cache_read=900, cache_write_5m=100)),
]


# --- encoder ------------------------------------------------------------------------------------


def test_encoder_event_sequence_is_spec_exact() -> None:
    events = sse_events(encode(CLAUDE_STREAM))
    payloads = [e.json() for e in events]
    assert [e.event for e in events] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    created, completed = payloads[0]["response"], payloads[-1]["response"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    assert created["model"] == "gpt-client"
    assert created["id"].startswith("resp_")
    assert completed["id"] == created["id"]
    assert completed["status"] == "completed"
    assert [item["type"] for item in completed["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
    ]
    assert [p["output_index"] for p in payloads if p["type"] == "response.output_item.added"] == [
        0,
        1,
        2,
        3,
    ]
    assert completed["usage"] == {
        "input_tokens": 1030,
        "input_tokens_details": {"cached_tokens": 900, "cache_write_tokens": 100},
        "output_tokens": 120,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 1150,
    }
    text_delta = next(p for p in payloads if p["type"] == "response.output_text.delta")
    assert set(text_delta) == {
        "type",
        "item_id",
        "output_index",
        "content_index",
        "delta",
        "logprobs",
        "sequence_number",
    }


def test_sdk_stream_accumulates_the_final_response() -> None:
    client = openai_client(encode(CLAUDE_STREAM))
    with client.responses.stream(model="gpt-client", input="Weather in Paris and Tokyo?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Checking ", "both — ☀️."]
    assert final.output_text == "Checking both — ☀️."
    assert final.model == "gpt-client"
    assert final.status == "completed"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("toolu_paris", "get_weather", {"city": "Paris"}),
        ("toolu_tokyo", "get_weather", {"city": "Tokyo"}),
    ]
    (reasoning,) = [item for item in final.output if item.type == "reasoning"]
    assert [s.text for s in reasoning.summary] == ["Two cities, two calls."]
    opened = open_envelope(reasoning.encrypted_content, text="Two cities, two calls.")
    assert opened == ir.Reasoning(
        text="Two cities, two calls.", origin="anthropic", signature="EqQBCkYIBxgCKkBsig"
    )
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1030, 120)
    assert final.usage.input_tokens_details.cached_tokens == 900


def test_sdk_create_stream_true_yields_typed_events() -> None:
    client = openai_client(encode(CLAUDE_STREAM))
    events = list(client.responses.create(model="gpt-client", input="x", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in done] == [{"city": "Paris"}, {"city": "Tokyo"}]


def test_redacted_thinking_and_openai_reasoning_proofs() -> None:
    payload = encode(
        [
            ir.ResponseStart(id="resp_upstream", model="m"),
            ir.BlockStart(0, ir.Reasoning(origin="anthropic", redacted_data="EmwKAhgB")),
            ir.BlockStop(0),
            ir.BlockStart(1, ir.Reasoning(origin="openai", id="rs_up")),
            ir.ReasoningDelta(1, "summary"),
            ir.ReasoningSignature(1, encrypted_content="gAAAA"),
            ir.BlockStop(1),
            ir.ResponseEnd("end_turn"),
        ]
    )
    final = final_response(payload)
    assert final.id == "resp_upstream"
    redacted, own = final.output
    assert redacted.type == "reasoning" and own.type == "reasoning"
    assert redacted.summary == []
    assert open_envelope(redacted.encrypted_content) == ir.Reasoning(
        origin="anthropic", redacted_data="EmwKAhgB"
    )
    assert own.id == "rs_up"
    assert own.encrypted_content == "gAAAA"
    payloads = [e.json() for e in sse_events(payload)]
    # No summary part events for a reasoning block without text.
    assert [p["type"] for p in payloads[2:4]] == [
        "response.output_item.added",
        "response.output_item.done",
    ]


@pytest.mark.parametrize(
    ("stop", "reason"), [("max_tokens", "max_output_tokens"), ("refusal", "content_filter")]
)
def test_incomplete_responses(stop: ir.StopReason, reason: str) -> None:
    payload = encode(
        [
            ir.ResponseStart(id="x", model="m"),
            ir.BlockStart(0, ir.Text("")),
            ir.TextDelta(0, "Trunc"),
            ir.BlockStop(0),
            ir.ResponseEnd(stop, ir.Usage(input=1, output=2)),
        ]
    )
    events = list(openai_client(payload).responses.create(model="m", input="x", stream=True))
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == reason
    assert last.response.output_text == "Trunc"
    assert b"response.completed" not in payload


def test_stream_error_makes_the_sdk_raise() -> None:
    payload = encode(
        [
            ir.ResponseStart(id="x", model="m"),
            ir.BlockStart(0, ir.Text("")),
            ir.TextDelta(0, "partial"),
            ir.StreamError("overloaded_error", "Overloaded", status_code=529),
            ir.ResponseEnd("end_turn"),  # ignored: the stream is over
        ]
    )
    payloads = [e.json() for e in sse_events(payload)]
    error, failed = payloads[-2:]
    assert error["type"] == "error"
    assert (error["code"], error["message"]) == ("server_error", "Overloaded")
    assert error["error"] == {
        "type": "overloaded_error",
        "code": "server_error",
        "message": "Overloaded",
        "param": None,
    }
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {
        "code": "server_error",
        "message": "Overloaded",
        "type": "overloaded_error",
    }
    assert not any(p["type"] == "response.completed" for p in payloads)

    client = openai_client(payload)
    with (
        pytest.raises(openai.APIError, match="Overloaded"),
        client.responses.stream(model="m", input="x") as stream,
    ):
        stream.get_final_response()
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(client.responses.create(model="m", input="x", stream=True))


def test_error_before_anything_else_still_opens_the_stream() -> None:
    payload = encode([ir.StreamError("rate_limit_error", "Slow down")])
    types = [e.json()["type"] for e in sse_events(payload)]
    assert types == ["response.created", "response.in_progress", "error", "response.failed"]
    assert [e.json().get("code") for e in sse_events(payload)][2] == "rate_limit_exceeded"


def test_encoder_echoes_the_request_and_tolerates_missing_starts() -> None:
    request = ir.Request(
        model="claude-x",
        tools=[ir.Tool("f", "does f", {"type": "object", "properties": {}}, strict=True)],
        tool_choice=ir.ToolChoice("tool", "f"),
        parallel_tool_calls=False,
        temperature=0.5,
        reasoning=ir.ReasoningConfig(effort="high", summary="detailed"),
        prompt_cache_key="conv-1",
    )
    payload = encode(
        [
            ir.TextDelta(0, "no start"),  # no ResponseStart and no BlockStart: both are implied
            ir.ResponseEnd(None),
        ],
        request=request,
    )
    payloads = [e.json() for e in sse_events(payload)]
    assert [p["type"] for p in payloads][:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    final = payloads[-1]["response"]
    assert final["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": "does f",
            "parameters": {"type": "object", "properties": {}},
            "strict": True,
        }
    ]
    assert final["tool_choice"] == {"type": "function", "name": "f"}
    assert final["parallel_tool_calls"] is False
    assert final["reasoning"] == {"effort": "high", "summary": "detailed"}
    assert final["prompt_cache_key"] == "conv-1"
    # The open block was closed before the terminal event.
    assert final["output"][0]["content"][0]["text"] == "no start"
    result = final_response(payload)
    assert result.output_text == "no start"


# --- decoder (the Codex upstream) ---------------------------------------------------------------


def test_decode_codex_upstream_transcript() -> None:
    events = decode((TRANSCRIPTS / "codex_upstream_stream.sse").read_bytes())
    assert events == [
        ir.ResponseStart(id="resp_0a1b2c3d4e5f60718293a4b5c6d7e8f9", model="gpt-5.1-codex"),
        ir.BlockStart(0, ir.Reasoning(origin="openai", id="rs_0aa11")),
        ir.ReasoningDelta(0, "**Checking the weather**"),
        ir.ReasoningDelta(0, "\n\nTwo cities, "),
        ir.ReasoningDelta(0, "two calls."),
        ir.ReasoningSignature(0, encrypted_content="gAAAAABoEncryptedReasoning=="),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.Text("")),
        ir.TextDelta(1, "Let me check "),
        ir.TextDelta(1, "both cities."),
        ir.BlockStop(1),
        ir.BlockStart(2, ir.ToolCall("call_paris", "get_weather")),
        ir.ToolArgumentsDelta(2, '{"city":'),
        ir.ToolArgumentsDelta(2, '"Paris"}'),
        ir.BlockStop(2),
        ir.BlockStart(3, ir.ToolCall("call_tokyo", "get_weather")),
        ir.ToolArgumentsDelta(3, '{"city":"Tokyo"}'),  # only the .done event carried them
        ir.BlockStop(3),
        ir.ResponseEnd("tool_use", ir.Usage(input=200, output=90, cache_read=1000, reasoning=40)),
    ]
    collector = ResponseCollector()
    for event in events:
        collector.feed(event)
    response = collector.response()
    assert response.content[0] == ir.Reasoning(
        text="**Checking the weather**\n\nTwo cities, two calls.",
        origin="openai",
        encrypted_content="gAAAAABoEncryptedReasoning==",
        id="rs_0aa11",
    )


def test_decode_codex_transcript_reencodes_for_a_responses_client() -> None:
    """Upstream → IR → our encoder → the SDK: the same items come out."""
    ir_events = decode((TRANSCRIPTS / "codex_upstream_stream.sse").read_bytes())
    final = final_response(encode(ir_events))
    assert final.output_text == "Let me check both cities."
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.id == "rs_0aa11"
    assert reasoning.encrypted_content == "gAAAAABoEncryptedReasoning=="


def _base(status: str = "in_progress", **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5",
        "status": status,
        "output": [],
        **extra,
    }


def test_decode_mid_stream_error_event() -> None:
    payload = sse(
        {"type": "response.created", "response": _base(), "sequence_number": 0},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
        },
        {
            "type": "error",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached",
            "param": None,
        },
        {"type": "response.completed", "response": _base("completed")},
    )
    assert decode(payload) == [
        ir.ResponseStart(id="resp_1", model="gpt-5"),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Hi"),
        ir.StreamError("rate_limit_exceeded", "Rate limit reached"),
    ]


def test_decode_nested_error_event_and_response_failed() -> None:
    nested = sse(
        {"type": "error", "error": {"type": "invalid_request_error", "code": "x", "message": "Bad"}}
    )
    assert decode(nested) == [ir.StreamError("invalid_request_error", "Bad")]
    failed = sse(
        {"type": "response.created", "response": _base()},
        {
            "type": "response.failed",
            "response": _base(
                "failed", error={"code": "server_error", "message": "The model crashed."}
            ),
        },
    )
    assert decode(failed) == [
        ir.ResponseStart(id="resp_1", model="gpt-5"),
        ir.StreamError("server_error", "The model crashed."),
    ]


def test_decode_cut_stream_and_bad_json() -> None:
    cut = sse(
        {"type": "response.created", "response": _base()},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "f",
                "arguments": "",
            },
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": '{"a"',
        },
    )
    events = decode(cut)
    assert events[-1] == ir.StreamError(
        "api_error", "upstream stream ended before response.completed"
    )
    assert events[:-1] == [
        ir.ResponseStart(id="resp_1", model="gpt-5"),
        ir.BlockStart(0, ir.ToolCall("call_1", "f")),
        ir.ToolArgumentsDelta(0, '{"a"'),
    ]
    decoder = codec.stream_decoder()
    assert decoder.feed(SSEEvent(data="{not json")) == [
        ir.StreamError("api_error", "upstream sent a stream event that is not JSON")
    ]
    assert (
        decoder.feed(SSEEvent(data=json.dumps({"type": "response.completed", "response": _base()})))
        == []
    )
    assert decoder.close() == []


def test_decode_incomplete_and_items_only_in_the_final_object() -> None:
    output = [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Long"}],
        },
        {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "enc"},
    ]
    payload = sse(
        {"type": "response.created", "response": _base()},
        {
            "type": "response.incomplete",
            "response": _base(
                "incomplete",
                output=output,
                incomplete_details={"reason": "max_output_tokens"},
                usage={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
            ),
        },
    )
    assert decode(payload) == [
        ir.ResponseStart(id="resp_1", model="gpt-5"),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Long"),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.Reasoning(origin="openai", id="rs_1")),
        ir.ReasoningSignature(1, encrypted_content="enc"),
        ir.BlockStop(1),
        ir.ResponseEnd("max_tokens", ir.Usage(input=10, output=4)),
    ]


def test_decode_skips_unknown_items_and_fills_text_from_done_events() -> None:
    payload = sse(
        {"type": "response.created", "response": _base()},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "ws_1", "type": "web_search_call"},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": "ws_1", "type": "web_search_call"},
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []},
        },
        {
            "type": "response.output_text.done",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "text": "Found it.",
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Found it."},
                    {"type": "refusal", "refusal": " No more."},
                ],
            },
        },
        {"type": "response.completed", "response": _base("completed")},
    )
    assert decode(payload) == [
        ir.ResponseStart(id="resp_1", model="gpt-5"),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Found it."),
        ir.TextDelta(0, " No more."),
        ir.BlockStop(0),
        ir.ResponseEnd("refusal", ir.Usage()),
    ]
