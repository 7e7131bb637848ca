"""The oauth.claude credential in the pipeline: refresh on 401, single flight, the file, tokens."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import anthropic
import openai
import pytest

from ccproxy.testing import FakeAnthropic
from claude_kit import ClaudeWorld, anthropic_sdk, http_client, openai_sdk, recorder

HI = [{"role": "user", "content": "Hi"}]
LOGIN = "ccproxy auth login claude"


async def ask(app: object) -> None:
    await anthropic_sdk(app).messages.create(  # type: ignore[arg-type]
        model="claude-sonnet-4-6",
        max_tokens=16,
        messages=HI,  # type: ignore[arg-type]
    )


async def test_rejected_token_is_refreshed_once_and_the_request_retried(
    world: ClaudeWorld,
) -> None:
    creds = world.write_credentials(
        mcpServers={"local": {"command": "x"}}, oauthAccount={"emailAddress": "a@b.c"}
    )
    data = world.read_credentials()
    data["claudeAiOauth"]["rateLimitTier"] = "default_claude_max_20x"
    world.credentials_path.write_text(json.dumps(data))
    world.oauth.expire_now(creds["access_token"])  # the upstream says no; the file still says yes
    async with world.app() as app:
        hook = recorder(app)
        await ask(app)
        await ask(app)
    assert world.oauth.refresh_count == 1
    statuses = [r.status for r in world.fake.requests]
    assert statuses == [401, 200, 200]
    stored = world.read_credentials()
    oauth = stored["claudeAiOauth"]
    assert oauth["accessToken"] != creds["access_token"]
    assert world.oauth.is_valid_access_token(oauth["accessToken"])
    assert world.fake.requests[-1].bearer_token == oauth["accessToken"]
    # the rotated refresh token is persisted; the old one is spent
    assert oauth["refreshToken"] != creds["refresh_token"]
    assert world.oauth.token_status(creds["refresh_token"]) == "used"
    assert world.oauth.token_status(oauth["refreshToken"]) == "valid"
    # Claude Code's keys survive, inside the entry and beside it; the file stays private
    assert oauth["rateLimitTier"] == "default_claude_max_20x"
    assert oauth["subscriptionType"] == "max"
    assert stored["mcpServers"] == {"local": {"command": "x"}}
    assert stored["oauthAccount"] == {"emailAddress": "a@b.c"}
    assert stat.S_IMODE(world.credentials_path.stat().st_mode) == 0o600
    assert [r.status_code for r in hook.records] == [200, 200]


async def test_twenty_concurrent_requests_on_a_rejected_token_refresh_once(
    world: ClaudeWorld,
) -> None:
    world.oauth.expire_now(world.access_token)
    async with world.app() as app:
        client = anthropic_sdk(app)
        replies = await asyncio.gather(
            *(
                client.messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=HI)  # type: ignore[arg-type]
                for _ in range(20)
            )
        )
    assert len(replies) == 20
    assert world.oauth.refresh_count == 1
    new_token = world.read_credentials()["claudeAiOauth"]["accessToken"]
    ok = [r for r in world.fake.requests if r.status == 200]
    assert len(ok) == 20
    assert {r.bearer_token for r in ok} == {new_token}


async def test_token_close_to_expiry_is_refreshed_before_the_request(tmp_path: Path) -> None:
    world = ClaudeWorld(home=tmp_path / "home")
    world.write_credentials(expires_in=60)  # inside the 300 s margin
    async with world.app() as app:
        await ask(app)
    assert world.oauth.refresh_count == 1
    assert [r.status for r in world.fake.requests] == [200]  # never sent the old token


@pytest.mark.parametrize("where", ["config", "env"])
async def test_long_lived_token_is_used_as_is_and_never_refreshed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    token = "sk-ant-oat01-long-lived-token-from-setup-token"
    world = ClaudeWorld(home=tmp_path / "home")
    world.anthropic = FakeAnthropic(oauth=world.oauth, accepted_tokens={token})
    if where == "config":
        world.oauth_settings = {"oauth_token": token}
    else:
        monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", token)
    async with world.app() as app:
        await ask(app)
        assert world.fake.last_request.bearer_token == token
        world.fake.accepted_tokens = set()  # now the upstream refuses it
        with pytest.raises(anthropic.AuthenticationError):
            await ask(app)
        async with http_client(app) as client:
            status = (await client.get("/oauth/claude/status")).json()
    assert world.oauth.refresh_count == 0
    assert not world.credentials_path.exists()  # nothing written for a static token
    assert status["credentials"]["path"] is None
    assert status["credentials"]["refreshable"] is False
    assert token not in json.dumps(status)


async def test_missing_credentials_give_401_with_the_login_hint_in_each_dialect(
    world: ClaudeWorld,
) -> None:
    world.credentials_path.unlink()
    async with world.app() as app:
        with pytest.raises(anthropic.AuthenticationError) as anthropic_error:
            await ask(app)
        with pytest.raises(openai.AuthenticationError) as openai_error:
            await openai_sdk(app).chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
        async with http_client(app) as client:
            health = (await client.get("/health")).json()
    for error in (anthropic_error.value, openai_error.value):
        assert error.status_code == 401
        assert LOGIN in error.message
    assert world.fake.requests == []
    [oauth_check] = health["checks"]["plugin:oauth_claude"]
    assert oauth_check["status"] == "warn"
    assert LOGIN in oauth_check["output"]
    assert str(world.credentials_path) in oauth_check["output"]
    assert health["status"] == "warn"


async def test_refresh_refused_gives_401_with_the_login_hint(world: ClaudeWorld) -> None:
    world.oauth.expire_now(world.access_token)
    world.oauth.revoke(world.creds["refresh_token"])
    async with world.app() as app:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await ask(app)
    assert LOGIN in caught.value.message
    assert world.oauth.refresh_count == 1


async def test_without_the_auth_plugin_requests_get_401_and_health_says_why(
    world: ClaudeWorld,
) -> None:
    world.disabled_plugins = ["oauth_claude"]
    async with world.app() as app:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await ask(app)
        async with http_client(app) as client:
            health = (await client.get("/health")).json()
    assert LOGIN in caught.value.message
    [check] = health["checks"]["plugin:claude"]
    assert check["status"] == "warn"
    assert "oauth_claude" in check["output"]


async def test_health_and_status_route_show_facts_but_no_token(world: ClaudeWorld) -> None:
    async with world.app() as app:
        await ask(app)
        async with http_client(app) as client:
            health = (await client.get("/health")).json()
            status = (await client.get("/oauth/claude/status")).json()
    [check] = health["checks"]["plugin:oauth_claude"]
    assert check["status"] == "pass"
    assert status["credentials"]["plan"] == "max"
    assert status["credentials"]["has_credentials"] is True
    assert status["rate_limits"]["anthropic-ratelimit-unified-5h-utilization"] == "0.12"
    assert status["rate_limits_seen_at"]
    text = json.dumps([health, status])
    assert world.access_token not in text
    assert world.creds["refresh_token"] not in text
