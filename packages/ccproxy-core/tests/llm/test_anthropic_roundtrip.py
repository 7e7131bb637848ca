"""Property tests: IR → Anthropic → IR is the identity for what the Anthropic format holds.

Requests (``encode_request`` → ``decode_request``), responses (``encode_response`` →
``decode_response``) and streams (IR events → encoder → bytes cut at random → ``SSEParser`` →
decoder). Strategies stay inside what the format expresses without loss (see the modules'
"Lossy mappings"): e.g. strictly alternating turns, results right after their calls.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ccproxy.llm import ir
from ccproxy.llm.collect import ResponseCollector
from ccproxy.llm.formats.anthropic import codec
from ccproxy.llm.sse import SSEParser

IDENT = string.ascii_letters + string.digits + "_-"
B64 = string.ascii_letters + string.digits + "+/="

texts = st.text(min_size=1, max_size=40)
maybe_text = st.text(max_size=40)
idents = st.text(IDENT, min_size=1, max_size=24)
cache_controls = (
    st.none() | st.just({"type": "ephemeral"}) | st.just({"type": "ephemeral", "ttl": "1h"})
)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | texts
json_objects = st.dictionaries(
    st.text(max_size=8), json_scalars | st.lists(json_scalars, max_size=3), max_size=4
)
signatures = st.text(B64, min_size=1, max_size=60)
anthropic_efforts = st.sampled_from(["low", "medium", "high", "max"])
stop_reasons = st.sampled_from(
    ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]
)
counts = st.integers(0, 10**6)


def arguments(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@st.composite
def text_parts(draw: st.DrawFn) -> ir.Text:
    return ir.Text(draw(texts), draw(cache_controls))


@st.composite
def images(draw: st.DrawFn) -> ir.Image:
    if draw(st.booleans()):
        media = draw(st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"]))
        return ir.Image(media_type=media, data=draw(st.text(B64, min_size=4, max_size=40)))
    return ir.Image(url="https://example.test/" + draw(idents) + ".png")


@st.composite
def anthropic_reasoning(draw: st.DrawFn) -> ir.Reasoning:
    if draw(st.booleans()):
        return ir.Reasoning(draw(maybe_text), origin="anthropic", signature=draw(signatures))
    return ir.Reasoning(origin="anthropic", redacted_data=draw(signatures))


@st.composite
def tool_calls(draw: st.DrawFn, used: set[str]) -> ir.ToolCall:
    call_id = draw(idents.filter(lambda i: i not in used))
    used.add(call_id)
    return ir.ToolCall(call_id, draw(idents), arguments(draw(json_objects)))


@st.composite
def requests(draw: st.DrawFn) -> ir.Request:
    used: set[str] = set()
    messages: list[ir.Message] = []
    pending: list[ir.ToolCall] = []
    for turn in range(draw(st.integers(1, 6))):
        if turn % 2 == 0:
            content: list[ir.ContentPart] = []
            for call in pending:
                result: list[ir.Text | ir.Image] = draw(
                    st.lists(text_parts() | images(), max_size=2)
                )
                content.append(ir.ToolResult(call.id, result, is_error=draw(st.booleans())))
            extra = draw(
                st.lists(
                    text_parts()
                    | images()
                    | st.just(
                        ir.Opaque(
                            "anthropic",
                            {"type": "document", "source": {"type": "text", "data": "d"}},
                        )
                    ),
                    min_size=0 if content else 1,
                    max_size=3,
                )
            )
            messages.append(ir.Message("user", [*content, *extra]))
            pending = []
        else:
            content = []
            if draw(st.booleans()):
                content.append(draw(anthropic_reasoning()))
            content.extend(draw(st.lists(text_parts(), max_size=2)))
            pending = [draw(tool_calls(used)) for _ in range(draw(st.integers(0, 3)))]
            content.extend(pending)
            if not content:
                content.append(ir.Text("ok"))
            messages.append(ir.Message("assistant", content))

    tools = [
        ir.Tool(
            name,
            draw(st.none() | texts),
            {
                "type": "object",
                "properties": {k: {"type": "string"} for k in draw(st.lists(idents, max_size=3))},
            },
            cache_control=draw(cache_controls),
        )
        for name in draw(st.lists(idents, max_size=3, unique=True))
    ]
    tool_choice: ir.ToolChoice | None = None
    parallel: bool | None = None
    if tools:
        tool_choice = draw(
            st.none()
            | st.sampled_from(
                [ir.ToolChoice("auto"), ir.ToolChoice("required"), ir.ToolChoice("none")]
            )
            | st.sampled_from([ir.ToolChoice("tool", t.name) for t in tools])
        )
        if tool_choice is not None and tool_choice.mode != "none":
            parallel = draw(st.none() | st.booleans())

    max_tokens = draw(st.integers(2048, 128000))
    reasoning = draw(
        st.none()
        | st.builds(
            ir.ReasoningConfig, enabled=st.just(False), effort=st.none() | anthropic_efforts
        )
        | st.builds(
            ir.ReasoningConfig, adaptive=st.just(True), effort=st.none() | anthropic_efforts
        )
        | st.builds(
            ir.ReasoningConfig,
            budget_tokens=st.integers(1024, max_tokens - 1),
            effort=st.none() | anthropic_efforts,
        )
    )
    thinking_on = reasoning is not None and reasoning.enabled
    temperature = draw(st.none() | st.floats(0, 1))
    top_p = draw(st.none() | st.floats(0, 1))
    if thinking_on:
        # What Anthropic accepts with thinking on (other values are dropped: lossy by design).
        if tool_choice is not None and tool_choice.mode in ("required", "tool"):
            tool_choice = ir.ToolChoice("auto")
        temperature = None if temperature is None else 1.0
        top_p = None if top_p is None else max(top_p, 0.95)
        last = next((m for m in reversed(messages) if m.role == "assistant"), None)
        calls_tools = last is not None and any(isinstance(p, ir.ToolCall) for p in last.content)
        if last is not None and calls_tools and not isinstance(last.content[0], ir.Reasoning):
            last.content.insert(0, ir.Reasoning("t", origin="anthropic", signature="sig"))
    schema = draw(st.none() | st.just({"type": "object", "properties": {"a": {"type": "string"}}}))
    return ir.Request(
        model=draw(idents),
        messages=messages,
        system=draw(st.lists(text_parts(), max_size=3)),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=draw(st.lists(texts, max_size=3)),
        stream=draw(st.booleans()),
        reasoning=reasoning,
        response_format=None if schema is None else ir.ResponseFormat("json_schema", schema=schema),
        user=draw(st.none() | idents),
    )


@given(requests())
def test_request_round_trip(request: ir.Request) -> None:
    body = codec.encode_request(request)
    assert json.loads(json.dumps(body)) == body  # plain JSON
    assert codec.decode_request(body) == request


# --- responses -----------------------------------------------------------------------------

usages = st.builds(
    ir.Usage,
    input=counts,
    output=counts,
    cache_read=counts,
    cache_write_5m=counts,
    cache_write_1h=counts,
    reasoning=counts,
)


@st.composite
def response_parts(draw: st.DrawFn, *, foreign: bool) -> list[ir.ContentPart]:
    used: set[str] = set()
    parts: list[ir.ContentPart] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(
            st.sampled_from(
                ["text", "tool", "reasoning", "foreign"]
                if foreign
                else ["text", "tool", "reasoning"]
            )
        )
        if kind == "text":
            parts.append(ir.Text(draw(texts)))
        elif kind == "tool":
            parts.append(draw(tool_calls(used)))
        elif kind == "reasoning":
            parts.append(draw(anthropic_reasoning()))
        else:
            parts.append(
                ir.Reasoning(
                    draw(maybe_text),
                    origin="openai",
                    id=draw(st.none() | st.just("rs_").map(lambda p: p + "1")),
                    encrypted_content=draw(signatures),
                )
            )
    return parts


@given(
    response_parts(foreign=True),
    stop_reasons,
    st.none() | texts,
    usages,
    st.text(string.hexdigits, min_size=4, max_size=24),
    idents,
)
def test_response_round_trip(
    content: list[ir.ContentPart],
    stop: ir.StopReason,
    stop_sequence: str | None,
    usage: ir.Usage,
    suffix: str,
    model: str,
) -> None:
    response = ir.Response(
        id="msg_" + suffix,
        model="upstream",
        content=content,
        stop_reason=stop,
        stop_sequence=stop_sequence,
        usage=usage,
    )
    body = codec.encode_response(response, model=model)
    assert codec.decode_response(body) == ir.Response(
        id=response.id,
        model=model,
        content=content,
        stop_reason=stop,
        stop_sequence=stop_sequence,
        usage=usage,
    )


# --- streams -------------------------------------------------------------------------------


@st.composite
def pieces(draw: st.DrawFn, whole: str) -> list[str]:
    """``whole`` cut into non-empty pieces."""
    if not whole:
        return []
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(whole) - 1)), max_size=4))))
    cuts = [c for c in cuts if 0 < c < len(whole)]
    return [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]


@st.composite
def block_events(draw: st.DrawFn, index: int, part: ir.ContentPart) -> list[ir.StreamEvent]:
    events: list[ir.StreamEvent]
    if isinstance(part, ir.Text):
        events = [ir.BlockStart(index, ir.Text(""))]
        events += [ir.TextDelta(index, p) for p in draw(pieces(part.text))]
    elif isinstance(part, ir.ToolCall):
        events = [ir.BlockStart(index, ir.ToolCall(part.id, part.name))]
        events += [ir.ToolArgumentsDelta(index, p) for p in draw(pieces(part.arguments))]
    else:
        assert isinstance(part, ir.Reasoning)
        if part.redacted_data is not None:
            events = [
                ir.BlockStart(
                    index, ir.Reasoning(origin="anthropic", redacted_data=part.redacted_data)
                )
            ]
        else:
            events = [ir.BlockStart(index, ir.Reasoning(origin="anthropic"))]
            events += [ir.ReasoningDelta(index, p) for p in draw(pieces(part.text))]
            events.append(ir.ReasoningSignature(index, signature=part.signature))
    return [*events, ir.BlockStop(index)]


@st.composite
def chunkings(draw: st.DrawFn) -> list[int]:
    return draw(st.lists(st.integers(1, 64), min_size=1, max_size=50))


def decode_chunked(raw: bytes, sizes: list[int]) -> list[ir.StreamEvent]:
    parser = SSEParser()
    decoder = codec.stream_decoder()
    events: list[ir.StreamEvent] = []
    position, turn = 0, 0
    while position < len(raw):
        size = sizes[turn % len(sizes)]
        turn += 1
        for sse in parser.feed(raw[position : position + size]):
            events.extend(decoder.feed(sse))
        position += size
    for sse in parser.close():
        events.extend(decoder.feed(sse))
    return events + decoder.close()


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[ir.StreamEvent], list[list[ir.StreamEvent]], ir.Usage]:
    content = draw(response_parts(foreign=False))
    start = ir.Usage(
        input=draw(counts),
        output=draw(st.integers(0, 5)),
        cache_read=draw(counts),
        cache_write_5m=draw(counts),
        cache_write_1h=draw(counts),
    )
    end = ir.Usage(
        input=start.input,
        output=start.output + draw(counts),  # cumulative, as upstreams count
        cache_read=start.cache_read,
        cache_write_5m=start.cache_write_5m,
        cache_write_1h=start.cache_write_1h,
        reasoning=draw(counts),
    )
    head: list[ir.StreamEvent] = [ir.ResponseStart("msg_" + draw(idents), "upstream", start)]
    blocks = [draw(block_events(i, part)) for i, part in enumerate(content)]
    return head, blocks, end


@given(streams(), stop_reasons, chunkings(), idents)
def test_stream_round_trip(
    stream: tuple[list[ir.StreamEvent], list[list[ir.StreamEvent]], ir.Usage],
    stop: ir.StopReason,
    sizes: list[int],
    model: str,
) -> None:
    head, blocks, end_usage = stream
    events = head + [e for block in blocks for e in block] + [ir.ResponseEnd(stop, end_usage)]
    encoder = codec.stream_encoder(model=model)
    raw = b"".join(encoder.encode(e) for e in events) + encoder.close()
    start = head[0]
    assert isinstance(start, ir.ResponseStart)
    expected = [ir.ResponseStart(start.id, model, start.usage), *events[1:]]
    assert decode_chunked(raw, sizes) == expected


@given(streams(), st.randoms(use_true_random=False), chunkings())
def test_interleaved_stream_keeps_every_block(
    stream: tuple[list[ir.StreamEvent], list[list[ir.StreamEvent]], ir.Usage],
    rng: Any,
    sizes: list[int],
) -> None:
    """Blocks start in index order but their deltas and stops interleave arbitrarily: the encoder
    still writes one block at a time and the client gets every block whole."""
    head, blocks, end_usage = stream
    queues = [list(block) for block in blocks]
    interleaved: list[ir.StreamEvent] = []
    started = 0
    while any(queues):
        # The next block may start only after the previous one started.
        ready = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        choice = rng.choice(ready)
        if choice == started:
            started += 1
        interleaved.append(queues[choice].pop(0))
    if rng.random() < 0.5:  # sometimes no stops at all before the end
        interleaved = [e for e in interleaved if not isinstance(e, ir.BlockStop)]
    events = head + interleaved + [ir.ResponseEnd("end_turn", end_usage)]
    encoder = codec.stream_encoder(model="m")
    raw = b"".join(encoder.encode(e) for e in events) + encoder.close()

    parser = SSEParser()
    open_index: int | None = None
    next_index = 0
    for sse in [*parser.feed(raw), *parser.close()]:
        payload = json.loads(sse.data)
        if sse.event == "content_block_start":
            assert open_index is None
            assert payload["index"] == next_index
            open_index, next_index = next_index, next_index + 1
        elif sse.event in ("content_block_delta", "content_block_stop"):
            assert payload["index"] == open_index
            if sse.event == "content_block_stop":
                open_index = None
    assert open_index is None

    original, decoded = ResponseCollector(), ResponseCollector()
    for event in head + [e for block in blocks for e in block]:
        original.feed(event)
    for event in decode_chunked(raw, sizes):
        decoded.feed(event)
    assert decoded.response().content == original.response().content
