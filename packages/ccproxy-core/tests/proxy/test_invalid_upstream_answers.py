"""A 2xx answer that is not a valid answer of the upstream's format, or a 3xx, is a 502 in the
client's dialect on converted routes, never an empty "completed" 200; passthrough relays it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from provider_kit import Recorder, recorded_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccproxy.testing import app_client

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGES = "/testprov/v1/messages"
CHAT = "/testprov/v1/chat/completions"
RESPONSES = "/testprov/v1/responses"


@dataclass
class ScriptedUpstream:
    """An upstream that answers every POST with one fixed status, body and content type."""

    status: int
    body: bytes
    media_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            self.received.append(json.loads(await request.body()))
            return Response(
                self.body, self.status, headers=self.headers, media_type=self.media_type
            )

        paths = ("/v1/messages", "/responses")
        return Starlette(routes=[Route(p, endpoint, methods=["POST"]) for p in paths])


@asynccontextmanager
async def proxy_app(
    upstream_format: str, upstream: ScriptedUpstream
) -> AsyncIterator[tuple[FastAPI, Recorder]]:
    async with recorded_app(upstream_format, upstream.app()) as found:
        yield found


def request_body(route: str, *, stream: bool) -> dict[str, Any]:
    if route == RESPONSES:
        return {"model": "claude-sonnet-4-6", "input": "Hi", "stream": stream}
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": stream,
    }


def assert_502_in_dialect(route: str, response: httpx.Response) -> None:
    assert response.status_code == 502, response.text
    payload = response.json()
    error = payload["error"]
    if route == MESSAGES:
        assert payload["type"] == "error"
        assert error["type"] == "api_error"
    else:
        assert error["type"] == "server_error"
    assert "answer could not be read" in error["message"]


NOT_AN_ANSWER = [
    (200, b"{}"),
    (201, b"{}"),
    (200, b"[]"),
    (200, b'"x"'),
    (200, b'{"type":"error"}'),
    (200, b'{"type":"message","content":"not a list"}'),
    (200, b""),
    (200, b"<html>gateway</html>"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", [CHAT, RESPONSES])
@pytest.mark.parametrize(("status", "body"), NOT_AN_ANSWER)
async def test_a_2xx_that_is_not_an_anthropic_message_is_a_502_on_converted_routes(
    route: str, stream: bool, status: int, body: bytes
) -> None:
    upstream = ScriptedUpstream(status, body)
    async with proxy_app("anthropic", upstream) as (app, recorder):
        async with app_client(app) as client:
            response = await client.post(route, json=request_body(route, stream=stream))
    assert_502_in_dialect(route, response)
    assert len(upstream.received) == 1
    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (502, "upstream_invalid_response")
    assert "PROVIDER_ERROR" in recorder.names()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_an_upstream_redirect_is_a_502_on_converted_routes(status: int, stream: bool) -> None:
    upstream = ScriptedUpstream(
        status,
        b'{"type":"message","role":"assistant","content":[]}',
        headers={"location": "https://elsewhere.test/v1/messages"},
    )
    async with proxy_app("anthropic", upstream) as (app, recorder):
        async with app_client(app) as client:
            response = await client.post(CHAT, json=request_body(CHAT, stream=stream))
    assert_502_in_dialect(CHAT, response)
    assert "location" not in response.headers
    [record] = recorder.records()
    assert record.status_code == 502


STREAMS_WITHOUT_AN_EVENT = [
    (b"", "text/event-stream"),
    (b'data: {}\n\ndata: {"type":"nonsense"}\n\n', "text/event-stream"),
    (b"{}", "application/json"),
    (b'{"type":"error"}', "application/json"),
]


@pytest.mark.parametrize("route", [MESSAGES, CHAT])
@pytest.mark.parametrize(("body", "media_type"), STREAMS_WITHOUT_AN_EVENT)
async def test_a_stream_without_any_event_of_its_format_is_a_502_for_a_collected_answer(
    route: str, body: bytes, media_type: str
) -> None:
    """The Codex backend only streams: non-streaming clients are served by collecting."""
    upstream = ScriptedUpstream(200, body, media_type=media_type)
    async with proxy_app("responses", upstream) as (app, recorder):
        async with app_client(app) as client:
            response = await client.post(
                route, json=request_body(route, stream=False), headers=HEADERS
            )
    assert_502_in_dialect(route, response)
    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (502, "upstream_invalid_response")


async def test_a_streaming_client_of_a_json_answer_gets_a_502_not_an_empty_stream() -> None:
    upstream = ScriptedUpstream(200, b"{}", media_type="application/json")
    async with proxy_app("responses", upstream) as (app, _):
        async with app_client(app) as client:
            response = await client.post(
                MESSAGES, json=request_body(MESSAGES, stream=True), headers=HEADERS
            )
    assert_502_in_dialect(MESSAGES, response)


async def test_valid_answers_still_convert() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    upstream = ScriptedUpstream(200, json.dumps(message).encode())
    async with proxy_app("anthropic", upstream) as (app, _):
        async with app_client(app) as client:
            response = await client.post(CHAT, json=request_body(CHAT, stream=False))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello"


@pytest.mark.parametrize("body", [b"{}", b"[]", b'"x"'])
async def test_passthrough_relays_the_upstream_answer_as_it_is(body: bytes) -> None:
    upstream = ScriptedUpstream(200, body)
    async with proxy_app("anthropic", upstream) as (app, _):
        async with app_client(app) as client:
            response = await client.post(
                MESSAGES, json=request_body(MESSAGES, stream=False), headers=HEADERS
            )
    assert (response.status_code, response.content) == (200, body)
