"""Hostile and broken input on every ``/codex`` route, and upstreams that fail: answers stay in
the client's dialect, with a 4xx for the client's mistakes and never a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from ccproxy.testing import LiveServer, Reply, app_client
from codex_kit import Setup, codex_app, upstream_bodies

DEEP = b'{"model":"gpt-5","input":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
BAD_UTF8 = b'{"model":"gpt-5","input":"caf\xe9"}'
USER_HI = {"role": "user", "content": "Hi"}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ready = Setup(tmp_path)
    ready.write_credentials()
    return ready


async def test_count_tokens_answers_unparseable_bodies_with_400(setup: Setup) -> None:
    async with codex_app(setup) as app, app_client(app) as client:
        answers = [
            await client.post(
                "/codex/v1/messages/count_tokens",
                content=raw,
                headers={"content-type": "application/json"},
            )
            for raw in (DEEP, BAD_UTF8, b'{"messages":[],"n":' + b"9" * 5000 + b"}")
        ]
    for response in answers:
        assert response.status_code == 400
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert "nested more than 128 levels" in answers[0].json()["error"]["message"]
    assert "UTF-8" in answers[1].json()["error"]["message"]
    assert "digits" in answers[2].json()["error"]["message"]


async def test_count_tokens_refuses_unknown_roles_and_wrong_types(setup: Setup) -> None:
    turns = [{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}]
    async with codex_app(setup) as app, app_client(app) as client:
        role = await client.post(
            "/codex/v1/messages/count_tokens", json={"model": "m", "messages": turns}
        )
        tools = await client.post(
            "/codex/v1/messages/count_tokens",
            json={"model": "m", "messages": turns[:1], "tools": "Bash"},
        )
    assert role.status_code == 400
    assert "messages.1.role: unknown role 'critic'" in role.json()["error"]["message"]
    assert tools.status_code == 400
    assert "tools" in tools.json()["error"]["message"]


async def test_websocket_frames_the_parser_chokes_on_get_an_error_event(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("still here"))
    async with codex_app(setup) as app, LiveServer(app) as server:
        url = server.url.replace("http://", "ws://") + "/codex/v1/responses"
        async with connect(url, max_size=None) as ws:
            await ws.send(b'{"type":"response.create",' + DEEP[1:])
            deep = json.loads(await ws.recv(decode=True))
            await ws.send(b'{"type":"response.create",' + BAD_UTF8[1:])
            bad_utf8 = json.loads(await ws.recv(decode=True))
            await ws.send(json.dumps({"type": "response.create", "model": "gpt-5", "input": "hi"}))
            events = [json.loads(await ws.recv(decode=True))]
            while events[-1]["type"] not in ("response.completed", "error"):
                events.append(json.loads(await ws.recv(decode=True)))
    assert (deep["type"], deep["status"]) == ("error", 400)
    assert "nested more than 128 levels" in deep["error"]["message"]
    assert (bad_utf8["type"], bad_utf8["status"]) == ("error", 400)
    assert "UTF-8" in bad_utf8["error"]["message"]
    assert events[-1]["type"] == "response.completed"
    assert len(upstream_bodies(setup.fake)) == 1


async def test_an_unknown_role_on_messages_is_a_400_naming_the_field(setup: Setup) -> None:
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "narrator", "content": "Meanwhile"},
    ]
    async with codex_app(setup) as app, app_client(app) as client:
        response = await client.post(
            "/codex/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": turns},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "messages.2.role: unknown role 'narrator'" in error["message"]
    assert setup.fake.requests == []


async def test_a_codex_429_on_messages_is_an_anthropic_rate_limit_error(setup: Setup) -> None:
    setup.fake.enqueue(Reply.error(429, message="You have hit your usage limit.", retry_after=90))
    async with codex_app(setup) as app, app_client(app) as client:
        response = await client.post(
            "/codex/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": [USER_HI]},
        )
    assert response.status_code == 429
    assert response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "You have hit your usage limit."},
    }
    assert response.headers["retry-after"] == "90"


async def test_codex_detail_errors_on_responses_become_openai_errors(setup: Setup) -> None:
    setup.fake.enqueue(Reply.error(400, body={"detail": "Unsupported parameter: max_tokens"}))
    async with codex_app(setup) as app, app_client(app) as client:
        response = await client.post(
            "/codex/v1/responses", json={"model": "gpt-5", "input": "hi", "max_tokens": 5}
        )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Unsupported parameter: max_tokens",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
