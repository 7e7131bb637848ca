"""A minimal Anthropic-shaped upstream for benchmarks (no checks: it measures the proxy, not itself).

Run: python bench/upstream.py PORT [EVENT_DELAY_SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _event(name: str, payload: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def stream_events(model: str, deltas: int) -> list[bytes]:
    events = [
        _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        ),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for i in range(deltas):
        events.append(
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f"word{i} "},
                },
            )
        )
    events += [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": deltas},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events


def create_upstream(event_delay: float = 0.0) -> Starlette:
    async def messages(request: Request) -> Response:
        body = json.loads(await request.body())
        deltas = int(request.headers.get("x-bench-deltas", "20"))
        delay = float(request.headers.get("x-bench-delay", event_delay))
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": [{"type": "text", "text": "ok"}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                }
            )
        events = stream_events(body.get("model", "bench"), deltas)

        async def body_iter() -> AsyncIterator[bytes]:
            for event in events:
                yield event
                if delay:
                    await asyncio.sleep(delay)

        return StreamingResponse(body_iter(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


if __name__ == "__main__":
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    uvicorn.run(
        create_upstream(delay), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
