"""The streaming relay plugins get from their context, and the opt-in request tracer."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
from fastapi import FastAPI, Request
from starlette.responses import StreamingResponse

from ccproxy.config import Settings
from ccproxy.logging import get_logger
from ccproxy.plugins import HookEvent, HookManager, HookPayload, ProviderStreamChunk
from ccproxy.proxy.streaming import StreamingHandler
from ccproxy.proxy.tracing import REDACTED, RequestTracer
from ccproxy.testing import LiveServer


def upstream_app(
    chunks: list[bytes],
    *,
    pause: float = 0.0,
    release: asyncio.Event | None = None,
    closed: asyncio.Event | None = None,
) -> FastAPI:
    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                for chunk in chunks:
                    yield chunk
                    await asyncio.sleep(pause)
                if release is not None:
                    await release.wait()
            finally:
                if closed is not None:
                    closed.set()

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


def proxy_app(upstream_url: str, handler: StreamingHandler, client: httpx.AsyncClient) -> FastAPI:
    app = FastAPI()

    @app.get("/relay")
    async def relay(request: Request) -> StreamingResponse:
        upstream = await client.send(
            client.build_request("GET", f"{upstream_url}/stream"), stream=True
        )
        return handler.relay(
            upstream, request_id="req-1", plugin="test", media_type="text/event-stream"
        )

    return app


async def test_relay_passes_bytes_through_unchanged_with_stream_hooks() -> None:
    chunks = [b'event: a\ndata: {"x": 1}\n\n', "data: é\n\n".encode(), b"data: [DONE]\n\n"]
    hooks = HookManager(get_logger("test"))
    seen: list[tuple[str, bytes | None]] = []

    class Recorder:
        name = "recorder"
        priority = 0
        events: ClassVar[list[HookEvent]] = [
            HookEvent.PROVIDER_STREAM_START,
            HookEvent.PROVIDER_STREAM_CHUNK,
            HookEvent.PROVIDER_STREAM_END,
        ]

        async def __call__(self, event: HookPayload) -> None:
            chunk = event.chunk if isinstance(event, ProviderStreamChunk) else None
            seen.append((event.kind.value, chunk))

    hooks.register(Recorder())
    handler = StreamingHandler(hooks)
    async with httpx.AsyncClient() as upstream_client, LiveServer(upstream_app(chunks)) as upstream:
        async with (
            LiveServer(proxy_app(upstream.url, handler, upstream_client)) as proxy,
            httpx.AsyncClient() as client,
        ):
            response = await client.get(f"{proxy.url}/relay")
    assert response.content == b"".join(chunks)
    assert seen[0] == ("provider.stream.start", None)
    assert seen[-1] == ("provider.stream.end", None)
    assert b"".join(
        chunk or b"" for event, chunk in seen if event == "provider.stream.chunk"
    ) == b"".join(chunks)


async def test_client_disconnect_closes_the_upstream_stream() -> None:
    release = asyncio.Event()
    upstream_closed = asyncio.Event()
    ended: list[BaseException | None] = []
    hooks = HookManager(get_logger("test"))
    handler = StreamingHandler(hooks)

    async def on_complete(error: BaseException | None) -> None:
        ended.append(error)

    app = FastAPI()
    async with (
        httpx.AsyncClient() as upstream_client,
        LiveServer(
            upstream_app([b"data: first\n\n"], release=release, closed=upstream_closed)
        ) as upstream,
    ):

        @app.get("/relay")
        async def relay() -> StreamingResponse:
            response = await upstream_client.send(
                upstream_client.build_request("GET", f"{upstream.url}/stream"), stream=True
            )
            return handler.relay(
                response, request_id="req_1", plugin="fake", on_complete=on_complete
            )

        async with LiveServer(app) as proxy, httpx.AsyncClient() as client:
            async with client.stream("GET", f"{proxy.url}/relay") as response:
                async for chunk in response.aiter_raw():
                    assert chunk == b"data: first\n\n"
                    break
            # The client has gone; the proxy must close its upstream connection without waiting
            # for the upstream to finish.
            await asyncio.wait_for(upstream_closed.wait(), timeout=5)
            for _ in range(100):
                if ended:
                    break
                await asyncio.sleep(0.02)
        release.set()
    assert len(ended) == 1


async def test_tracer_writes_redacted_transcript_with_private_mode(tmp_path: Path) -> None:
    tracer = RequestTracer(tmp_path / "traces")
    await tracer.trace(
        "req/../1",
        "client_request",
        method="POST",
        url="/claude/v1/messages",
        headers={
            "Authorization": "Bearer sk-ant-secret",
            "x-api-key": "k",
            "content-type": "application/json",
        },
        body=json.dumps(
            {"model": "m", "refresh_token": "rt-secret", "nested": {"access_token": "at"}}
        ).encode(),
    )
    await tracer.trace("req/../1", "client_response", status_code=200, body=b"not json")
    [path] = list((tmp_path / "traces").iterdir())
    assert path.parent == tmp_path / "traces"
    text = path.read_text()
    assert "sk-ant-secret" not in text and "rt-secret" not in text and '"at"' not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["headers"]["Authorization"] == REDACTED
    assert first["headers"]["content-type"] == "application/json"
    assert first["body"]["model"] == "m"
    assert first["body"]["nested"]["access_token"] == REDACTED
    assert second == {**second, "stage": "client_response", "status_code": 200, "body": "not json"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_tracer_is_off_without_a_directory(tmp_path: Path) -> None:
    tracer = RequestTracer(Settings().logging.trace_dir)
    assert tracer.enabled is False
    await tracer.trace("r", "client_request", body=b"{}")
    assert list(tmp_path.iterdir()) == []
