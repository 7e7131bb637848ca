"""A minimal Anthropic-shaped upstream for benchmarks (no checks: it measures the proxy, not itself).

Run: python bench/upstream.py PORT [--delay SECONDS] [--certfile CHAIN.pem --keyfile KEY.pem]

With a certificate it serves HTTPS, as the production upstreams do; without, plain HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def _event(name: str, payload: dict[str, Any]) -> bytes:
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
    """The upstream app: ``POST /v1/messages``, streaming when the body asks for it.

    ``x-bench-deltas`` sets a stream's number of text deltas (20), ``x-bench-delay`` the seconds
    between its events. Replies are built once per model and size, so the upstream's own cost
    per request stays small next to the proxy's.
    """

    @lru_cache(maxsize=64)
    def stream(model: str, deltas: int) -> tuple[bytes, ...]:
        return tuple(stream_events(model, deltas))

    @lru_cache(maxsize=64)
    def message(model: str | None) -> bytes:
        return json.dumps(
            {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
            separators=(",", ":"),
        ).encode()

    async def messages(request: Request) -> Response:
        body = json.loads(await request.body())
        model = body.get("model")
        if not body.get("stream"):
            return Response(message(model), media_type="application/json")
        deltas = int(request.headers.get("x-bench-deltas", "20"))
        delay = float(request.headers.get("x-bench-delay", event_delay))
        events = stream(model or "bench", deltas)

        async def body_iter() -> AsyncIterator[bytes]:
            for event in events:
                yield event
                if delay:
                    await asyncio.sleep(delay)

        return StreamingResponse(body_iter(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between stream events")
    parser.add_argument("--certfile", help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--keyfile", help="PEM private key of --certfile")
    args = parser.parse_args()
    uvicorn.run(
        create_upstream(args.delay),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
    )


if __name__ == "__main__":
    main()
