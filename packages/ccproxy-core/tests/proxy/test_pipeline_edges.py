"""The pipeline's edges: bodies the parser chokes on, unknown roles, wrong JSON types and
upstreams that die after the status line all get a 4xx/5xx in the client's dialect, never 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from provider_kit import ListTokenSource, Recorder, provider, proxy_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from ccproxy.app import get_plugin_host
from ccproxy.config import Settings
from ccproxy.testing import LiveServer, Reply, app_client, started_app

HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
ROUTES = ("/testprov/v1/messages", "/testprov/v1/chat/completions", "/testprov/v1/responses")
UPSTREAMS = ("anthropic", "responses")


def request_body(route: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid request of the route's format."""
    if route.endswith("/messages"):
        body: dict[str, Any] = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Hi"}],
        }
    elif route.endswith("/chat/completions"):
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]}
    else:
        body = {"model": "claude-sonnet-4-6", "input": [{"role": "user", "content": "Hi"}]}
    body.update(extra)
    return body


def assert_dialect_error(route: str, response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is ``status`` in the route's dialect; returns the error object."""
    assert response.status_code == status, response.text
    payload = response.json()
    if route.endswith("/messages"):
        assert payload["type"] == "error"
        assert set(payload["error"]) == {"type", "message"}
    else:
        assert set(payload["error"]) >= {"message", "type", "param", "code"}
    error: dict[str, Any] = payload["error"]
    return error


def nested(depth: int) -> bytes:
    """A JSON schema ``2 * depth + 1`` levels deep, as text (json.dumps itself would recurse)."""
    return b'{"type":"object","properties":{"a":' * depth + b'{"type":"string"}' + b"}}" * depth


def with_tool_schema(route: str, schema: bytes) -> bytes:
    body = json.dumps(request_body(route, tools=tools_for(route, "SCHEMA"))).encode()
    return body.replace(b'"SCHEMA"', schema)


def tools_for(route: str, schema: Any) -> list[dict[str, Any]]:
    if route.endswith("/messages"):
        return [{"name": "deep", "input_schema": schema}]
    if route.endswith("/chat/completions"):
        return [{"type": "function", "function": {"name": "deep", "parameters": schema}}]
    return [{"type": "function", "name": "deep", "parameters": schema}]


# --- bodies the parser chokes on ------------------------------------------------------------

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000


def raw_bodies(route: str) -> list[tuple[bytes, str]]:
    valid = json.dumps(request_body(route)).encode()
    key = b'"messages"' if b'"messages"' in valid else b'"input"'
    return [
        (valid.replace(key, key + b":" + DEEP_ARRAY + b',"x"'), "nested more than 128 levels"),
        (valid.replace(b'"Hi"', b'"H\xff\xfei"'), "not valid UTF-8"),
        (valid.replace(b'"Hi"', b'"\\ud800 alone"'), "unpaired UTF-16 surrogate"),
        (valid.replace(b"{", b'{"n":' + b"7" * 5000 + b",", 1), "more than 4300 digits"),
        (valid.replace(b"{", b'{"temperature":NaN,', 1), "NaN is not a JSON value"),
        (valid.replace(b"{", b'{"temperature":1e999,', 1), "too large"),
        (valid.replace(b"{", b"\xef\xbb\xbf{", 1), "not valid JSON"),
        (b"   ", "body is empty"),
        (b'"just a string"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ]


@pytest.mark.parametrize("upstream_format", UPSTREAMS)
async def test_bodies_the_parser_chokes_on_get_400_in_the_route_dialect(
    upstream_format: str,
) -> None:
    async with proxy_app(upstream_format) as (app, fake, recorder):
        async with app_client(app) as client:
            for route in ROUTES:
                for raw, message in raw_bodies(route):
                    response = await client.post(route, content=raw, headers=HEADERS)
                    error = assert_dialect_error(route, response, 400)
                    assert error["type"] == "invalid_request_error"
                    assert message in error["message"], (route, raw[:60])
    assert fake.requests == []
    assert {record.status_code for record in recorder.records()} == {400}


@pytest.mark.parametrize("upstream_format", UPSTREAMS)
async def test_deep_tool_schemas_get_400_and_moderate_ones_pass(upstream_format: str) -> None:
    async with proxy_app(upstream_format) as (app, fake, _):
        async with app_client(app) as client:
            for route in ROUTES:
                for depth in (475, 300, 64):  # past the parser's own limit, and below it
                    deep = with_tool_schema(route, nested(depth))
                    response = await client.post(route, content=deep, headers=HEADERS)
                    error = assert_dialect_error(route, response, 400)
                    assert "nested more than 128 levels deep" in error["message"]
                    if depth < 400:
                        assert error["message"].endswith("in 'tools'.")
                fine = with_tool_schema(route, nested(40))
                response = await client.post(route, content=fine, headers=HEADERS)
                assert response.status_code == 200, response.text
    assert len(fake.requests) == len(ROUTES)


# --- roles and JSON types --------------------------------------------------------------------


def with_messages(route: str, messages: Any) -> dict[str, Any]:
    key = "input" if route.endswith("/responses") else "messages"
    return request_body(route, **{key: messages})


@pytest.mark.parametrize("upstream_format", UPSTREAMS)
async def test_an_unknown_role_is_a_400_naming_the_field_on_every_route(
    upstream_format: str,
) -> None:
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "wizard", "content": "Abracadabra"},
    ]
    async with proxy_app(upstream_format) as (app, fake, recorder):
        async with app_client(app) as client:
            for route in ROUTES:
                response = await client.post(
                    route, json=with_messages(route, turns), headers=HEADERS
                )
                error = assert_dialect_error(route, response, 400)
                field = "input.2.role" if route.endswith("/responses") else "messages.2.role"
                assert f"{field}: unknown role 'wizard'" in error["message"]
                if not route.endswith("/messages"):
                    assert error["param"] == field
    assert fake.requests == []
    assert {record.error_kind for record in recorder.records()} == {"invalid_request"}


@pytest.mark.parametrize("upstream_format", UPSTREAMS)
async def test_roles_each_format_accepts_are_served(upstream_format: str) -> None:
    accepted = {
        "/testprov/v1/messages": ["user", "assistant", "system"],
        "/testprov/v1/chat/completions": ["system", "developer", "user", "assistant"],
        # The Codex backend itself refuses system items, so its passthrough leaves them out.
        "/testprov/v1/responses": ["developer", "user", "assistant"]
        + (["system"] if upstream_format == "anthropic" else []),
    }
    async with proxy_app(upstream_format) as (app, _, _):
        async with app_client(app) as client:
            for route, roles in accepted.items():
                turns = [{"role": role, "content": f"as {role}"} for role in roles]
                turns.append({"role": "user", "content": "Go"})
                response = await client.post(
                    route, json=with_messages(route, turns), headers=HEADERS
                )
                assert response.status_code == 200, (route, response.text)


def wrong_types(route: str) -> list[tuple[dict[str, Any], str]]:
    key = "input" if route.endswith("/responses") else "messages"
    cases: list[tuple[dict[str, Any], str]] = [
        (request_body(route, stream="yes"), "stream"),
        (request_body(route, stream=1), "stream"),
        (request_body(route, tools="all of them"), "tools"),
        (request_body(route, tools=["x"]), "tools"),
        (request_body(route, **{key: [7]}), f"{key}.0"),
        (request_body(route, **{key: {"role": "user"}}), key),
        (request_body(route, **{key: [{"content": "no role"}]}), key),
        (request_body(route, model=["claude-sonnet-4-6"]), "model"),
    ]
    if not route.endswith("/responses"):
        cases.append((request_body(route, **{key: "Hi"}), key))
    return cases


@pytest.mark.parametrize("upstream_format", UPSTREAMS)
async def test_wrong_json_types_are_400_in_the_route_dialect(upstream_format: str) -> None:
    async with proxy_app(upstream_format) as (app, fake, _):
        async with app_client(app) as client:
            for route in ROUTES:
                for body, field in wrong_types(route):
                    response = await client.post(route, json=body, headers=HEADERS)
                    error = assert_dialect_error(route, response, 400)
                    assert field in error["message"], (route, body, error)
    assert fake.requests == []


# --- upstreams that fail after the status line ----------------------------------------------


class UpstreamGone(RuntimeError):
    """Raised in the fake upstream's body: uvicorn drops the connection mid-body."""


PARTIAL_JSON = b'{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"te'
FIRST_RESPONSES_EVENT = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
)


def read_timeout(failure: str) -> float:
    """Short enough to make a stall time out quickly; a dropped connection must never be taken
    for a stall on a busy machine, so it gets a bound it cannot reach."""
    return 0.3 if failure == "stall" else 10.0


def failing_upstream(head: bytes, media_type: str, *, stall: bool) -> Starlette:
    """An upstream that answers 200 and ``head``, then stalls or drops the connection."""

    async def endpoint(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield head
            if stall:
                await asyncio.sleep(30)
            raise UpstreamGone("the upstream went away")

        return StreamingResponse(body(), media_type=media_type)

    return Starlette(
        routes=[Route(path, endpoint, methods=["POST"]) for path in ("/v1/messages", "/responses")]
    )


NON_STREAMING_ON_ANTHROPIC = [
    ("/testprov/v1/messages", "passthrough JSON"),
    ("/testprov/v1/chat/completions", "converted JSON"),
]


@pytest.mark.parametrize("failure", ["stall", "drop"])
@pytest.mark.parametrize(("route", "_path"), NON_STREAMING_ON_ANTHROPIC)
async def test_non_streaming_client_gets_502_or_504_when_the_upstream_fails_mid_body(
    route: str, _path: str, failure: str
) -> None:
    settings = Settings(
        plugins_disable_local_discovery=True,
        http={"read_timeout_seconds": read_timeout(failure)},
    )
    upstream_app = failing_upstream(PARTIAL_JSON, "application/json", stall=failure == "stall")
    async with LiveServer(upstream_app) as upstream:
        ep = provider(token_source=ListTokenSource("tok"), base_url=upstream.url)
        async with started_app(settings, entry_points=[ep]) as app:
            recorder = Recorder()
            get_plugin_host(app).hooks.register(recorder)
            async with app_client(app, timeout=10) as client:
                response = await client.post(route, json=request_body(route), headers=HEADERS)
    status = 504 if failure == "stall" else 502
    error = assert_dialect_error(route, response, status)
    assert ("timed out" if failure == "stall" else "connection failed") in error["message"]
    [record] = recorder.records()
    assert record.status_code == status
    assert record.error_kind == (
        "upstream_timeout" if failure == "stall" else "upstream_disconnected"
    )
    assert "PROVIDER_ERROR" in recorder.names()


@pytest.mark.parametrize("failure", ["stall", "drop"])
@pytest.mark.parametrize("route", ROUTES)
async def test_collected_streams_that_fail_answer_502_or_504(route: str, failure: str) -> None:
    """A stream-only upstream serving non-streaming clients (every non-streaming /codex call)."""
    settings = Settings(
        plugins_disable_local_discovery=True,
        http={"read_timeout_seconds": read_timeout(failure)},
    )
    upstream_app = failing_upstream(
        FIRST_RESPONSES_EVENT, "text/event-stream", stall=failure == "stall"
    )
    async with LiveServer(upstream_app) as upstream:
        ep = provider(
            upstream_format="responses",
            token_source=ListTokenSource("tok"),
            base_url=upstream.url,
            native_prefix="gpt-",
            default_model="gpt-5",
        )
        async with started_app(settings, entry_points=[ep]) as app:
            recorder = Recorder()
            get_plugin_host(app).hooks.register(recorder)
            async with app_client(app, timeout=10) as client:
                response = await client.post(route, json=request_body(route), headers=HEADERS)
    status = 504 if failure == "stall" else 502
    assert_dialect_error(route, response, status)
    [record] = recorder.records()
    assert (record.status_code, record.streaming) == (status, False)
    assert record.error_kind in ("upstream_timeout", "upstream_disconnected")


# --- upstream errors in the client's dialect ---------------------------------------------------


async def post_with_upstream_error(
    upstream_format: str, route: str, reply: Reply
) -> tuple[httpx.Response, Recorder]:
    async with proxy_app(upstream_format) as (app, fake, recorder):
        fake.enqueue(reply)
        async with app_client(app) as client:
            response = await client.post(route, json=request_body(route), headers=HEADERS)
    return response, recorder


async def test_codex_detail_bodies_on_the_responses_passthrough_become_openai_errors() -> None:
    reply = Reply.error(400, body={"detail": "Unsupported parameter: max_tokens"})
    response, recorder = await post_with_upstream_error(
        "responses", "/testprov/v1/responses", reply
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Unsupported parameter: max_tokens",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (400, "upstream_400")


async def test_codex_errors_already_in_openai_shape_stay_verbatim_on_passthrough() -> None:
    reply = Reply.error(429, message="You have hit your usage limit.", retry_after=30)
    response, _ = await post_with_upstream_error("responses", "/testprov/v1/responses", reply)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "usage_limit_reached"  # the Codex CLI reads its own type
    assert error["resets_in_seconds"] == 30
    assert response.headers["retry-after"] == "30"


@pytest.mark.parametrize(
    ("route", "status", "expected_type"),
    [
        ("/testprov/v1/messages", 429, "rate_limit_error"),
        ("/testprov/v1/messages", 503, "api_error"),
        ("/testprov/v1/messages", 403, "permission_error"),
        ("/testprov/v1/chat/completions", 429, "usage_limit_reached"),
    ],
)
async def test_codex_error_types_unknown_to_the_dialect_are_mapped_by_status(
    route: str, status: int, expected_type: str
) -> None:
    reply = Reply.error(status, message="Codex says no", retry_after=12, headers={"x-a": "b"})
    response, _ = await post_with_upstream_error("responses", route, reply)
    error = assert_dialect_error(route, response, status)
    assert error["type"] == expected_type
    assert error["message"] == "Codex says no"
    assert response.headers["retry-after"] == "12"
    assert "x-codex-primary-used-percent" in response.headers
    assert "x-a" not in response.headers


async def test_non_dialect_bodies_on_the_anthropic_passthrough_become_anthropic_errors() -> None:
    for body, message in [
        ({"detail": "Bad gateway"}, "Bad gateway"),
        ({"error": {"type": "mystery", "message": "Odd"}}, "Odd"),
        ("<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
    ]:
        reply = Reply.error(502, body=body)
        response, _ = await post_with_upstream_error("anthropic", "/testprov/v1/messages", reply)
        assert response.status_code == 502
        payload = response.json()
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "api_error"
        assert message in payload["error"]["message"]


async def test_anthropic_only_types_become_openai_types_with_the_original_as_code() -> None:
    reply = Reply.error(529, "overloaded_error", message="Overloaded")
    response, _ = await post_with_upstream_error(
        "anthropic", "/testprov/v1/chat/completions", reply
    )
    assert response.status_code == 529
    assert response.json()["error"] == {
        "message": "Overloaded",
        "type": "server_error",
        "param": None,
        "code": "overloaded_error",
    }


async def test_conversation_keys_that_cannot_be_a_header_are_hashed() -> None:
    body = request_body("/testprov/v1/messages", metadata={"user_id": "utilisateur-Ā\u2028"})
    async with proxy_app("responses") as (app, fake, _):
        async with app_client(app) as client:
            first = await client.post("/testprov/v1/messages", json=body, headers=HEADERS)
            second = await client.post("/testprov/v1/messages", json=body, headers=HEADERS)
    assert (first.status_code, second.status_code) == (200, 200)
    keys = [request.headers["session_id"] for request in fake.requests]
    assert keys[0] == keys[1]
    assert len(keys[0]) == 32
    assert int(keys[0], 16) >= 0
