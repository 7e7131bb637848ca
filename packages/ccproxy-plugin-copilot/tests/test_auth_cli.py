"""``ccproxy auth login|status|refresh|logout copilot`` as a user runs them (a subprocess each),
against the fake GitHub on loopback."""

from __future__ import annotations

import asyncio
import json
import stat

import pytest

from auth_kit import (
    config,
    fake_sets,
    http_to,
    own_file,
    run_cli,
    start_cli,
    write_hosts_json,
    write_own,
)
from ccproxy.auth import PENDING, SLOW_DOWN, LoginError, TokenReply
from ccproxy.testing import FakeCopilot, LiveServer, free_port
from ccproxy_plugin_copilot.oauth_provider import oauth_provider

FAST_POLL = {"plugins.oauth_copilot.device_poll_interval_seconds": 0.05}


async def wait_for_polls(fake: FakeCopilot, count: int) -> None:
    for _ in range(400):
        if fake.device_poll_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {fake.device_poll_count} polls")


async def test_device_login_stores_the_github_token_0600() -> None:
    fake = FakeCopilot()
    async with LiveServer(fake) as server:
        cli = await start_cli("login", "copilot", sets={**fake_sets(server.url), **FAST_POLL})
        user_code = (await cli.read_until("enter the code:")).split(":", 1)[1].strip()
        await wait_for_polls(fake, 2)
        fake.approve(user_code, user="mona")
        status, output, errors = await cli.finish()
    assert status == 0, errors
    assert "https://github.com/login/device" in output
    assert "Logged in to GitHub Copilot as mona." in output
    assert f"Credentials saved to {own_file()}." in output
    stored = json.loads(own_file().read_text())["github.com"]
    assert stored["user"] == "mona" and stored["oauth_token"] in fake.github_tokens
    assert stat.S_IMODE(own_file().stat().st_mode) == 0o600
    assert stored["oauth_token"] not in output + errors
    start = next(r for r in fake.requests if r.path == "/login/device/code")
    assert start.form == {"client_id": "Iv1.b507a08c87ecfe98", "scope": "read:user"}
    assert fake.mint_count == 0  # the Copilot token is minted by the server, when needed


async def test_login_as_another_account_beside_an_editors_login() -> None:
    fake = FakeCopilot()
    editor = write_hosts_json(fake.issue_github_token("octocat"))
    before = editor.read_text()
    async with LiveServer(fake) as server:
        sets = {**fake_sets(server.url), **FAST_POLL}
        refused = await run_cli("login", "copilot", sets=sets)
        cli = await start_cli("login", "copilot", "--account", "work", sets=sets)
        user_code = (await cli.read_until("enter the code:")).split(":", 1)[1].strip()
        fake.approve(user_code, user="mona-work")
        status, output, errors = await cli.finish()
    assert refused[0] == 1 and "only reads and never rewrites" in refused[2]
    assert "--account NAME" in refused[2]
    assert status == 0, errors
    account = own_file().parent / "accounts" / "copilot" / "work.json"
    assert f"Credentials of account 'work' saved to {account}" in output
    assert json.loads(account.read_text())["github.com"]["user"] == "mona-work"
    assert stat.S_IMODE(account.stat().st_mode) == 0o600
    assert editor.read_text() == before


async def test_a_denied_login_stores_nothing() -> None:
    fake = FakeCopilot()
    async with LiveServer(fake) as server:
        cli = await start_cli("login", "copilot", sets={**fake_sets(server.url), **FAST_POLL})
        fake.deny((await cli.read_until("enter the code:")).split(":", 1)[1].strip())
        status, _, errors = await cli.finish()
    assert status == 1 and "the login was denied on GitHub" in errors
    assert not own_file().exists()


async def test_an_expired_device_code_stores_nothing() -> None:
    fake = FakeCopilot(device_lifetime_seconds=0.3)
    async with LiveServer(fake) as server:
        status, _, errors = await run_cli(
            "login", "copilot", sets={**fake_sets(server.url), **FAST_POLL}
        )
    assert status == 1 and "the device code expired" in errors
    assert fake.device_poll_count >= 2 and not own_file().exists()


async def test_slow_down_is_answered_as_slow_down_then_the_approval_as_the_token() -> None:
    """The poll answers core's ``SLOW_DOWN`` (core's loop then adds 5 s to the interval, tested
    there), ``PENDING`` while waiting, and the token reply itself once approved."""
    fake = FakeCopilot()
    cfg = config(device_poll_interval_seconds=0.5)
    async with http_to(fake) as http:
        device = await oauth_provider.start_device_login(cfg, http)
        fake.slow_down_next_poll()
        assert await oauth_provider.poll_device_login(cfg, http, device) is SLOW_DOWN
        assert await oauth_provider.poll_device_login(cfg, http, device) is PENDING
        fake.approve(fake.pending_user_codes[0])
        done = await oauth_provider.poll_device_login(cfg, http, device)
    assert isinstance(done, TokenReply) and done.extra["user"] == "octocat"
    assert "access_token" not in repr(done.extra)


async def test_status_shows_user_plan_and_premium_quota_without_tokens() -> None:
    fake = FakeCopilot(plan="business", premium_entitlement=300, premium_remaining=120)
    github_token = fake.issue_github_token("mona")
    write_own(github_token, "mona")
    async with LiveServer(fake) as server:
        sets = {**fake_sets(server.url), "server.port": free_port()}
        status, output, errors = await run_cli("status", "copilot", sets=sets)
    assert status == 0, errors
    assert f"GitHub Copilot credentials: {own_file()}" in output
    assert "GitHub user:      mona" in output
    assert "  refresh: not needed: short-lived API tokens are exchanged" in output
    assert "Copilot plan:     business" in output
    assert "premium requests: 120 of 300 left (40%), resets 2027-01-01" in output
    assert github_token not in output + errors
    assert fake.mint_count == 0


async def test_status_of_a_revoked_token_says_so() -> None:
    fake = FakeCopilot()
    github_token = fake.issue_github_token()
    write_own(github_token)
    fake.revoke_github_token(github_token)
    async with LiveServer(fake) as server:
        sets = {**fake_sets(server.url), "server.port": free_port()}
        _, output, errors = await run_cli("status", "copilot", sets=sets)
    assert "Copilot plan and quota: unknown" in output and "HTTP 401" in output
    assert github_token not in output + errors


async def test_refresh_mints_and_logout_leaves_an_editors_login_alone() -> None:
    fake = FakeCopilot()
    editor = write_hosts_json(fake.issue_github_token())
    before = editor.read_text()
    async with LiveServer(fake) as server:
        sets = fake_sets(server.url)
        refreshed = await run_cli("refresh", "copilot", sets=sets)
        logout = await run_cli("logout", "copilot", sets=sets)
        fake.revoke_github_token(json.loads(before)["github.com"]["oauth_token"])
        refused = await run_cli("refresh", "copilot", sets=sets)
    assert refreshed[0] == 0, refreshed[2]
    assert "Refreshed the GitHub Copilot access token." in refreshed[1]
    assert fake.mint_count == 1
    assert logout[0] == 0 and "copilot.lua)'s login: ccproxy only reads it" in logout[1]
    assert editor.read_text() == before
    assert refused[0] == 1 and "GitHub refused the token" in refused[2]
    for _, out, err in (refreshed, logout, refused):
        assert not any(token in out + err for token in fake.github_tokens | fake.copilot_tokens)


async def test_logout_removes_ccproxys_own_token() -> None:
    path = write_own("gho_own_token")
    status, output, _ = await run_cli("logout", "copilot", sets=fake_sets("http://127.0.0.1:9"))
    assert status == 0
    assert f"Removed the GitHub Copilot tokens ('github.com') from {path}" in output
    assert "also" not in output  # ccproxy's own file: nobody else is logged out
    assert json.loads(path.read_text()) == {}


async def test_a_wrong_client_id_is_named_not_echoed() -> None:
    async with http_to(FakeCopilot()) as http:
        with pytest.raises(LoginError, match=r"GitHub refused the device login \(incorrect_client"):
            await oauth_provider.start_device_login(config(client_id="Iv1.wrong"), http)
