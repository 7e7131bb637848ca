"""``http.pool_timeout_seconds`` bounds the whole wait for an upstream connection.

httpx's pool restarts its wait whenever a freed connection goes to another waiter, so under a
steady load a request could wait far longer than the setting; the proxy bounds the wait itself.
Real upstream client, real loopback upstream.
"""

from __future__ import annotations

import asyncio

from provider_kit import ListTokenSource, provider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccproxy.config import HttpSettings, Settings
from ccproxy.http import build_http_client
from ccproxy.testing import LiveServer, app_client, started_app

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
ANSWER = (
    b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-6",'
    b'"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}'
)
POOL_TIMEOUT = 1.0
#: Each upstream answer takes this long, so connections keep freeing during the wait.
ANSWER_TIME = 0.4
#: Room for a busy test machine; the unbounded wait overshoots by seconds.
GRACE = 1.5


def slow_upstream(arrivals: list[float]) -> Starlette:
    async def messages(request: Request) -> Response:
        await request.body()
        arrivals.append(asyncio.get_running_loop().time())
        await asyncio.sleep(ANSWER_TIME)  # the upstream generating, not a synchronisation
        return Response(ANSWER, media_type="application/json")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


async def test_no_request_waits_for_a_connection_longer_than_the_pool_timeout() -> None:
    arrivals: list[float] = []
    settings = Settings(
        plugins_disable_local_discovery=True,
        http=HttpSettings(max_connections=1, pool_timeout_seconds=POOL_TIMEOUT),
    )
    loop = asyncio.get_running_loop()
    async with LiveServer(slow_upstream(arrivals)) as upstream:
        entry = provider(base_url=upstream.url, token_source=ListTokenSource("tok"))
        async with started_app(settings, entry_points=[entry]) as app:
            async with app_client(app, timeout=30) as client:

                async def timed_post() -> tuple[int, float, dict[str, str], bytes]:
                    response = await client.post(
                        "/testprov/v1/messages", json=MESSAGE, headers=HEADERS
                    )
                    return (
                        response.status_code,
                        loop.time(),
                        dict(response.headers),
                        response.content,
                    )

                started = loop.time()
                answers = await asyncio.gather(*(timed_post() for _ in range(8)))

    statuses = sorted(status for status, *_ in answers)
    assert set(statuses) == {200, 503}, statuses
    # Every request that reached the upstream got its connection within the bound...
    assert max(arrivals) - started < POOL_TIMEOUT + GRACE, [a - started for a in arrivals]
    assert len(arrivals) == statuses.count(200)
    # ...and every other one was told so once the bound passed, not later.
    for status, ended, headers, body in answers:
        if status == 503:
            assert POOL_TIMEOUT <= ended - started < POOL_TIMEOUT + GRACE
            assert headers["retry-after"] == "1"
            assert b"http.max_connections" in body


async def test_a_trace_of_the_callers_own_still_sees_every_event() -> None:
    arrivals: list[float] = []
    events: list[str] = []

    async def trace(event_name: str, info: dict[str, object]) -> None:
        events.append(event_name)

    async with LiveServer(slow_upstream(arrivals)) as upstream:
        async with build_http_client(HttpSettings(pool_timeout_seconds=5)) as client:
            response = await client.post(
                f"{upstream.url}/v1/messages", content=b"{}", extensions={"trace": trace}
            )
    assert response.status_code == 200
    assert events[0] == "connection.connect_tcp.started"
    assert "http11.receive_response_headers.complete" in events
    assert events[-1] == "http11.response_closed.complete"
