"""``oauth_codex`` in the running app: missing credentials, refresh, status route, no secrets logged."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from ccproxy.testing import Reply, app_client
from codex_kit import Setup, codex_app, openai_sdk, upstream_bodies

MESSAGES_BODY = {
    "model": "claude-opus-4-8",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}


async def test_without_credentials_every_route_answers_401_in_the_client_dialect(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)  # no auth.json at all
    async with codex_app(setup) as app, app_client(app) as client:
        messages = await client.post(
            "/codex/v1/messages", json=MESSAGES_BODY, headers={"anthropic-version": "2023-06-01"}
        )
        chat = await client.post(
            "/codex/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
        )
        responses = await client.post("/codex/v1/responses", json={"model": "gpt-5", "input": "x"})
        health = await client.get("/health")
        status = await client.get("/api/plugins/status")
    assert messages.status_code == chat.status_code == responses.status_code == 401
    anthropic_error = messages.json()
    assert anthropic_error["type"] == "error"
    assert anthropic_error["error"]["type"] == "authentication_error"
    assert "ccproxy auth login codex" in anthropic_error["error"]["message"]
    for openai_error in (chat.json(), responses.json()):
        assert "ccproxy auth login codex" in openai_error["error"]["message"]
    assert health.status_code == 200
    checks = health.json()["checks"]
    assert checks["plugin:oauth_codex"][0]["status"] == "warn"
    assert "ccproxy auth login codex" in checks["plugin:oauth_codex"][0]["output"]
    assert checks["plugin:codex"][0]["status"] == "pass"
    plugins = {p["name"]: p for p in status.json()["plugins"]}
    assert plugins["codex"]["status"] == plugins["oauth_codex"]["status"] == "initialized"
    assert status.json()["services"]["oauth.codex"] == "oauth_codex"
    assert setup.fake.requests == []


async def test_twenty_concurrent_requests_on_an_expired_token_refresh_once(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)
    old = setup.write_credentials(expires_in=-60, OPENAI_API_KEY=None, custom_key={"kept": 1})
    async with codex_app(setup) as app:
        client = openai_sdk(app)
        replies = await asyncio.gather(
            *(client.responses.create(model="gpt-5", input=f"q{i}") for i in range(20))
        )
    assert setup.oauth.refresh_count == 1
    assert all(reply.output_text == "Hello from the fake." for reply in replies)
    stored = json.loads(setup.auth_file.read_text())
    assert stored["custom_key"] == {"kept": 1}
    assert stored["tokens"]["access_token"] != old["access_token"]
    assert stored["tokens"]["refresh_token"] != old["refresh_token"]
    assert stored["tokens"]["account_id"] == "acct-codex-fake"
    assert setup.auth_file.stat().st_mode & 0o777 == 0o600
    tokens = {r.bearer_token for r in setup.fake.requests}
    assert tokens == {stored["tokens"]["access_token"]}


async def test_an_upstream_401_refreshes_once_and_retries(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    creds = setup.write_credentials()
    setup.oauth.revoke(creds["access_token"])  # the file still looks valid
    setup.fake.enqueue(Reply.text("after refresh"))
    async with codex_app(setup) as app:
        reply = await openai_sdk(app).responses.create(model="gpt-5", input="hi")
    assert reply.output_text == "after refresh"
    assert setup.oauth.refresh_count == 1
    rejected, accepted = setup.fake.requests
    assert (rejected.status, accepted.status) == (401, 200)
    assert rejected.bearer_token == creds["access_token"]
    assert accepted.bearer_token != creds["access_token"]


async def test_status_route_reports_account_and_last_usage_windows_without_tokens(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)
    creds = setup.write_credentials()
    setup.fake.enqueue(
        Reply.text("x", headers={"x-codex-primary-used-percent": "61.5"}),
    )
    async with codex_app(setup) as app, app_client(app) as client:
        before = (await client.get("/oauth/codex/status")).json()
        await openai_sdk(app).responses.create(model="gpt-5", input="hi")
        response = await client.get("/oauth/codex/status")
    assert before["usage"] is None
    status = response.json()
    assert status["provider"] == "codex"
    assert status["credentials"]["account_id"] == "acct-codex-fake"
    assert status["credentials"]["plan"] == "pro"
    assert status["credentials"]["expires_at"]
    usage = status["usage"]
    assert usage["windows"]["primary"] == {
        "used_percent": 61.5,
        "window_minutes": 300,
        "reset_after_seconds": 3600,
    }
    assert usage["windows"]["secondary"]["window_minutes"] == 10080
    assert usage["account"] == "default"  # the account the pool chose, by name
    for secret in (creds["access_token"], creds["refresh_token"], creds["id_token"]):
        assert secret not in response.text


async def test_status_route_needs_the_proxy_token_when_one_is_set(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.write_credentials()
    async with (
        codex_app(setup, security={"auth_token": "proxy-secret"}) as app,
        app_client(app) as client,
    ):
        refused = await client.get("/oauth/codex/status")
        allowed = await client.get(
            "/oauth/codex/status", headers={"authorization": "Bearer proxy-secret"}
        )
    assert refused.status_code == 401
    assert allowed.status_code == 200


async def test_no_token_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    setup = Setup(tmp_path)
    old = setup.write_credentials(expires_in=-60)
    caplog.set_level(logging.DEBUG)
    async with codex_app(setup) as app:
        await openai_sdk(app).responses.create(model="gpt-5", input="hi")
        async with app_client(app) as client:
            await client.get("/oauth/codex/status")
    new = json.loads(setup.auth_file.read_text())["tokens"]
    assert setup.oauth.refresh_count == 1
    assert "token_refreshed" in caplog.text  # the refresh was logged...
    secrets = [old["access_token"], old["refresh_token"], old["id_token"]]
    secrets += [new["access_token"], new["refresh_token"], new["id_token"]]
    for secret in secrets:
        assert secret not in caplog.text  # ...without any token
    assert upstream_bodies(setup.fake)
