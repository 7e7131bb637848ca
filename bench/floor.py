"""The stack floor: the least a proxy built on ccproxy's stack can do, as a bench column.

Run: python bench/floor.py PORT UPSTREAM_BASE_URL

uvicorn on uvloop and httptools (what ``ccproxy serve`` runs on), one Starlette route and one
httpx client with the pool size ccproxy defaults to. ``POST /v1/messages`` is sent upstream as it
came (body unread as JSON, the Anthropic and ``x-bench-*`` headers passed on) and the answer is
relayed as bytes: no parsing, credentials, checks, hooks, logging or middleware. What ccproxy
adds on top of this column is ccproxy's own cost; what this column adds to direct is the stack's.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

#: Client headers the upstream needs (the bench's requests carry nothing else that matters).
PASSED_ON = ("content-type", "anthropic-version", "x-bench-delay", "x-bench-deltas")


def build_app(upstream: str) -> Starlette:
    """The floor's app, relaying ``POST /v1/messages`` to ``upstream``."""
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    client = httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(10.0, read=600.0, write=600.0, pool=30.0),
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
    )

    async def messages(request: Request) -> Response:
        headers = {name: value for name in PASSED_ON if (value := request.headers.get(name))}
        outgoing = client.build_request(
            "POST", f"{upstream}/v1/messages", content=await request.body(), headers=headers
        )
        answer = await client.send(outgoing, stream=True)
        media_type = answer.headers.get("content-type")
        if media_type and media_type.startswith("text/event-stream"):
            return StreamingResponse(
                answer.aiter_raw(),
                answer.status_code,
                media_type=media_type,
                background=BackgroundTask(answer.aclose),
            )
        body = await answer.aread()
        return Response(body, answer.status_code, media_type=media_type)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "pass"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    return Starlette(
        routes=[Route("/v1/messages", messages, methods=["POST"]), Route("/", health)],
        lifespan=lifespan,
    )


def main(argv: list[str]) -> None:
    port, upstream = int(argv[0]), argv[1].rstrip("/")
    uvicorn.run(
        build_app(upstream),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
