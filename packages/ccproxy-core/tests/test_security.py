"""SecurityMiddleware: Host, Origin, token, JSON-only bodies and body size, in the client's dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ccproxy.config import Settings
from ccproxy.proxy import install_error_handlers
from ccproxy.security import SecurityMiddleware
from ccproxy.testing import LiveServer

TOKEN = "t0k-0123456789abcdef"
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def echo_app(**settings: Any) -> SecurityMiddleware:
    """A FastAPI app answering every path with what it received, behind the middleware."""
    app = FastAPI()
    install_error_handlers(app)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(request: Request, path: str) -> dict[str, Any]:
        body = await request.body()
        return {"path": "/" + path, "received": len(body)}

    return SecurityMiddleware(app, settings=Settings(**settings))


def client_for(app: Any, base_url: str = "http://127.0.0.1:8000") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


# --- token -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        {"authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer  {TOKEN}"},
        {"x-api-key": TOKEN},
        {"cookie": f"theme=dark; ccproxy_token={TOKEN}"},
    ],
)
async def test_token_accepted_as_bearer_api_key_or_cookie(credentials: dict[str, str]) -> None:
    async with client_for(echo_app(security={"auth_token": TOKEN})) as client:
        response = await client.post("/v1/messages", json={"model": "m"}, headers=credentials)
    assert response.status_code == 200
    assert response.json() == {"path": "/v1/messages", "received": len(b'{"model":"m"}')}


async def test_missing_or_wrong_token_is_401_in_the_clients_dialect() -> None:
    async with client_for(echo_app(security={"auth_token": TOKEN})) as client:
        missing_anthropic = await client.post("/claude/v1/messages", json={})
        wrong_openai = await client.post(
            "/codex/v1/chat/completions", json={}, headers={"authorization": "Bearer t0k-wrong"}
        )
        wrong_api_key = await client.get("/v1/models", headers={"x-api-key": "nope", **ANTHROPIC})

    assert (
        missing_anthropic.status_code
        == wrong_openai.status_code
        == wrong_api_key.status_code
        == 401
    )
    for response in (missing_anthropic, wrong_openai, wrong_api_key):
        assert response.headers["www-authenticate"] == "Bearer"
        assert "t0k" not in response.text
    assert missing_anthropic.json() == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "Missing ccproxy token: send 'Authorization: Bearer <token>' or "
            "'x-api-key: <token>' with the value of security.auth_token.",
        },
    }
    error = wrong_openai.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("Invalid ccproxy token")
    assert wrong_api_key.json()["type"] == "error"  # anthropic-version header picks Anthropic


async def test_health_is_open_without_token() -> None:
    async with client_for(echo_app(security={"auth_token": TOKEN})) as client:
        health = await client.get("/health")
        health_sub = await client.get("/health/live")
        lookalike = await client.get("/healthz")
    assert (health.status_code, health_sub.status_code, lookalike.status_code) == (200, 200, 401)


async def test_without_a_configured_token_no_credentials_are_needed() -> None:
    async with client_for(echo_app()) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m"})
    assert response.status_code == 200


# --- Host (DNS rebinding) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost", "LOCALHOST:1234", "[::1]:8000", "[::1]"]
)
async def test_loopback_hosts_are_allowed_by_default(host: str) -> None:
    async with client_for(echo_app()) as client:
        response = await client.get("/v1/models", headers={"host": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost:80x", "[::1"]
)
async def test_foreign_host_is_403_naming_the_setting(host: str) -> None:
    async with client_for(echo_app()) as client:
        openai = await client.get("/v1/models", headers={"host": host})
        anthropic = await client.post("/v1/messages", json={}, headers={"host": host})
    assert openai.status_code == anthropic.status_code == 403
    assert openai.json()["error"]["type"] == "permission_error"
    assert "is not allowed; add it to security.allowed_hosts" in openai.json()["error"]["message"]
    assert anthropic.json()["error"]["type"] == "permission_error"


async def test_any_host_with_star_and_the_bound_address_itself() -> None:
    async with client_for(echo_app(security={"allowed_hosts": ["*"]})) as client:
        assert (
            await client.get("/v1/models", headers={"host": "anything.example"})
        ).status_code == 200

    bound = echo_app(
        server={"host": "192.168.1.20"}, security={"auth_token": TOKEN, "allowed_hosts": []}
    )
    async with client_for(bound, base_url="http://192.168.1.20:8000") as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/health", headers={"host": "localhost"})).status_code == 403

    # A wildcard bind address is not a host name anyone can be allowed to use.
    wildcard = echo_app(
        server={"host": "0.0.0.0"}, security={"auth_token": TOKEN, "allowed_hosts": []}
    )
    async with client_for(wildcard, base_url="http://0.0.0.0:8000") as client:
        assert (await client.get("/health")).status_code == 403


# --- Origin (CSRF) -----------------------------------------------------------------------------


async def test_foreign_origin_is_403() -> None:
    async with client_for(echo_app()) as client:
        response = await client.post(
            "/v1/messages", json={}, headers={"origin": "https://evil.example"}
        )
        null_origin = await client.post("/v1/messages", json={}, headers={"origin": "null"})
    assert response.status_code == null_origin.status_code == 403
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": "Origin 'https://evil.example' is not allowed; add it to "
            "security.allowed_origins to accept it.",
        },
    }


async def test_allowed_and_same_origins_pass() -> None:
    settings = {"security": {"allowed_origins": ["https://app.example", "http://tool.example:80/"]}}
    async with client_for(echo_app(**settings)) as client:
        listed = await client.post(
            "/v1/messages", json={}, headers={"origin": "HTTPS://app.example"}
        )
        default_port = await client.post(
            "/v1/messages", json={}, headers={"origin": "http://tool.example"}
        )
        same_origin = await client.post(
            "/v1/messages", json={}, headers={"origin": "http://127.0.0.1:8000"}
        )
        other_port = await client.post(
            "/v1/messages", json={}, headers={"origin": "http://127.0.0.1:9999"}
        )
    assert [r.status_code for r in (listed, default_port, same_origin, other_port)] == [
        200,
        200,
        200,
        403,
    ]

    async with client_for(echo_app(security={"allowed_origins": ["*"]})) as client:
        anywhere = await client.post(
            "/v1/messages", json={}, headers={"origin": "https://evil.example"}
        )
    assert anywhere.status_code == 200


async def test_checks_run_host_then_origin_then_token() -> None:
    async with client_for(echo_app(security={"auth_token": TOKEN})) as client:
        foreign_host = await client.get(
            "/v1/models", headers={"host": "evil.example", "origin": "https://evil.example"}
        )
        foreign_origin = await client.get("/v1/models", headers={"origin": "https://evil.example"})
    assert "security.allowed_hosts" in foreign_host.json()["error"]["message"]
    assert "security.allowed_origins" in foreign_origin.json()["error"]["message"]


# --- JSON only ---------------------------------------------------------------------------------


async def test_state_changing_requests_with_non_json_bodies_are_415() -> None:
    async with client_for(echo_app()) as client:
        form = await client.post("/v1/messages", data={"model": "m"})
        text = await client.put("/api/x", content=b"x", headers={"content-type": "text/plain"})
        json_ok = await client.post(
            "/api/x", content=b"{}", headers={"content-type": "application/json; charset=utf-8"}
        )
        plus_json = await client.post(
            "/api/x", content=b"{}", headers={"content-type": "application/merge-patch+json"}
        )
        no_body = await client.post("/api/plugins/reload")
    assert form.status_code == text.status_code == 415
    assert form.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Request bodies must be JSON (Content-Type: application/json); "
        "got 'application/x-www-form-urlencoded'.",
    }
    assert [json_ok.status_code, plus_json.status_code, no_body.status_code] == [200, 200, 200]


# --- body size ---------------------------------------------------------------------------------


async def test_body_over_the_limit_is_413_from_content_length() -> None:
    async with client_for(echo_app(server={"max_request_body_bytes": 16})) as client:
        small = await client.post(
            "/v1/chat/completions",
            content=b'{"a": "0123456"}',
            headers={"content-type": "application/json"},
        )
        large = await client.post(
            "/v1/chat/completions",
            content=b'{"a": "01234567"}',
            headers={"content-type": "application/json"},
        )
    assert small.status_code == 200
    assert large.status_code == 413
    assert large.json()["error"] == {
        "message": "Request body is 17 bytes; the limit is 16 bytes (server.max_request_body_bytes).",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }


class Body(BaseModel):
    model: str


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_chunked_body_over_the_limit_is_413_and_the_app_never_sees_it() -> None:
    seen: list[str] = []
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/messages")
    async def messages(body: Body) -> dict[str, str]:
        seen.append(body.model)
        return {"model": body.model}

    guarded = SecurityMiddleware(app, settings=Settings(server={"max_request_body_bytes": 20}))
    headers = {"content-type": "application/json"}
    async with client_for(guarded) as client:
        fits = await client.post(
            "/v1/messages", content=chunks(b'{"model":', b' "m"}'), headers=headers
        )
        too_big = await client.post(
            "/v1/messages",
            content=chunks(b'{"model": ', b'"0123456789', b'0123456789"}'),
            headers=headers,
        )
    assert fits.status_code == 200
    assert too_big.status_code == 413
    assert too_big.json() == {
        "type": "error",
        "error": {
            "type": "request_too_large",
            "message": "Request body exceeds the limit of 20 bytes (server.max_request_body_bytes).",
        },
    }
    assert seen == ["m"]


# --- streaming responses pass untouched --------------------------------------------------------


async def test_response_messages_pass_through_untouched() -> None:
    sent: list[Message] = []
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        for message in (
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            },
            {"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True},
            {"type": "http.response.body", "body": b"data: 2\n\n", "more_body": False},
        ):
            sent.append(message)
            await send(message)

    delivered: list[Message] = []

    async def send(message: Message) -> None:
        delivered.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
        ],
    }
    await SecurityMiddleware(app, settings=Settings())(scope, receive, send)
    assert len(delivered) == 3
    assert all(a is b for a, b in zip(delivered, sent, strict=True))
    assert received == [{"type": "http.request", "body": b"{}", "more_body": False}]


async def test_first_chunk_reaches_a_real_client_before_the_stream_ends() -> None:
    release = asyncio.Event()

    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await release.wait()  # only the client having read the first chunk sets this
            yield b"data: last\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/messages", stream, methods=["POST"])])
    guarded = SecurityMiddleware(app, settings=Settings(security={"auth_token": TOKEN}))
    async with (
        LiveServer(guarded) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        # A chunked request body: the middleware wraps send, and must still not buffer.
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        async with client.stream(
            "POST", "/v1/messages", content=chunks(b"{}"), headers=headers
        ) as response:
            iterator = response.aiter_raw()
            first = await asyncio.wait_for(iterator.__anext__(), timeout=5)
            release.set()
            rest = b"".join([part async for part in iterator])
    assert first == b"data: first\n\n"
    assert rest == b"data: last\n\n"


# --- WebSocket ---------------------------------------------------------------------------------


async def run_websocket(
    settings: Settings, headers: list[tuple[bytes, bytes]], extensions: dict[str, Any]
) -> tuple[list[Message], bool]:
    reached: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)
        await send({"type": "websocket.accept"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/ws", "headers": headers, "extensions": extensions}
    await SecurityMiddleware(app, settings=settings)(scope, receive, send)
    return sent, bool(reached)


async def test_websocket_refused_before_accept() -> None:
    settings = Settings(security={"auth_token": TOKEN})
    host = (b"host", b"127.0.0.1:8000")

    sent, reached = await run_websocket(settings, [host, (b"origin", b"https://evil.example")], {})
    assert not reached
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Forbidden"}]

    sent, reached = await run_websocket(settings, [host], {"websocket.http.response": {}})
    assert not reached
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]
    assert sent[1]["type"] == "websocket.http.response.body"
    assert b"Missing ccproxy token" in sent[1]["body"]

    sent, reached = await run_websocket(
        settings, [host, (b"authorization", f"Bearer {TOKEN}".encode())], {}
    )
    assert reached
    assert sent == [{"type": "websocket.accept"}]


async def test_plain_text_responses_are_not_affected_for_get() -> None:
    app = Starlette(routes=[Route("/v1/models", lambda request: PlainTextResponse("ok"))])
    async with client_for(SecurityMiddleware(app, settings=Settings())) as client:
        response = await client.get("/v1/models")
    assert (response.status_code, response.text) == (200, "ok")


async def test_lifespan_passes_through() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append(scope["type"])

    await SecurityMiddleware(app, settings=Settings())({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert events == ["lifespan"]


async def test_declared_public_paths_skip_the_token_for_get_only() -> None:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from ccproxy.security import SecurityMiddleware as Middleware

    page = FastAPI()

    @page.api_route("/plugin/", methods=["GET", "POST"])
    async def index() -> PlainTextResponse:
        return PlainTextResponse("page")

    @page.get("/plugin/data")
    async def data() -> PlainTextResponse:
        return PlainTextResponse("secret data")

    settings = Settings(security={"auth_token": "t0k"})
    app = Middleware(page, settings=settings, public_paths=frozenset({"/plugin/"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.get("/plugin/")).status_code == 200
        assert (await client.post("/plugin/", json={})).status_code == 401
        assert (await client.get("/plugin/data")).status_code == 401
        assert (await client.get("/plugin/", headers={"host": "evil.example"})).status_code == 403
