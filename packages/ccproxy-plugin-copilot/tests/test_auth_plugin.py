"""The ``oauth_copilot`` plugin in a running app: ``oauth.copilot`` and ``/oauth/copilot/status``.

Only the auth plugin is started (a fake entry point), so these tests need nothing of the
provider plugin.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from auth_kit import fake_sets, own_file, run_cli, write_hosts_json, write_own
from ccproxy.auth import CredentialError
from ccproxy.plugins import AccountSet, Settings, TokenSource, plugin_registry
from ccproxy.testing import FakeCopilot, LiveServer, app_client, fake_entry_point, started_app
from ccproxy_plugin_copilot.oauth import CopilotAuthRuntime, auth_factory


def settings_for(url: str) -> Settings:
    plugins = {"oauth_copilot": {"github_url": url, "github_api_url": url}}
    return Settings(plugins_disable_local_discovery=True, plugins=plugins)


ENTRY = fake_entry_point("oauth_copilot", auth_factory, distribution="ccproxy-plugin-copilot")


async def wait_for(predicate: Any) -> None:
    for _ in range(300):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_the_service_hands_out_copilot_tokens_and_status_shows_the_quota() -> None:
    fake = FakeCopilot(premium_remaining=250)
    github_token = fake.issue_github_token("octocat")
    write_hosts_json(github_token)
    work = fake.issue_github_token("mona")
    write_own(work, "mona", own_file().parent / "accounts" / "copilot" / "work.json")
    async with (
        LiveServer(fake) as github,
        started_app(settings_for(github.url), entry_points=[ENTRY]) as app,
        app_client(app) as client,
    ):
        registry = plugin_registry(app)
        service = registry.get_service("oauth.copilot", AccountSet)
        assert service is not None and set(service.accounts()) == {"default", "work"}
        default = service.accounts()["default"]
        assert isinstance(default, TokenSource)
        copilot_token = await default.access_token()
        assert copilot_token in fake.copilot_tokens
        assert default.account().api_base == fake.api_url
        runtime = registry.get_runtime("oauth_copilot")
        assert isinstance(runtime, CopilotAuthRuntime)
        await wait_for(lambda: len(runtime.quota()) == 2)  # read at start-up
        body = (await client.get("/oauth/copilot/status")).json()
        health = (await client.get("/health")).json()["checks"]["plugin:oauth_copilot"][0]
    text = json.dumps(body)
    for secret in (github_token, work, copilot_token):
        assert secret not in text
    assert body["provider"] == "copilot"
    assert body["credentials"]["exchanged"]["api_base"] == fake.api_url
    assert body["credentials"]["plan"] == "monthly_subscriber"
    assert body["accounts"]["work"]["exchanged"]["exchanges"] == 0  # not used yet
    quota = body["usage"]["accounts"]["default"]
    assert quota["user"] == "octocat" and quota["plan"] == "individual"
    assert quota["quota_reset_date"] == "2027-01-01"
    assert quota["quotas"]["premium_requests"]["remaining"] == 250
    assert body["usage"]["accounts"]["work"]["user"] == "mona"
    assert health["status"] == "pass"


async def test_a_revoked_token_is_reported_and_makes_the_account_unusable() -> None:
    fake = FakeCopilot()
    github_token = fake.issue_github_token()
    write_own(github_token)
    fake.revoke_github_token(github_token)
    async with (
        LiveServer(fake) as github,
        started_app(settings_for(github.url), entry_points=[ENTRY]) as app,
        app_client(app) as client,
    ):
        runtime = plugin_registry(app).get_runtime("oauth_copilot")
        assert isinstance(runtime, CopilotAuthRuntime)
        source = plugin_registry(app).get_service("oauth.copilot", TokenSource)
        assert source is not None
        with pytest.raises(CredentialError) as refused:  # the pipeline marks it invalid
            await source.access_token()
        assert refused.value.lasting is True
        await runtime.refresh_usage()
        body = (await client.get("/oauth/copilot/status")).json()
        health = (await client.get("/health")).json()["checks"]["plugin:oauth_copilot"][0]
    assert "HTTP 401" in body["usage"]["accounts"]["default"]["error"]
    assert body["credentials"]["exchanged"]["error_lasting"] is True
    assert health["status"] == "warn"
    assert github_token not in json.dumps(body)


async def test_auth_status_shows_the_quota_the_running_server_read() -> None:
    fake = FakeCopilot(premium_remaining=42)
    write_own(fake.issue_github_token("octocat"))
    async with (
        LiveServer(fake) as github,
        started_app(settings_for(github.url), entry_points=[ENTRY]) as app,
        LiveServer(app) as proxy,
    ):
        runtime = plugin_registry(app).get_runtime("oauth_copilot")
        assert isinstance(runtime, CopilotAuthRuntime)
        await wait_for(lambda: bool(runtime.quota()))
        status, output, errors = await run_cli(
            "status", "copilot", "--port", str(proxy.port), sets=fake_sets(github.url)
        )
    assert status == 0, errors
    assert f"(server at {proxy.url}" in output
    assert "  default:" in output
    assert "    premium requests: 42 of 300 left (14%), resets 2027-01-01" in output
