"""Several Claude accounts: files in the accounts folder, picked up while serving, and the CLI.

The server runs on real uvicorn; the fake upstream limits the default account's window so the
pool has to fail over to an account that was added after start-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ccproxy.testing import AccountWindows, FakeAnthropic, LiveServer
from claude_cli_kit import AUTHORIZE, LineFeed, printed, run_cli
from claude_kit import ClaudeWorld, accounts_folder, write_account

pytestmark = pytest.mark.timeout(60)

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Hi"}],
}
HEADERS = {"anthropic-version": "2023-06-01"}
#: The rescan runs every 2 s; the promise is 5.
PICKUP_SECONDS = 5.0


async def rows(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    body = (await client.get("/api/accounts")).json()
    return {row["name"]: row for row in body["claude"]}


async def until_listed(client: httpx.AsyncClient, names: set[str]) -> float:
    """Seconds until ``GET /api/accounts`` lists exactly ``names`` (fails after the promise)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while set(await rows(client)) != names:
        assert loop.time() - started < PICKUP_SECONDS, f"{names} not listed in time"
        await asyncio.sleep(0.1)
    return loop.time() - started


async def test_an_account_added_while_serving_takes_over_when_the_default_cools_down(
    world: ClaudeWorld,
) -> None:
    default = world.write_credentials()
    windows = AccountWindows({default["access_token"]: 1})
    world.anthropic = FakeAnthropic(oauth=world.oauth, account_windows=windows)
    world.claude = {"account_strategy": "fill_first"}
    async with world.app() as app, LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            first = await client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
            work = write_account(world, "work")
            await until_listed(client, {"default", "work"})
            failed_over = await client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
            direct = await client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
            listed = await rows(client)
            (accounts_folder() / "work.json").unlink()
            await until_listed(client, {"default"})
            cooling = await client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
    assert [r.status_code for r in (first, failed_over, direct)] == [200, 200, 200]
    assert windows.refused == {default["access_token"]: 1}  # one try on the full account
    assert windows.served == {default["access_token"]: 1, work["access_token"]: 2}
    assert listed["default"]["state"] == "cooling_down"
    assert listed["default"]["cooldown_until"] is not None
    assert listed["work"]["state"] == "ready"
    assert listed["work"]["credentials"]["path"] == str(accounts_folder() / "work.json")
    for secret in (default["access_token"], work["access_token"], work["refresh_token"]):
        assert secret not in json.dumps(listed)
    # Only the cooling default is left: 429 in the client's dialect, no upstream call.
    assert cooling.status_code == 429
    assert cooling.json()["error"]["type"] == "rate_limit_error"
    assert int(cooling.headers["retry-after"]) > 3600
    assert sum(windows.refused.values()) + sum(windows.served.values()) == 4


async def test_login_status_and_logout_of_a_named_account(world: ClaudeWorld) -> None:
    world.write_credentials()
    stdin = LineFeed()
    async with LiveServer(world.oauth) as oauth_server:
        sets = [
            "--set",
            f"plugins.oauth_claude.token_url={oauth_server.url}/v1/oauth/token",
            "--set",
            f"plugins.oauth_claude.credentials_file={world.credentials_path}",
            "--set",
            "server.port=1",  # no server there: the state comes from the files
        ]
        task = asyncio.create_task(
            run_cli(["login", "--no-browser", "--account", "work", *sets], stdin=stdin)
        )
        url = (await printed(AUTHORIZE))[0]
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = world.oauth.issue_code(
            code_challenge=query["code_challenge"],
            state=query["state"],
            redirect_uri=query["redirect_uri"],
        )
        stdin.feed(f"{code}#{query['state']}")
        login = await task
        mode = stat.S_IMODE((accounts_folder() / "work.json").stat().st_mode)
        status = await run_cli(["status", *sets])
        as_json = await run_cli(["status", "--json", *sets])
        logout = await run_cli(["logout", "--account", "work", *sets])
        bad_name = await run_cli(["logout", "--account", "../etc", *sets])
    path = accounts_folder() / "work.json"
    assert login.exit_code == 0, login.output
    assert f"Credentials of account 'work' saved to {path}" in login.output
    assert mode == 0o600
    assert status.exit_code == 0, status.output
    assert "Claude accounts (2):" in status.output
    table = status.output.splitlines()
    header = next(line for line in table if line.startswith("ACCOUNT"))
    assert header.split() == [
        "ACCOUNT",
        "STATE",
        "PLAN",
        "TOKEN",
        "EXPIRES",
        "COOLING",
        "DOWN",
        "UNTIL",
    ]
    # A fresh login's reply names no plan (Claude Code learns it from the profile later).
    assert any(line.split()[:3] == ["work", "ready", "-"] for line in table), status.output
    assert any(line.split()[:3] == ["default", "ready", "max"] for line in table)
    body = json.loads(as_json.stdout)
    assert [row["name"] for row in body["claude"]] == ["default", "work"]
    assert logout.exit_code == 0, logout.output
    assert f"Removed Claude account 'work' ({path})" in logout.output
    assert not path.exists()
    assert list(accounts_folder().iterdir()) == []  # no lock file left behind either
    assert world.credentials_path.exists()  # the default account is untouched
    assert bad_name.exit_code == 2
    assert "invalid account name '../etc'" in bad_name.output


async def test_a_new_account_file_is_private(world: ClaudeWorld) -> None:
    world.write_credentials()
    async with LiveServer(world.oauth) as oauth_server:
        refreshed = write_account(world, "spare")
        (accounts_folder() / "spare.json").chmod(0o644)
        result = await run_cli(
            [
                "refresh",
                "--account",
                "spare",
                "--set",
                f"plugins.oauth_claude.token_url={oauth_server.url}/v1/oauth/token",
            ]
        )
    path = accounts_folder() / "spare.json"
    assert result.exit_code == 0, result.output
    assert "Refreshed the Claude access token of account 'spare'." in result.output
    stored = json.loads(path.read_text())["claudeAiOauth"]
    assert stored["refreshToken"] != refreshed["refresh_token"]  # rotated and saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_with_redis_a_refresh_waits_for_the_lock_another_host_holds(
    world: ClaudeWorld, redis_url: str
) -> None:
    from ccproxy.plugins import SharedState
    from ccproxy.state import RedisState

    prefix = f"test-{os.getpid()}-{id(world)}:"
    world.state = {"redis_url": redis_url, "key_prefix": prefix}
    expired = world.write_credentials(expires_in=-60)
    other_host: SharedState = RedisState(redis_url, key_prefix=prefix)
    try:
        async with world.app() as app, LiveServer(app) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                lock = other_host.lock("refresh:claude:default", lease_seconds=30, wait_seconds=5)
                async with lock:
                    pending = asyncio.create_task(
                        client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
                    )
                    await asyncio.sleep(1.0)
                    waited = not pending.done() and world.oauth.refresh_count == 0
                answer = await pending
    finally:
        await other_host.aclose()
    assert waited  # no refresh while another host held the lock
    assert answer.status_code == 200
    assert world.oauth.refresh_count == 1
    stored = world.read_credentials()["claudeAiOauth"]
    assert stored["refreshToken"] != expired["refresh_token"]  # rotated once, saved


async def test_the_refresh_command_waits_for_the_lock_a_server_holds(
    world: ClaudeWorld, redis_url: str
) -> None:
    from ccproxy.plugins import SharedState
    from ccproxy.state import RedisState

    prefix = f"cli-{os.getpid()}-{id(world)}:"
    stored = world.write_credentials()
    server: SharedState = RedisState(redis_url, key_prefix=prefix)
    try:
        async with LiveServer(world.oauth) as oauth_server:
            args = [
                "refresh",
                "--set",
                f"plugins.oauth_claude.token_url={oauth_server.url}/v1/oauth/token",
                "--set",
                f"plugins.oauth_claude.credentials_file={world.credentials_path}",
                "--set",
                f"state.redis_url={redis_url}",
                "--set",
                f"state.key_prefix={prefix}",
            ]
            async with server.lock("refresh:claude:default", lease_seconds=30, wait_seconds=5):
                pending = asyncio.create_task(run_cli(args))
                await asyncio.sleep(1.0)
                waited = not pending.done() and world.oauth.refresh_count == 0
            result = await pending
    finally:
        await server.aclose()
    assert waited  # the command did not refresh while a server held the account's lock
    assert result.exit_code == 0, result.output
    assert world.oauth.refresh_count == 1
    assert world.read_credentials()["claudeAiOauth"]["refreshToken"] != stored["refresh_token"]
    assert redis_url not in result.output
