"""Dialect detection and errors the app itself produces, in the client's dialect."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from starlette.datastructures import Headers
from structlog.testing import capture_logs

from ccproxy.proxy import Dialect, dialect_for, error_body, error_response, install_error_handlers

ANTHROPIC = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/messages", {}, Dialect.ANTHROPIC),
        ("/claude/v1/messages/count_tokens", {}, Dialect.ANTHROPIC),
        ("/codex/v1/messages", {}, Dialect.ANTHROPIC),
        ("/codex/v1/chat/completions", ANTHROPIC, Dialect.OPENAI),
        ("/claude/v1/responses", {}, Dialect.OPENAI),
        ("/v1/responses/resp_123", {}, Dialect.OPENAI),
        ("/v1/models", {}, Dialect.OPENAI),
        ("/v1/models", {"Anthropic-Version": "2023-06-01"}, Dialect.ANTHROPIC),
        ("/v1/models", Headers({"anthropic-version": "2023-06-01"}), Dialect.ANTHROPIC),
        ("/v1/messagesx", {}, Dialect.OPENAI),
        ("/api/plugins/status", {}, Dialect.OPENAI),
    ],
)
def test_dialect_for(path: str, headers: Any, expected: Dialect) -> None:
    assert dialect_for(path, headers) is expected


@pytest.mark.parametrize(
    ("status", "anthropic_type", "openai_type", "openai_code"),
    [
        (400, "invalid_request_error", "invalid_request_error", None),
        (401, "authentication_error", "authentication_error", None),
        (402, "billing_error", "invalid_request_error", None),
        (403, "permission_error", "permission_error", None),
        (404, "not_found_error", "not_found_error", None),
        (413, "request_too_large", "invalid_request_error", "request_too_large"),
        (415, "invalid_request_error", "invalid_request_error", None),
        (429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded"),
        (500, "api_error", "server_error", None),
        (503, "api_error", "server_error", None),
        (504, "timeout_error", "server_error", None),
        (529, "overloaded_error", "server_error", None),
    ],
)
def test_error_bodies_follow_each_apis_shape(
    status: int, anthropic_type: str, openai_type: str, openai_code: str | None
) -> None:
    assert error_body(Dialect.ANTHROPIC, status, "m") == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "m"},
    }
    assert error_body(Dialect.OPENAI, status, "m") == {
        "error": {"message": "m", "type": openai_type, "param": None, "code": openai_code}
    }


def test_explicit_type_param_and_code_win() -> None:
    assert error_body(Dialect.OPENAI, 400, "m", error_type="x", param="model", code="c") == {
        "error": {"message": "m", "type": "x", "param": "model", "code": "c"}
    }
    assert error_body(Dialect.ANTHROPIC, 400, "m", error_type="billing_error", code="c") == {
        "type": "error",
        "error": {"type": "billing_error", "message": "m"},
    }
    response = error_response(Dialect.ANTHROPIC, 429, "slow down", headers={"Retry-After": "3"})
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert (
        response.body
        == b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    )


@pytest.mark.parametrize(
    ("status", "upstream_type", "anthropic_type"),
    [
        (429, "usage_limit_reached", "rate_limit_error"),
        (400, "x", "invalid_request_error"),
        (503, "server_is_overloaded", "api_error"),
        (529, "overloaded_error", "overloaded_error"),
    ],
)
def test_types_the_anthropic_dialect_lacks_follow_the_status(
    status: int, upstream_type: str, anthropic_type: str
) -> None:
    body = error_body(Dialect.ANTHROPIC, status, "m", error_type=upstream_type)
    assert body["error"]["type"] == anthropic_type


def test_anthropic_only_types_become_openai_types_keeping_the_original_as_code() -> None:
    assert error_body(Dialect.OPENAI, 529, "m", error_type="overloaded_error")["error"] == {
        "message": "m",
        "type": "server_error",
        "param": None,
        "code": "overloaded_error",
    }
    kept = error_body(Dialect.OPENAI, 429, "m", error_type="usage_limit_reached")["error"]
    assert (kept["type"], kept["code"]) == ("usage_limit_reached", "rate_limit_exceeded")


class ChatRequest(BaseModel):
    model: str
    max_tokens: int = 16


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> dict[str, str]:
        return {"model": body.model}

    @app.post("/claude/v1/messages")
    async def messages(body: ChatRequest) -> dict[str, str]:
        return {"model": body.model}

    @app.get("/v1/limited")
    async def limited() -> None:
        raise HTTPException(
            429, detail="Upstream rate limit reached", headers={"Retry-After": "12"}
        )

    @app.get("/v1/boom")
    async def boom(request: Request) -> None:
        request.state.request_id = "req_42"
        raise RuntimeError("secret internals: sk-ant-oat01-AAAABBBBCCCCDDDD")

    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # Starlette re-raises unhandled errors after the 500 for the server to see; the client
    # should see only the response.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


async def test_unknown_route_is_404_in_each_dialect() -> None:
    async with client_for(make_app()) as client:
        openai = await client.get("/v1/nope")
        anthropic = await client.get("/v1/nope", headers=ANTHROPIC)
    assert openai.status_code == anthropic.status_code == 404
    assert openai.json() == {
        "error": {
            "message": "Not found: GET /v1/nope",
            "type": "not_found_error",
            "param": None,
            "code": None,
        }
    }
    assert anthropic.json() == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Not found: GET /v1/nope"},
    }


async def test_wrong_method_is_405_with_allow_header() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/claude/v1/messages")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Method GET is not allowed for /claude/v1/messages",
    }


async def test_http_exception_keeps_detail_and_headers() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/v1/limited", headers=ANTHROPIC)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "12"
    assert response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Upstream rate limit reached"},
    }


async def test_validation_error_is_400_naming_fields_without_echoing_values() -> None:
    secret = "sk-proj-SuperSecretValue0123456789"
    async with client_for(make_app()) as client:
        openai = await client.post("/v1/chat/completions", json={"max_tokens": secret})
        anthropic = await client.post("/claude/v1/messages", json={"model": ["x"]})
    assert openai.status_code == anthropic.status_code == 400
    error = openai.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "model"
    assert error["message"].startswith("Invalid request: model: Field required; max_tokens: ")
    assert secret not in openai.text
    assert anthropic.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Invalid request: model: Input should be a valid string",
        },
    }


async def test_malformed_json_is_400() -> None:
    async with client_for(make_app()) as client:
        response = await client.post(
            "/claude/v1/messages",
            content=b'{"model": ',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("Invalid request: request body is not valid JSON")


async def test_unhandled_exception_is_generic_500_and_logged_with_traceback() -> None:
    with capture_logs() as events:
        async with client_for(make_app()) as client:
            openai = await client.get("/v1/boom")
            anthropic = await client.get("/v1/boom", headers=ANTHROPIC)
    assert openai.status_code == anthropic.status_code == 500
    assert openai.json() == {
        "error": {
            "message": "Internal server error (request id req_42)",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert anthropic.json()["error"] == {
        "type": "api_error",
        "message": "Internal server error (request id req_42)",
    }
    assert "secret internals" not in openai.text + anthropic.text
    logged = [e for e in events if e["event"] == "unhandled_exception"]
    assert len(logged) == 2
    assert isinstance(logged[0]["exc_info"], RuntimeError)
    assert logged[0]["request_id"] == "req_42"
    assert logged[0]["path"] == "/v1/boom"
