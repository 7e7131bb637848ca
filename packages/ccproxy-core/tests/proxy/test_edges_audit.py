"""Small edges an audit found: foreign error shapes, relayed headers, encoded bodies, HEAD."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from test_pipeline_edges import HEADERS, post_with_upstream_error, proxy_app, request_body

from ccproxy.cli.server import server_config
from ccproxy.config import Settings
from ccproxy.testing import Reply, app_client
from ccproxy.testing.network import free_port

SETTINGS_WITH_TOKEN = Settings(
    plugins_disable_local_discovery=True, security={"auth_token": "t0ken-for-tests"}
)
ANTHROPIC_SHAPED = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "Slow down, please."},
}
OPENAI_SHAPED = {
    "error": {
        "message": "Slow down, please.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


# --- upstream errors of the other dialect ----------------------------------------------------


async def test_an_anthropic_shaped_error_on_the_responses_passthrough_becomes_an_openai_error() -> (
    None
):
    reply = Reply.error(429, body=ANTHROPIC_SHAPED, retry_after=7)
    response, _ = await post_with_upstream_error("responses", "/testprov/v1/responses", reply)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "error": {
            "message": "Slow down, please.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


async def test_an_openai_shaped_error_on_the_messages_passthrough_becomes_an_anthropic_error() -> (
    None
):
    reply = Reply.error(429, body=OPENAI_SHAPED, retry_after=7)
    response, _ = await post_with_upstream_error("anthropic", "/testprov/v1/messages", reply)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down, please."},
    }


@pytest.mark.parametrize("upstream", ["anthropic", "responses"])
@pytest.mark.parametrize(
    "route", ["/testprov/v1/messages", "/testprov/v1/chat/completions", "/testprov/v1/responses"]
)
@pytest.mark.parametrize("shape", ["anthropic", "openai"])
async def test_every_upstream_error_shape_reaches_every_route_in_its_dialect(
    upstream: str, route: str, shape: str
) -> None:
    body = ANTHROPIC_SHAPED if shape == "anthropic" else OPENAI_SHAPED
    reply = Reply.error(503, body=body, retry_after=3)
    response, _ = await post_with_upstream_error(upstream, route, reply)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    payload = response.json()
    if route.endswith("/messages"):
        assert payload["type"] == "error"
        assert set(payload["error"]) == {"type", "message"}
    else:
        assert "type" not in payload
        assert set(payload["error"]) >= {"message", "type", "param", "code"}
    assert payload["error"]["message"] == "Slow down, please."


# --- relayed response headers, through uvicorn as `ccproxy serve` configures it -------------

UPSTREAM_DATE = "Wed, 01 Jan 2025 00:00:00 GMT"
UPSTREAM_ONLY_HEADERS = {
    "date": UPSTREAM_DATE,
    "server": "upstream-frontend/1.0",
    "keep-alive": "timeout=5",
    "connection": "x-hop-option",
    "x-hop-option": "private to the upstream's connection",
    "proxy-connection": "keep-alive",
    "alt-svc": 'h3=":443"; ma=86400',
}


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """``app`` on a real uvicorn built exactly as ``ccproxy serve`` builds it; yields its URL."""
    settings = Settings(server={"host": "127.0.0.1", "port": free_port("127.0.0.1")})
    server = uvicorn.Server(server_config(app, settings))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{settings.server.port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("stream", [False, True])
async def test_a_passthrough_answer_has_one_date_and_none_of_the_upstreams_connection_headers(
    stream: bool,
) -> None:
    async with proxy_app("anthropic") as (app, fake, _):
        fake.enqueue(Reply.text("Hello", headers=UPSTREAM_ONLY_HEADERS))
        async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
            route = "/testprov/v1/messages"
            response = await client.post(
                route, json=request_body(route, stream=stream), headers=HEADERS
            )
    assert response.status_code == 200, response.text
    names = [name.lower() for name, _ in response.headers.multi_items()]
    assert names.count("date") == 1
    # ccproxy is the origin server to its client (a gateway): the date is its own.
    assert response.headers["date"] != UPSTREAM_DATE
    for name in ("server", "keep-alive", "x-hop-option", "proxy-connection", "alt-svc"):
        assert name not in names, name
    assert response.headers.get("connection", "keep-alive") == "keep-alive"
    assert response.headers["request-id"].startswith("req_fake_")  # end-to-end headers stay


# --- encoded request bodies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", lambda raw: raw)],
)
@pytest.mark.parametrize(
    "route", ["/testprov/v1/messages", "/testprov/v1/chat/completions", "/testprov/v1/responses"]
)
async def test_a_compressed_body_gets_415_in_the_routes_dialect_and_never_reaches_upstream(
    route: str, encoding: str, compress: Any
) -> None:
    raw = compress(json.dumps(request_body(route)).encode())
    async with proxy_app("anthropic") as (app, fake, _), app_client(app) as client:
        response = await client.post(
            route, content=raw, headers={**HEADERS, "content-encoding": encoding}
        )
        assert fake.requests == []
    assert response.status_code == 415, response.text
    assert response.headers["accept-encoding"] == "identity"
    payload = response.json()
    assert ("type" in payload) is route.endswith("/messages")
    assert "content-encoding" in payload["error"]["message"].lower()


async def test_an_identity_content_encoding_is_accepted_and_not_forwarded() -> None:
    route = "/testprov/v1/messages"
    async with proxy_app("anthropic") as (app, fake, _), app_client(app) as client:
        response = await client.post(
            route, json=request_body(route), headers={**HEADERS, "content-encoding": "identity"}
        )
        assert response.status_code == 200, response.text
        assert "content-encoding" not in fake.last_request.headers


# --- HEAD wherever GET works -----------------------------------------------------------------


async def endless_events(request: Request) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        while True:
            yield b"event: ping\ndata: {}\n\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(events(), media_type="text/event-stream")


@pytest.mark.parametrize(
    "path", ["/health", "/api/plugins/status", "/api/accounts", "/testprov/v1/models", "/testprov/"]
)
async def test_head_answers_with_the_status_and_headers_of_get_and_no_body(path: str) -> None:
    async with proxy_app("anthropic") as (app, _, _), app_client(app) as client:
        get = await client.get(path, headers=HEADERS)
        head = await client.head(path, headers=HEADERS)
    assert get.status_code == 200
    assert head.status_code == get.status_code
    assert head.content == b""
    for name in ("content-type", "content-length"):
        assert head.headers[name] == get.headers[name]


async def test_head_on_an_endless_event_stream_ends_after_the_headers() -> None:
    async with proxy_app("anthropic") as (app, _, _):
        app.router.routes.append(Route("/events", endless_events, methods=["GET"]))
        app.add_api_route("/fastapi-events", endless_events, methods=["GET"])
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            for path in ("/events", "/fastapi-events"):
                head = await client.head(path)
                assert head.status_code == 200
                assert head.headers["content-type"].startswith("text/event-stream")
                assert head.content == b""
            # The connection is still good for a GET after the HEADs.
            assert (await client.get("/health")).status_code == 200


async def test_head_on_a_post_route_is_still_405_in_the_routes_dialect() -> None:
    async with proxy_app("anthropic") as (app, _, _), app_client(app) as client:
        head = await client.head("/testprov/v1/messages", headers=HEADERS)
    assert head.status_code == 405
    assert head.content == b""


# --- passwords in configured URLs ------------------------------------------------------------

URL_PASSWORD = "hunter2-s3cret"


async def test_health_and_plugin_status_never_show_a_base_url_password() -> None:
    from provider_kit import ListTokenSource, provider

    from ccproxy.testing import started_app

    ep = provider(
        base_url=f"https://proxyuser:{URL_PASSWORD}@upstream.test/",
        token_source=ListTokenSource("tok"),
    )
    async with started_app(SETTINGS_WITH_TOKEN, entry_points=[ep]) as app:
        async with app_client(app, headers={"authorization": "Bearer t0ken-for-tests"}) as client:
            health = await client.get("/health")
            status = await client.get("/api/plugins/status")
    assert health.status_code == 200
    assert "upstream.test" in health.text  # the URL is still there, only its password goes
    assert "proxyuser" in health.text
    for response in (health, status):
        assert URL_PASSWORD not in response.text


def test_logs_and_config_show_mask_a_url_password() -> None:
    from ccproxy.cli.text import mask_tree
    from ccproxy.logging import mask_text

    url = f"https://proxyuser:{URL_PASSWORD}@upstream.test/v1"
    for shown in (mask_text(f"connecting to {url} failed"), str(mask_tree({"base_url": url}))):
        assert URL_PASSWORD not in shown
        assert "proxyuser" in shown and "upstream.test/v1" in shown
