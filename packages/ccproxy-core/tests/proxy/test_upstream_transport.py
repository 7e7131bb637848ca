"""Upstream transport failures through the app, with the real upstream client on loopback:
a full connection pool is a 503 with ``retry-after``, a request the upstream swallowed is a 502
and is never sent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from provider_kit import ListTokenSource, provider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from ccproxy.config import HttpSettings, Settings
from ccproxy.testing import LiveServer, app_client, started_app

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
CHAT = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]}
ANSWER = (
    b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-6",'
    b'"content":[{"type":"text","text":"held"}],"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}'
)


def settings(**http: object) -> Settings:
    return Settings(plugins_disable_local_discovery=True, http=HttpSettings(**http))  # type: ignore[arg-type]


def held_upstream(arrived: asyncio.Event, release: asyncio.Event) -> Starlette:
    """An upstream whose answer ends only once ``release`` is set."""

    async def messages(request: Request) -> StreamingResponse:
        await request.body()
        arrived.set()

        async def body() -> AsyncIterator[bytes]:
            yield ANSWER[:10]
            await release.wait()
            yield ANSWER[10:]

        return StreamingResponse(body(), media_type="application/json")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


async def test_a_full_pool_answers_503_with_retry_after_in_both_dialects() -> None:
    arrived, release = asyncio.Event(), asyncio.Event()
    async with LiveServer(held_upstream(arrived, release)) as upstream:
        entry = provider(base_url=upstream.url, token_source=ListTokenSource("tok"))
        async with (
            started_app(
                settings(max_connections=1, pool_timeout_seconds=0.2), entry_points=[entry]
            ) as app,
            app_client(app, timeout=10) as client,
        ):
            holder = asyncio.create_task(
                client.post("/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS)
            )
            await asyncio.wait_for(arrived.wait(), 5)
            anthropic_style = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
            openai_style = await client.post("/testprov/v1/chat/completions", json=CHAT)
            release.set()
            held = await asyncio.wait_for(holder, 5)

    assert held.status_code == 200
    assert held.json()["content"][0]["text"] == "held"
    assert anthropic_style.status_code == openai_style.status_code == 503
    assert anthropic_style.headers["retry-after"] == openai_style.headers["retry-after"] == "1"
    assert anthropic_style.json()["type"] == "error"
    assert anthropic_style.json()["error"]["type"] == "api_error"
    assert "http.max_connections" in anthropic_style.json()["error"]["message"]
    assert openai_style.json()["error"]["type"] == "server_error"


async def test_a_request_the_upstream_swallowed_is_a_502_and_never_resent() -> None:
    requests: list[bytes] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The first request on a connection is answered, the next one read and left unanswered.
        try:
            for answered in (True, False):
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                requests.append(head + await reader.readexactly(length))
                if answered:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
                    )
                    await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        entry = provider(base_url=f"http://127.0.0.1:{port}", token_source=ListTokenSource("tok"))
        async with started_app(settings(), entry_points=[entry]) as app, app_client(app) as client:
            first = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
            # Same pooled connection: the upstream reads this request and hangs up.
            second = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
    finally:
        server.close()
        await server.wait_closed()

    assert first.status_code == 200
    assert second.status_code == 502
    assert second.json()["type"] == "error"
    assert "RemoteProtocolError" in second.json()["error"]["message"]
    assert len(requests) == 2  # one each: the swallowed request was not sent again
