"""Stream conversion throughput: upstream SSE bytes → parser → decoder → IR → encoder → bytes."""

from __future__ import annotations

import time

from upstream import stream_events

from ccproxy.llm import ir
from ccproxy.llm.codec import get_codec
from ccproxy.llm.sse import SSEParser


def responses_stream_bytes(deltas: int) -> bytes:
    """A Responses-format stream of ``deltas`` text deltas and one tool call."""
    encoder = get_codec("responses").stream_encoder(model="gpt-bench")
    events: list[ir.StreamEvent] = [
        ir.ResponseStart("resp_bench", "gpt-bench", ir.Usage(input=10)),
        ir.BlockStart(0, ir.Text("")),
    ]
    events += [ir.TextDelta(0, f"word{i} ") for i in range(deltas)]
    events += [ir.BlockStop(0), ir.BlockStart(1, ir.ToolCall("call_1", "get_weather", ""))]
    events += [
        ir.ToolArgumentsDelta(1, '{"city":'),
        ir.ToolArgumentsDelta(1, '"Paris"}'),
        ir.BlockStop(1),
    ]
    events.append(ir.ResponseEnd("tool_use", ir.Usage(input=10, output=deltas)))
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def conversion_throughput(
    upstream: ir.WireFormat, client: ir.WireFormat, payload: bytes, rounds: int
) -> float:
    """Upstream SSE events converted per second, fed in 1 KiB chunks, on one core."""
    chunk_size = 1024
    chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)]
    events = 0
    started = time.perf_counter()
    for _ in range(rounds):
        parser = SSEParser()
        decoder = get_codec(upstream).stream_decoder()
        encoder = get_codec(client).stream_encoder(model="client-model")
        for chunk in chunks:
            for sse in parser.feed(chunk):
                events += 1
                for event in decoder.feed(sse):
                    encoder.encode(event)
        for event in decoder.close():
            encoder.encode(event)
        encoder.close()
    return events / (time.perf_counter() - started)


def bench_conversion(rounds: int) -> dict[str, float]:
    """Events/s for anthropic→chat, anthropic→responses and responses→anthropic."""
    anthropic_payload = b"".join(stream_events("claude-bench", 2000))
    responses_payload = responses_stream_bytes(2000)
    return {
        "anthropic→chat": conversion_throughput("anthropic", "chat", anthropic_payload, rounds),
        "anthropic→responses": conversion_throughput(
            "anthropic", "responses", anthropic_payload, rounds
        ),
        "responses→anthropic": conversion_throughput(
            "responses", "anthropic", responses_payload, rounds
        ),
    }
