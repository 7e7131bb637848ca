"""Round trips through the Responses codec: IR → encode → decode is the identity for the fields
the format holds (requests, responses, and streams cut into random chunks)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ccproxy.llm import ir
from ccproxy.llm.formats.responses import codec
from ccproxy.llm.sse import SSEParser

TRANSCRIPTS = Path(__file__).parent / "transcripts" / "responses"

texts = st.text(max_size=24)
words = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-", min_size=1, max_size=16
)
hexes = st.text(alphabet="0123456789abcdef", min_size=4, max_size=16)
details = st.sampled_from(["low", "high", "auto"])

images = st.one_of(
    st.builds(
        ir.Image,
        media_type=st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
        data=st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
            min_size=1,
            max_size=32,
        ),
        detail=details,
    ),
    st.builds(ir.Image, url=words.map(lambda w: f"https://example.com/{w}.png"), detail=details),
)
user_parts: st.SearchStrategy[list[ir.ContentPart]] = st.lists(
    st.one_of(st.builds(ir.Text, texts), images), min_size=1, max_size=4
)
reasoning_parts = st.builds(
    ir.Reasoning,
    text=texts,
    origin=st.just("openai"),
    encrypted_content=words.map(lambda w: "gAAAA" + w),
)
arguments = st.sampled_from(["", "{}", '{"a": 1}', '{"path": "/tmp/x", "n": [1, 2]}', '{"q": "☃"}'])
tool_calls = st.builds(ir.ToolCall, id=st.just(""), name=words, arguments=arguments)
results = st.lists(st.one_of(st.builds(ir.Text, texts), images), min_size=1, max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[ir.Message]:
    """Turns that a Responses body can hold; tool results answer the calls right before them."""
    messages = [ir.Message("user", draw(user_parts))]
    counter = 0
    for kind in draw(st.lists(st.sampled_from(["user", "developer", "exchange"]), max_size=6)):
        if kind == "user":
            messages.append(ir.Message("user", draw(user_parts)))
        elif kind == "developer":
            messages.append(
                ir.Message(
                    "developer", [ir.Text(t) for t in draw(st.lists(texts, min_size=1, max_size=2))]
                )
            )
        else:
            parts: list[ir.ContentPart] = draw(
                st.lists(
                    st.one_of(st.builds(ir.Text, texts), tool_calls, reasoning_parts),
                    min_size=1,
                    max_size=5,
                )
            )
            calls = [p for p in parts if isinstance(p, ir.ToolCall)]
            for call in calls:
                counter += 1
                call.id = f"call_{counter}"
            messages.append(ir.Message("assistant", parts))
            if calls:
                messages.append(
                    ir.Message("tool", [ir.ToolResult(c.id, draw(results)) for c in calls])
                )
    return messages


def merged(messages: list[ir.Message]) -> list[ir.Message]:
    """Adjacent assistant turns (and adjacent tool turns) are one run of items in Responses."""
    out: list[ir.Message] = []
    for message in messages:
        if out and message.role in ("assistant", "tool") and out[-1].role == message.role:
            out[-1] = ir.Message(message.role, [*out[-1].content, *message.content])
        else:
            out.append(ir.Message(message.role, list(message.content)))
    return out


efforts = st.sampled_from([None, "none", "minimal", "low", "medium", "high", "xhigh"])
reasoning_configs = st.builds(
    lambda effort, summary: ir.ReasoningConfig(
        enabled=effort != "none", effort=effort, summary=summary
    ),
    efforts,
    st.sampled_from([None, "auto", "concise", "detailed"]),
)
schemas = st.sampled_from(
    [{"type": "object"}, {"type": "object", "properties": {"a": {"type": "string"}}}]
)
response_formats = st.one_of(
    st.builds(ir.ResponseFormat, type=st.sampled_from(["text", "json_object"])),
    st.builds(
        ir.ResponseFormat,
        type=st.just("json_schema"),
        name=words,
        schema=schemas,
        strict=st.sampled_from([None, True, False]),
        description=st.one_of(st.none(), texts),
    ),
)
tools = st.builds(
    ir.Tool,
    name=words,
    description=st.one_of(st.none(), texts),
    parameters=schemas,
    strict=st.booleans(),
)
tool_choices = st.one_of(
    st.none(),
    st.builds(ir.ToolChoice, mode=st.sampled_from(["auto", "none", "required"])),
    st.builds(ir.ToolChoice, mode=st.just("tool"), name=words),
)
numbers = st.one_of(st.none(), st.floats(min_value=0, max_value=2, allow_nan=False))


@st.composite
def requests(draw: st.DrawFn) -> ir.Request:
    return ir.Request(
        model=draw(words),
        messages=draw(conversations()),
        system=draw(st.lists(texts.filter(bool).map(ir.Text), max_size=1)),
        tools=draw(st.lists(tools, max_size=3)),
        tool_choice=draw(tool_choices),
        parallel_tool_calls=draw(st.one_of(st.none(), st.booleans())),
        max_tokens=draw(st.one_of(st.none(), st.integers(1, 200_000))),
        temperature=draw(numbers),
        top_p=draw(numbers),
        stream=draw(st.booleans()),
        reasoning=draw(st.one_of(st.none(), reasoning_configs)),
        response_format=draw(st.one_of(st.none(), response_formats)),
        user=draw(st.one_of(st.none(), words)),
        prompt_cache_key=draw(st.one_of(st.none(), words)),
        previous_response_id=draw(st.one_of(st.none(), hexes.map(lambda h: "resp_" + h))),
    )


@given(requests())
@settings(max_examples=150)
def test_request_round_trip(request: ir.Request) -> None:
    decoded = codec.decode_request(codec.encode_request(request))
    # Only the fields this encoder adds on its own account come back in ``extra``.
    assert set(decoded.extra) <= {"include"}
    decoded.extra = {}
    expected = ir.Request(**{f: getattr(request, f) for f in request.__dataclass_fields__})
    expected.messages = merged(request.messages)
    assert decoded == expected


usages = st.builds(
    ir.Usage,
    input=st.integers(0, 10**6),
    output=st.integers(0, 10**5),
    cache_read=st.integers(0, 10**6),
    cache_write_5m=st.integers(0, 10**5),
    cache_write_1h=st.integers(0, 10**5),
    reasoning=st.integers(0, 10**4),
)
output_parts = st.one_of(
    st.builds(ir.Text, texts),
    st.builds(ir.ToolCall, id=words, name=words, arguments=arguments),
    st.builds(
        ir.Reasoning,
        text=texts,
        origin=st.just("openai"),
        encrypted_content=st.one_of(st.none(), words),
        id=hexes.map(lambda h: "rs_" + h),
    ),
    st.just(
        ir.Opaque("responses", {"id": "ws_1", "type": "web_search_call", "status": "completed"})
    ),
)


def stop_reasons(has_calls: bool) -> st.SearchStrategy[ir.StopReason]:
    """The stop reasons a Responses status can express for output with or without calls."""
    first: ir.StopReason = "tool_use" if has_calls else "end_turn"
    return st.sampled_from([first, "max_tokens", "content_filter"])


@st.composite
def responses(draw: st.DrawFn) -> ir.Response:
    content: list[ir.ContentPart] = list(draw(st.lists(output_parts, max_size=6)))
    has_calls = any(isinstance(p, ir.ToolCall) for p in content)
    stop = draw(stop_reasons(has_calls))
    return ir.Response(
        id="resp_" + draw(hexes),
        model=draw(words),
        content=content,
        stop_reason=stop,
        usage=draw(usages),
        created=draw(st.integers(1_600_000_000, 2_000_000_000)),
    )


@given(responses())
def test_response_round_trip(response: ir.Response) -> None:
    assert codec.decode_response(codec.encode_response(response, model=response.model)) == response


deltas = st.lists(st.text(min_size=1, max_size=12), max_size=4)


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[ir.StreamEvent]]:
    model = draw(words)
    events: list[ir.StreamEvent] = [ir.ResponseStart(id="resp_" + draw(hexes), model=model)]
    has_calls = False
    for index, kind in enumerate(
        draw(st.lists(st.sampled_from(["text", "tool", "reasoning"]), max_size=5))
    ):
        if kind == "text":
            events.append(ir.BlockStart(index, ir.Text("")))
            events += [ir.TextDelta(index, d) for d in draw(deltas)]
        elif kind == "tool":
            has_calls = True
            events.append(ir.BlockStart(index, ir.ToolCall(draw(words), draw(words))))
            events += [ir.ToolArgumentsDelta(index, d) for d in draw(deltas)]
        else:
            events.append(
                ir.BlockStart(index, ir.Reasoning(origin="openai", id="rs_" + draw(hexes)))
            )
            events += [ir.ReasoningDelta(index, d) for d in draw(deltas)]
            encrypted = draw(st.one_of(st.none(), words))
            if encrypted is not None:
                events.append(ir.ReasoningSignature(index, encrypted_content=encrypted))
        events.append(ir.BlockStop(index))
    if draw(st.booleans()):
        stop = draw(stop_reasons(has_calls))
        events.append(ir.ResponseEnd(stop, draw(usages)))
    else:
        error_type = draw(
            st.sampled_from(["overloaded_error", "rate_limit_error", "server_error", "api_error"])
        )
        events.append(ir.StreamError(error_type, draw(st.text(min_size=1, max_size=30))))
    return model, events


def feed_in_chunks(payload: bytes, cuts: list[int]) -> list[ir.StreamEvent]:
    parser, decoder = SSEParser(), codec.stream_decoder()
    out: list[ir.StreamEvent] = []
    bounds = sorted({min(c, len(payload)) for c in cuts})
    for start, end in zip([0, *bounds], [*bounds, len(payload)], strict=True):
        for event in parser.feed(payload[start:end]):
            out += decoder.feed(event)
    for event in parser.close():
        out += decoder.feed(event)
    return out + decoder.close()


@given(streams(), st.lists(st.integers(0, 5000), max_size=12))
@settings(max_examples=150)
def test_stream_round_trip_with_random_chunks(
    stream: tuple[str, list[ir.StreamEvent]], cuts: list[int]
) -> None:
    model, events = stream
    encoder = codec.stream_encoder(model=model)
    payload = b"".join(encoder.encode(e) for e in events) + encoder.close()
    assert feed_in_chunks(payload, cuts) == events


@given(st.lists(st.integers(0, 20000), max_size=30))
def test_upstream_transcript_decodes_the_same_in_any_chunks(cuts: list[int]) -> None:
    payload = (TRANSCRIPTS / "codex_upstream_stream.sse").read_bytes()
    assert feed_in_chunks(payload, cuts) == feed_in_chunks(payload, [])
