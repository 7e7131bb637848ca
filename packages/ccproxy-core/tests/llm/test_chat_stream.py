"""Chat Completions streams: the encoder checked chunk by chunk and by the openai SDK's own
accumulator, the decoder on OpenAI-shaped streams (errors, cuts), and IR round trips."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState

from ccproxy.llm import ir
from ccproxy.llm.collect import ResponseCollector
from ccproxy.llm.formats.chat import codec
from ccproxy.llm.sse import SSEEvent, SSEParser

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _encode(
    events: Iterable[ir.StreamEvent], *, include_usage: bool = False, model: str = "client-model"
) -> bytes:
    request = ir.Request(model=model, stream=True, include_usage=include_usage)
    encoder = codec.stream_encoder(model=model, request=request)
    return b"".join(encoder.encode(event) for event in events) + encoder.close()


def _client(body: bytes) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return openai.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def _sdk_accumulate(body: bytes) -> Any:
    """``create(stream=True)`` accumulated with the SDK's ``ChatCompletionStreamState``."""
    state = ChatCompletionStreamState()
    for chunk in _client(body).chat.completions.create(
        model="client-model", messages=MESSAGES, stream=True
    ):
        state.handle_chunk(chunk)
    return state.get_final_completion()


def _sdk_stream_helper(body: bytes) -> Any:
    """The ``.stream()`` helper's ``get_final_completion()``."""
    with _client(body).chat.completions.stream(model="client-model", messages=MESSAGES) as stream:
        return stream.get_final_completion()


def _chunks(body: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(body) + parser.close()


def _text_stream(stop: ir.StopReason = "end_turn") -> list[ir.StreamEvent]:
    return [
        ir.ResponseStart(id="msg_01", model="claude-upstream", usage=ir.Usage(input=3)),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "Hello, "),
        ir.TextDelta(0, "wörld ✓"),
        ir.BlockStop(0),
        ir.ResponseEnd(stop, ir.Usage(input=3, output=4)),
    ]


def _tool_stream(*, text: bool, calls: int) -> list[ir.StreamEvent]:
    events: list[ir.StreamEvent] = [ir.ResponseStart(id="resp_9", model="gpt-upstream")]
    index = 0
    if text:
        events += [ir.BlockStart(0, ir.Text("")), ir.TextDelta(0, "Checking."), ir.BlockStop(0)]
        index = 1
    for n in range(calls):
        events += [
            ir.BlockStart(index, ir.ToolCall(f"call_{n}", f"tool_{n}")),
            ir.ToolArgumentsDelta(index, '{"city": '),
            ir.ToolArgumentsDelta(index, f'"Paris {n}"'),
            ir.ToolArgumentsDelta(index, "}"),
            ir.BlockStop(index),
        ]
        index += 1
    events.append(ir.ResponseEnd("tool_use", ir.Usage(input=10, output=20)))
    return events


# --- encoder: exact chunks ----------------------------------------------------------------------


def test_encoder_chunks_are_spec_exact() -> None:
    body = _encode(_tool_stream(text=True, calls=2))
    assert b"event:" not in body
    assert body.endswith(b"data: [DONE]\n\n")
    chunks = _chunks(body)
    assert all(chunk.event is None for chunk in chunks)
    assert chunks[-1].data == "[DONE]"
    payloads = [chunk.json() for chunk in chunks[:-1]]
    ids = {p["id"] for p in payloads}
    assert len(ids) == 1
    assert next(iter(ids)).startswith("chatcmpl-")
    for payload in payloads:
        assert list(payload) == ["id", "object", "created", "model", "choices"]
        assert payload["object"] == "chat.completion.chunk"
        assert payload["model"] == "client-model"
        (choice,) = payload["choices"]
        assert list(choice) == ["index", "delta", "logprobs", "finish_reason"]
        assert choice["index"] == 0
        assert choice["logprobs"] is None
    deltas = [p["choices"][0]["delta"] for p in payloads]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"content": "Checking."}
    assert deltas[2] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_0",
                "type": "function",
                "function": {"name": "tool_0", "arguments": ""},
            }
        ]
    }
    assert deltas[3] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}
    assert deltas[6]["tool_calls"][0]["index"] == 1
    assert deltas[6]["tool_calls"][0]["id"] == "call_1"
    # Every chunk of the second call carries its own index 1 (not the IR block index 2).
    assert all(d["tool_calls"][0]["index"] == 1 for d in deltas[6:10])
    assert deltas[-1] == {}
    assert [p["choices"][0]["finish_reason"] for p in payloads] == [None] * 10 + ["tool_calls"]


def test_usage_chunk_when_requested() -> None:
    body = _encode(
        [
            *_text_stream()[:-1],
            ir.ResponseEnd("end_turn", ir.Usage(input=3, output=4, cache_read=10, reasoning=1)),
        ],
        include_usage=True,
    )
    chunks = _chunks(body)
    assert chunks[-1].data == "[DONE]"
    usage_chunk = chunks[-2].json()
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 13,
        "completion_tokens": 4,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    # With include_usage, every other chunk carries "usage": null (as OpenAI sends).
    assert all(chunk.json()["usage"] is None for chunk in chunks[:-2])
    assert chunks[-3].json()["choices"][0]["finish_reason"] == "stop"


def test_no_usage_chunk_by_default() -> None:
    payloads = [chunk.json() for chunk in _chunks(_encode(_text_stream()))[:-1]]
    assert all(p["choices"] and "usage" not in p for p in payloads)


def test_reasoning_deltas_and_no_proof() -> None:
    events: list[ir.StreamEvent] = [
        ir.ResponseStart(id="msg_1", model="x"),
        ir.BlockStart(0, ir.Reasoning(origin="anthropic")),
        ir.ReasoningDelta(0, "Let me think"),
        ir.ReasoningSignature(0, signature="SIGNATURE"),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.Reasoning(origin="anthropic", redacted_data="REDACTED")),
        ir.BlockStop(1),
        ir.BlockStart(2, ir.Text("")),
        ir.TextDelta(2, "Answer"),
        ir.BlockStop(2),
        ir.ResponseEnd("end_turn"),
    ]
    body = _encode(events)
    assert b"SIGNATURE" not in body
    assert b"REDACTED" not in body
    deltas = [chunk.json()["choices"][0]["delta"] for chunk in _chunks(body)[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me think"},
        {"content": "Answer"},
        {},
    ]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reason_mapping(stop: ir.StopReason, finish: str) -> None:
    payloads = [chunk.json() for chunk in _chunks(_encode(_text_stream(stop)))[:-1]]
    assert payloads[-1]["choices"][0]["finish_reason"] == finish


def test_missing_response_start_still_opens_stream() -> None:
    body = _encode(_text_stream()[1:])
    first = _chunks(body)[0].json()
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["id"].startswith("chatcmpl-")
    assert _sdk_accumulate(body).choices[0].message.content == "Hello, wörld ✓"


# --- encoder: the SDK's parser ------------------------------------------------------------------


@pytest.mark.parametrize("accumulate", [_sdk_accumulate, _sdk_stream_helper])
def test_sdk_text_only(accumulate: Any) -> None:
    completion = accumulate(_encode(_text_stream()))
    assert completion.model == "client-model"
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Hello, wörld ✓"
    assert not message.tool_calls
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("accumulate", [_sdk_accumulate, _sdk_stream_helper])
def test_sdk_one_tool_call(accumulate: Any) -> None:
    completion = accumulate(_encode(_tool_stream(text=False, calls=1)))
    message = completion.choices[0].message
    assert message.content == ""
    (call,) = message.tool_calls
    assert call.id == "call_0"
    assert call.type == "function"
    assert call.function.name == "tool_0"
    assert json.loads(call.function.arguments) == {"city": "Paris 0"}
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("accumulate", [_sdk_accumulate, _sdk_stream_helper])
def test_sdk_parallel_tool_calls_after_text(accumulate: Any) -> None:
    completion = accumulate(_encode(_tool_stream(text=True, calls=2)))
    message = completion.choices[0].message
    assert message.content == "Checking."
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
    ] == [
        ("call_0", "tool_0", {"city": "Paris 0"}),
        ("call_1", "tool_1", {"city": "Paris 1"}),
    ]


@pytest.mark.parametrize("accumulate", [_sdk_accumulate, _sdk_stream_helper])
def test_sdk_usage_chunk(accumulate: Any) -> None:
    events = _tool_stream(text=True, calls=2)
    events[-1] = ir.ResponseEnd(
        "tool_use", ir.Usage(input=10, output=20, cache_read=5, reasoning=3)
    )
    completion = accumulate(_encode(events, include_usage=True))
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 15
    assert completion.usage.completion_tokens == 20
    assert completion.usage.total_tokens == 35
    assert completion.usage.prompt_tokens_details.cached_tokens == 5
    assert completion.usage.completion_tokens_details.reasoning_tokens == 3
    assert len(completion.choices[0].message.tool_calls) == 2


def test_sdk_length_finish_reason() -> None:
    # The SDK's parse step (get_final_completion) raises on "length" by design; the accumulated
    # snapshot still holds the truncated text.
    state = ChatCompletionStreamState()
    body = _encode(_text_stream("max_tokens"))
    for chunk in _client(body).chat.completions.create(model="m", messages=MESSAGES, stream=True):
        state.handle_chunk(chunk)
    snapshot = state.current_completion_snapshot
    assert snapshot.choices[0].message.content == "Hello, wörld ✓"
    assert snapshot.choices[0].finish_reason == "length"
    with pytest.raises(openai.LengthFinishReasonError):
        state.get_final_completion()


def test_sdk_strict_tool_arguments_are_parsed() -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "tool_0",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
    ]
    body = _encode(_tool_stream(text=False, calls=1))
    with _client(body).chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.tool_calls[0].function.parsed_arguments == {
        "city": "Paris 0"
    }


def test_sdk_raises_on_stream_error_and_no_done() -> None:
    events = [
        *_text_stream()[:3],
        ir.StreamError(type="overloaded_error", message="Overloaded", status_code=529),
        ir.TextDelta(1, "ignored after the error"),
        ir.ResponseEnd("end_turn"),
    ]
    body = _encode(events)
    assert b"[DONE]" not in body
    assert b"ignored" not in body
    last = _chunks(body)[-1].json()
    assert last == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": "529"}
    }
    stream = _client(body).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received: list[str] = []

    def consume() -> None:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as caught:
        consume()
    assert caught.value.message == "Overloaded"
    assert "".join(received) == "Hello, "
    with pytest.raises(openai.APIError):
        _sdk_stream_helper(body)


def test_encoder_close_without_end_reports_an_error() -> None:
    body = _encode(_text_stream()[:3])
    assert b"[DONE]" not in body
    assert "error" in _chunks(body)[-1].json()


def test_encoders_are_independent() -> None:
    first = codec.stream_encoder(model="a")
    second = codec.stream_encoder(model="b")
    first.encode(ir.ResponseStart(id="x", model="u"))
    first.encode(ir.BlockStart(0, ir.ToolCall("c", "f")))
    out = second.encode(ir.ResponseStart(id="y", model="u")) + second.encode(
        ir.BlockStart(0, ir.ToolCall("d", "g"))
    )
    assert [
        c.json()["choices"][0]["delta"].get("tool_calls", [{}])[0].get("index")
        for c in _chunks(out)
    ] == [None, 0]


# --- decoder ------------------------------------------------------------------------------------

# An OpenAI-shaped stream: role chunk with null content and refusal, text, two parallel calls,
# a finish chunk, then the usage chunk and [DONE].
OPENAI_STREAM = b"""data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"On it."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"a","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"x\\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"b","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

"""


def _decode(body: bytes, splits: Iterable[int] = ()) -> list[ir.StreamEvent]:
    parser = SSEParser()
    decoder = codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    position = 0
    for cut in [*sorted(splits), len(body)]:
        for sse in parser.feed(body[position:cut]):
            events += decoder.feed(sse)
        position = cut
    for sse in parser.close():
        events += decoder.feed(sse)
    return events + decoder.close()


def test_decode_openai_stream() -> None:
    assert _decode(OPENAI_STREAM) == [
        ir.ResponseStart(id="chatcmpl-9", model="gpt-4o"),
        ir.BlockStart(0, ir.Text("")),
        ir.TextDelta(0, "On it."),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.ToolCall("call_A", "a")),
        ir.ToolArgumentsDelta(1, '{"x":'),
        ir.ToolArgumentsDelta(1, "1}"),
        ir.BlockStop(1),
        ir.BlockStart(2, ir.ToolCall("call_B", "b")),
        ir.ToolArgumentsDelta(2, "{}"),
        ir.BlockStop(2),
        ir.ResponseEnd("tool_use", ir.Usage(input=30, output=9, cache_read=20)),
    ]


def test_decoded_stream_collects_into_response() -> None:
    collector = ResponseCollector()
    for event in _decode(OPENAI_STREAM):
        collector.feed(event)
    response = collector.response()
    assert response.content == [
        ir.Text("On it."),
        ir.ToolCall("call_A", "a", '{"x":1}'),
        ir.ToolCall("call_B", "b", "{}"),
    ]
    assert response.stop_reason == "tool_use"


def test_decode_mid_stream_error_chunk() -> None:
    cut = OPENAI_STREAM.index(b"data: {", OPENAI_STREAM.index(b"On it."))
    body = (
        OPENAI_STREAM[:cut]
        + b'data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}\n\n'
    )
    events = _decode(body)
    assert events[-1] == ir.StreamError(type="server_error", message="The server had an error")
    assert not any(isinstance(event, ir.ResponseEnd) for event in events)


def test_decode_cut_stream() -> None:
    body = OPENAI_STREAM[: OPENAI_STREAM.index(b"data: [DONE]")]
    events = _decode(body)
    assert isinstance(events[-1], ir.StreamError)
    assert not any(isinstance(event, ir.ResponseEnd) for event in events)


def test_decode_invalid_json() -> None:
    decoder = codec.stream_decoder()
    assert isinstance(decoder.feed(SSEEvent(data="{nope"))[0], ir.StreamError)
    assert decoder.feed(SSEEvent(data="[DONE]")) == []
    assert decoder.close() == []


def test_decode_reasoning_content() -> None:
    body = (
        b"".join(
            b"data: "
            + json.dumps(
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta}]}
            ).encode()
            + b"\n\n"
            for delta in [
                {"role": "assistant"},
                {"reasoning_content": "think"},
                {"reasoning_content": "ing"},
                {"content": "ok"},
            ]
        )
        + b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    assert _decode(body) == [
        ir.ResponseStart(id="c", model="m"),
        ir.BlockStart(0, ir.Reasoning()),
        ir.ReasoningDelta(0, "think"),
        ir.ReasoningDelta(0, "ing"),
        ir.BlockStop(0),
        ir.BlockStart(1, ir.Text("")),
        ir.TextDelta(1, "ok"),
        ir.BlockStop(1),
        ir.ResponseEnd("end_turn", ir.Usage()),
    ]


# --- round trip ---------------------------------------------------------------------------------

_piece = st.text(min_size=1, max_size=12)


@st.composite
def _ir_streams(draw: st.DrawFn) -> tuple[list[ir.StreamEvent], bool]:
    include_usage = draw(st.booleans())
    events: list[ir.StreamEvent] = [ir.ResponseStart(id="chatcmpl-rt", model="client-model")]
    previous = ""
    calls = 0
    for index in range(draw(st.integers(0, 5))):
        # Chat has no block boundaries: adjacent text (or reasoning) blocks would merge.
        kinds = [k for k in ("text", "reasoning", "tool") if k == "tool" or k != previous]
        kind = draw(st.sampled_from(kinds))
        previous = kind
        if kind == "tool":
            events.append(ir.BlockStart(index, ir.ToolCall(f"call_{index}", draw(_piece))))
            events += [ir.ToolArgumentsDelta(index, p) for p in draw(st.lists(_piece, max_size=4))]
            calls += 1
        else:
            part: ir.Text | ir.Reasoning = ir.Text("") if kind == "text" else ir.Reasoning()
            delta = ir.TextDelta if kind == "text" else ir.ReasoningDelta
            events.append(ir.BlockStart(index, part))
            events += [delta(index, p) for p in draw(st.lists(_piece, min_size=1, max_size=4))]
        events.append(ir.BlockStop(index))
    if draw(st.booleans()):
        # Chat cannot say a block ended before a failure: the error arrives mid-block.
        if isinstance(events[-1], ir.BlockStop):
            events.pop()
        events.append(
            ir.StreamError(
                type=draw(st.sampled_from(["api_error", "overloaded_error"])),
                message=draw(_piece),
                status_code=draw(st.none() | st.sampled_from([500, 529])),
            )
        )
        return events, include_usage
    stop = draw(
        st.sampled_from(
            ["end_turn", "max_tokens", "content_filter", *(["tool_use"] if calls else [])]
        )
    )
    usage = ir.Usage()
    if include_usage:
        usage = draw(
            st.builds(
                ir.Usage,
                input=st.integers(0, 10**5),
                output=st.integers(0, 10**5),
                cache_read=st.integers(0, 10**5),
                cache_write_5m=st.integers(0, 10**5),
                reasoning=st.integers(0, 10**5),
            )
        )
    events.append(ir.ResponseEnd(stop, usage))
    return events, include_usage


@settings(max_examples=200)
@given(stream=_ir_streams(), data=st.data())
def test_stream_round_trip_with_random_splits(
    stream: tuple[list[ir.StreamEvent], bool], data: st.DataObject
) -> None:
    events, include_usage = stream
    body = _encode(events, include_usage=include_usage)
    splits = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    assert _decode(body, splits) == events
