"""Anthropic Messages streams: decoding upstream SSE, encoding client SSE the SDK accepts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from ccproxy.llm import ir
from ccproxy.llm.collect import ResponseCollector, UpstreamStreamError
from ccproxy.llm.formats.anthropic import codec
from ccproxy.llm.reasoning import open_envelope
from ccproxy.llm.sse import SSEParser

TRANSCRIPTS = Path(__file__).parent / "transcripts" / "anthropic"


def decode_bytes(raw: bytes, *, seed: int | None = None) -> list[ir.StreamEvent]:
    """Feed ``raw`` to a fresh decoder (in random chunks when ``seed`` is given), then close."""
    parser = SSEParser()
    decoder = codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    chunks = [raw]
    if seed is not None:
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(raw)), min(40, len(raw) - 1)))
        chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    for chunk in chunks:
        for sse in parser.feed(chunk):
            events.extend(decoder.feed(sse))
    for sse in parser.close():
        events.extend(decoder.feed(sse))
    events.extend(decoder.close())
    return events


def encode(events: list[ir.StreamEvent], *, model: str = "claude-client") -> bytes:
    encoder = codec.stream_encoder(model=model)
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def wire_events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    parser = SSEParser()
    return [(e.event, json.loads(e.data)) for e in [*parser.feed(raw), *parser.close()]]


def sdk_stream(raw: bytes) -> anthropic.types.Message:
    """``client.messages.stream(...).get_final_message()`` over ``raw`` (mock transport)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(
        api_key="x",
        base_url="http://127.0.0.1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="claude-client", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


# --- decoding the upstream -----------------------------------------------------------------

THINKING_TOOL_EVENTS: list[ir.StreamEvent] = [
    ir.ResponseStart(
        "msg_01XFDUDYJgAACzvnptvVoYEL",
        "claude-opus-4-8",
        ir.Usage(input=472, output=3, cache_read=10240, cache_write_5m=1024, cache_write_1h=1024),
    ),
    ir.BlockStart(0, ir.Reasoning(origin="anthropic")),
    ir.ReasoningDelta(0, "The user wants the weather. "),
    ir.ReasoningDelta(0, "Call get_weather."),
    ir.ReasoningSignature(0, signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
    ir.BlockStop(0),
    ir.BlockStart(1, ir.Text("")),
    ir.TextDelta(1, "Let me check "),
    ir.TextDelta(1, "the weather in Paris — ☀?"),
    ir.BlockStop(1),
    ir.BlockStart(2, ir.ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")),
    ir.ToolArgumentsDelta(2, '{"city": "Pa'),
    ir.ToolArgumentsDelta(2, 'ris", "unit": "c"}'),
    ir.BlockStop(2),
    ir.ResponseEnd(
        "tool_use",
        # The 1h/5m split of message_start survives message_delta's total.
        ir.Usage(
            input=472,
            output=89,
            cache_read=10240,
            cache_write_5m=1024,
            cache_write_1h=1024,
            reasoning=31,
        ),
    ),
]


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_decode_thinking_text_tool_stream(seed: int | None) -> None:
    raw = (TRANSCRIPTS / "upstream_thinking_tool.sse").read_bytes()
    assert decode_bytes(raw, seed=seed) == THINKING_TOOL_EVENTS


def test_decoded_stream_collects_into_a_response() -> None:
    collector = ResponseCollector()
    for event in THINKING_TOOL_EVENTS:
        collector.feed(event)
    response = collector.response()
    assert response.content == [
        ir.Reasoning(
            "The user wants the weather. Call get_weather.",
            origin="anthropic",
            signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        ),
        ir.Text("Let me check the weather in Paris — ☀?"),
        ir.ToolCall(
            "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"city": "Paris", "unit": "c"}'
        ),
    ]


def test_decode_redacted_thinking_skips_server_tools_and_unknown_events() -> None:
    raw = (TRANSCRIPTS / "upstream_server_tool.sse").read_bytes()
    assert decode_bytes(raw, seed=7) == [
        ir.ResponseStart("msg_01Search", "claude-opus-4-8", ir.Usage(input=2679, output=3)),
        ir.BlockStart(
            0, ir.Reasoning(origin="anthropic", redacted_data="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT")
        ),
        ir.BlockStop(0),
        # server_tool_use and web_search_tool_result (Anthropic blocks 1 and 2) are skipped:
        # the text block (Anthropic index 3) is IR block 1.
        ir.BlockStart(1, ir.Text("")),
        ir.TextDelta(1, "It is sunny."),
        ir.BlockStop(1),
        # message_delta gave only output_tokens: input comes from message_start.
        ir.ResponseEnd("end_turn", ir.Usage(input=2679, output=510)),
    ]


def test_decode_error_event_ends_the_stream() -> None:
    raw = (TRANSCRIPTS / "upstream_overloaded.sse").read_bytes()
    trailing = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    events = decode_bytes(raw + trailing)
    assert events == [
        ir.ResponseStart("msg_01Overload", "claude-opus-4-8", ir.Usage(input=12, output=1)),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Partial answer"),
        ir.StreamError("overloaded_error", "Overloaded", 529),
    ]


@pytest.mark.parametrize("cut_after", ["content_block_delta", "message_delta", "message_start"])
def test_decode_cut_stream_reports_an_error(cut_after: str) -> None:
    raw = (TRANSCRIPTS / "upstream_thinking_tool.sse").read_bytes()
    position = raw.rfind(f"event: {cut_after}".encode())
    events = decode_bytes(raw[:position])
    assert isinstance(events[-1], ir.StreamError)
    assert events[-1].type == "api_error"
    assert not any(isinstance(e, ir.ResponseEnd) for e in events)
    collector = ResponseCollector()
    for event in events:
        collector.feed(event)
    with pytest.raises(UpstreamStreamError, match="message_stop"):
        collector.response()


def test_decode_bad_data_and_data_only_events() -> None:
    decoder = codec.stream_decoder()
    parser = SSEParser()
    # Events without an ``event:`` line are dispatched on the payload's type.
    raw = (
        b'data: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
        b"event: ping\ndata: \n\n"
        b"data: [1, 2]\n\n"
        b"event: content_block_delta\ndata: not json\n\n"
        b'data: {"type":"message_stop"}\n\n'
    )
    events = [e for sse in parser.feed(raw) for e in decoder.feed(sse)]
    assert events == [
        ir.ResponseStart("msg_1", "m", ir.Usage(input=1)),
        ir.StreamError("api_error", "The upstream sent an event that is not JSON.", 502),
    ]
    assert decoder.close() == []


# --- encoding for the client ---------------------------------------------------------------


def test_encoder_writes_the_exact_event_sequence() -> None:
    raw = encode(
        [
            ir.ResponseStart("msg_abc", "upstream-model", ir.Usage(input=10, cache_read=5)),
            ir.BlockStart(0, ir.Text("")),
            ir.TextDelta(0, "Hi"),
            ir.TextDelta(0, ""),
            ir.BlockStop(0),
            ir.BlockStart(1, ir.ToolCall("call_1", "f")),
            ir.ToolArgumentsDelta(1, '{"a":'),
            ir.ToolArgumentsDelta(1, "1}"),
            ir.BlockStop(1),
            ir.ResponseEnd("tool_use", ir.Usage(output=7)),
        ]
    )
    assert raw.startswith(b"event: message_start\ndata: {")
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    usage0 = {
        "input_tokens": 10,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    }
    assert wire_events(raw) == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_abc",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-client",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage0,
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "1}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 7,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 5,
                },
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_sdk_final_message_with_thinking_text_and_parallel_tools() -> None:
    raw = encode(
        [
            ir.ResponseStart("upstream-1", "gpt-5", ir.Usage(input=100)),
            ir.BlockStart(0, ir.Reasoning(origin="anthropic")),
            ir.ReasoningDelta(0, "Two tools "),
            ir.ReasoningDelta(0, "are needed."),
            ir.ReasoningSignature(0, signature="EqQBsig=="),
            ir.BlockStop(0),
            ir.BlockStart(1, ir.Text("")),
            ir.TextDelta(1, "Checking "),
            ir.TextDelta(1, "both."),
            ir.BlockStop(1),
            ir.BlockStart(2, ir.ToolCall("call_w", "get_weather")),
            ir.ToolArgumentsDelta(2, '{"city"'),
            ir.ToolArgumentsDelta(2, ': "Paris"}'),
            ir.BlockStop(2),
            ir.BlockStart(3, ir.ToolCall("call_t", "get_time", '{"tz":')),
            ir.ToolArgumentsDelta(3, '"UTC"}'),
            ir.BlockStop(3),
            ir.ResponseEnd("tool_use", ir.Usage(input=100, output=42, reasoning=9)),
        ]
    )
    message = sdk_stream(raw)
    assert message.id.startswith("msg_")
    assert message.model == "claude-client"
    assert message.stop_reason == "tool_use"
    assert [b.to_dict() for b in message.content] == [
        {"type": "thinking", "thinking": "Two tools are needed.", "signature": "EqQBsig=="},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_t", "name": "get_time", "input": {"tz": "UTC"}},
    ]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (100, 42)


def test_foreign_reasoning_is_sealed_for_the_client() -> None:
    raw = encode(
        [
            ir.ResponseStart("resp_1", "gpt-5-codex"),
            ir.BlockStart(0, ir.Reasoning(origin="openai", id="rs_9")),
            ir.ReasoningDelta(0, "**Plan**"),
            ir.ReasoningSignature(0, encrypted_content="gAAAA-enc"),
            ir.BlockStop(0),
            ir.BlockStart(1, ir.Reasoning(origin="openai", id="rs_10")),  # no proof at all
            ir.BlockStop(1),
            ir.BlockStart(2, ir.Text("")),
            ir.TextDelta(2, "ok"),
            ir.BlockStop(2),
            ir.ResponseEnd("end_turn"),
        ]
    )
    message = sdk_stream(raw)
    sealed, bare, text = message.content
    assert sealed.type == "thinking"
    assert open_envelope(sealed.signature, text=sealed.thinking) == ir.Reasoning(
        "**Plan**", origin="openai", id="rs_9", encrypted_content="gAAAA-enc"
    )
    # An id alone still identifies the item: it is sealed too.
    assert bare.type == "thinking"
    assert open_envelope(bare.signature) == ir.Reasoning(origin="openai", id="rs_10")
    assert text.type == "text"
    # The client's next request carries the block back; the decoder restores the origin.
    request = codec.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [b.to_dict() for b in message.content]},
            ],
        }
    )
    assert request.messages[1].content[0] == ir.Reasoning(
        "**Plan**", origin="openai", id="rs_9", encrypted_content="gAAAA-enc"
    )


def test_interleaved_ir_blocks_are_serialised() -> None:
    """A Chat-like IR stream that opens blocks before stopping the previous ones."""
    events: list[ir.StreamEvent] = [
        ir.ResponseStart("x", "m"),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Hello "),
        ir.BlockStart(1, ir.ToolCall("call_a", "a")),
        ir.ToolArgumentsDelta(1, '{"x":'),
        ir.TextDelta(0, "world"),
        ir.BlockStart(2, ir.ToolCall("call_b", "b")),
        ir.ToolArgumentsDelta(2, '{"y":2}'),
        ir.ToolArgumentsDelta(1, "1}"),
        ir.BlockStop(0),
        ir.BlockStop(2),
        ir.BlockStop(1),
        ir.ResponseEnd("tool_use", ir.Usage(output=3)),
    ]
    raw = encode(events)
    wire = wire_events(raw)
    opened: list[int] = []
    current: int | None = None
    for name, payload in wire:
        if name == "content_block_start":
            assert current is None  # never two open blocks
            current = payload["index"]
            opened.append(payload["index"])
        elif name == "content_block_delta":
            assert payload["index"] == current
        elif name == "content_block_stop":
            assert payload["index"] == current
            current = None
    assert opened == [0, 1, 2]
    message = sdk_stream(raw)
    assert [b.to_dict() for b in message.content] == [
        {"type": "text", "text": "Hello world"},
        {"type": "tool_use", "id": "call_a", "name": "a", "input": {"x": 1}},
        {"type": "tool_use", "id": "call_b", "name": "b", "input": {"y": 2}},
    ]


def test_blocks_without_stops_are_closed_by_the_end() -> None:
    raw = encode(
        [
            ir.BlockStart(0, ir.Text("")),  # no ResponseStart: message_start is synthesised
            ir.TextDelta(0, "a"),
            ir.BlockStart(1, ir.Text("b")),
            ir.BlockStart(2, ir.Reasoning(origin="anthropic", redacted_data="R")),
            ir.ResponseEnd(None),
        ]
    )
    names = [name for name, _ in wire_events(raw)]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    message = sdk_stream(raw)
    assert [b.to_dict() for b in message.content] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
        {"type": "redacted_thinking", "data": "R"},
    ]
    assert message.stop_reason == "end_turn"


def test_stream_error_becomes_an_error_event_and_ends_the_stream() -> None:
    encoder = codec.stream_encoder(model="claude-client")
    head = encoder.encode(ir.ResponseStart("msg_1", "m"))
    head += encoder.encode(ir.BlockStart(0, ir.Text("")))
    head += encoder.encode(ir.TextDelta(0, "partial"))
    error = encoder.encode(ir.StreamError("overloaded_error", "Overloaded", 529))
    assert error == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
    assert encoder.encode(ir.BlockStop(0)) == b""
    assert encoder.encode(ir.ResponseEnd("end_turn")) == b""
    assert encoder.close() == b""
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_stream(head + error)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ir.StreamError("rate_limit_exceeded", "slow down"), "rate_limit_error"),
        (ir.StreamError("server_error", "oops"), "api_error"),
        (ir.StreamError("weird", "x", 429), "rate_limit_error"),
        (ir.StreamError("weird", "x", 503), "overloaded_error"),
        (ir.StreamError("weird", "x", 422), "invalid_request_error"),
        (ir.StreamError("weird", "x"), "api_error"),
        (ir.StreamError("permission_error", "no"), "permission_error"),
    ],
)
def test_foreign_error_types_are_mapped(error: ir.StreamError, expected: str) -> None:
    [(name, payload)] = wire_events(encode([error]))
    assert name == "error"
    assert payload == {"type": "error", "error": {"type": expected, "message": error.message}}


def test_close_without_an_end_writes_an_error() -> None:
    raw = encode(
        [ir.ResponseStart("msg_1", "m"), ir.BlockStart(0, ir.Text("")), ir.TextDelta(0, "x")]
    )
    last_name, last = wire_events(raw)[-1]
    assert last_name == "error"
    assert last["error"]["type"] == "api_error"
    assert b"message_stop" not in raw


def test_events_for_unknown_blocks_and_after_the_end_are_ignored() -> None:
    encoder = codec.stream_encoder(model="m")
    out = encoder.encode(ir.ResponseStart("msg_1", "m"))
    assert encoder.encode(ir.TextDelta(5, "stray")) == b""
    assert encoder.encode(ir.BlockStop(5)) == b""
    out += encoder.encode(ir.ResponseEnd("end_turn"))
    assert encoder.encode(ir.BlockStart(0, ir.Text("late"))) == b""
    assert encoder.encode(ir.StreamError("api_error", "late")) == b""
    assert encoder.close() == b""
    assert [n for n, _ in wire_events(out)] == ["message_start", "message_delta", "message_stop"]


def test_decode_tool_without_input_gets_empty_object_arguments() -> None:
    raw = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"TodoRead","input":{}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert decode_bytes(raw) == [
        ir.ResponseStart("msg_1", "m", ir.Usage(input=3, output=1)),
        ir.BlockStart(0, ir.ToolCall("toolu_1", "TodoRead")),
        ir.ToolArgumentsDelta(0, "{}"),
        ir.BlockStop(0),
        ir.ResponseEnd("tool_use", ir.Usage(input=3, output=9)),
    ]
