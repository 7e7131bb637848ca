"""``ccproxy auth login claude``: pasted CODE#STATE and the localhost callback, against the fake."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ccproxy.testing import FakeClaudeOAuth, LiveServer
from claude_cli_kit import AUTHORIZE, LineFeed, printed, run_cli

REDIRECT = "https://platform.claude.com/oauth/code/callback"
SCOPES = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"


def options(server: LiveServer, credentials: Path) -> list[str]:
    return [
        "--set",
        f"plugins.oauth_claude.token_url={server.url}/v1/oauth/token",
        "--set",
        f"plugins.oauth_claude.credentials_file={credentials}",
    ]


def authorize_query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def assert_logged_in(oauth: FakeClaudeOAuth, credentials: Path, output: str) -> dict[str, object]:
    stored = json.loads(credentials.read_text())
    tokens = stored["claudeAiOauth"]
    assert oauth.is_valid_access_token(tokens["accessToken"])
    assert oauth.token_status(tokens["refreshToken"]) == "valid"
    assert tokens["scopes"] == SCOPES.split()
    assert tokens["ccproxyAccount"] == "fake@example.com"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert tokens["accessToken"] not in output
    assert tokens["refreshToken"] not in output
    assert "Logged in to Claude as fake@example.com." in output
    assert str(credentials) in output
    return stored


async def test_login_with_pasted_code_and_state(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    credentials = tmp_path / "claude" / ".credentials.json"
    credentials.parent.mkdir()
    credentials.write_text(json.dumps({"otherKey": {"kept": True}}))
    stdin = LineFeed()
    async with LiveServer(oauth) as server:
        task = asyncio.create_task(
            run_cli(["login", "--no-browser", *options(server, credentials)], stdin=stdin)
        )
        url = (await printed(AUTHORIZE))[0]
        query = authorize_query(url)
        code = oauth.issue_code(
            code_challenge=query["code_challenge"], state=query["state"], redirect_uri=REDIRECT
        )
        stdin.feed(f"{code}#{query['state']}")
        result = await task
    assert result.exit_code == 0, result.output
    assert url.startswith("https://claude.com/cai/oauth/authorize?")
    assert query == {
        "code": "true",
        "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": query["state"],
        "code_challenge": query["code_challenge"],
        "code_challenge_method": "S256",
    }
    stored = assert_logged_in(oauth, credentials, result.output)
    assert stored["otherKey"] == {"kept": True}
    [exchange] = oauth.requests
    assert exchange.headers["content-type"] == "application/json"
    assert exchange.json["grant_type"] == "authorization_code"
    assert exchange.json["state"] == query["state"]
    assert exchange.json["redirect_uri"] == REDIRECT
    assert code not in result.output


async def test_login_refuses_a_foreign_state(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    credentials = tmp_path / ".credentials.json"
    stdin = LineFeed()
    async with LiveServer(oauth) as server:
        task = asyncio.create_task(
            run_cli(["login", "--no-browser", *options(server, credentials)], stdin=stdin)
        )
        query = authorize_query((await printed(AUTHORIZE))[0])
        code = oauth.issue_code(code_challenge=query["code_challenge"], state=query["state"])
        stdin.feed(f"{code}#not-the-state")
        result = await task
    assert result.exit_code == 1
    assert "state does not match" in result.output
    assert oauth.requests == []  # nothing was exchanged
    assert not credentials.exists()


async def test_console_login_uses_the_console_page_and_scope(tmp_path: Path) -> None:
    stdin = LineFeed()
    async with LiveServer(FakeClaudeOAuth()) as server:
        task = asyncio.create_task(
            run_cli(
                ["login", "--console", "--no-browser", *options(server, tmp_path / "c.json")],
                stdin=stdin,
            )
        )
        url = (await printed(AUTHORIZE))[0]
        stdin.feed("just-a-code-without-state")
        result = await task
    assert url.startswith("https://platform.claude.com/oauth/authorize?")
    assert authorize_query(url)["scope"] == f"{SCOPES} org:create_api_key"
    assert result.exit_code == 1
    assert "CODE#STATE" in result.output


async def test_login_with_localhost_callback(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    credentials = tmp_path / ".claude" / ".credentials.json"
    async with LiveServer(oauth) as server:
        task = asyncio.create_task(
            run_cli(
                [
                    "login",
                    "--callback",
                    "--no-browser",
                    "--timeout",
                    "20",
                    *options(server, credentials),
                ]
            )
        )
        query = authorize_query((await printed(AUTHORIZE))[0])
        redirect = query["redirect_uri"]
        assert redirect.startswith("http://localhost:")
        assert redirect.endswith("/callback")
        code = oauth.issue_code(
            code_challenge=query["code_challenge"], state=query["state"], redirect_uri=redirect
        )
        async with httpx.AsyncClient() as browser:
            favicon = await browser.get(redirect.replace("/callback", "/favicon.ico"))
            page = await browser.get(redirect, params={"code": code, "state": query["state"]})
        result = await task
    assert favicon.status_code == 404
    assert page.status_code == 200
    assert "Login complete" in page.text
    assert result.exit_code == 0, result.output
    assert_logged_in(oauth, credentials, result.output)
    assert oauth.requests[-1].json["redirect_uri"] == redirect


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "forged", "code": "x"}, "state does not match"),
        ({"error": "access_denied"}, "access_denied"),
    ],
)
async def test_callback_refusals_end_the_login(
    tmp_path: Path, params: dict[str, str], message: str
) -> None:
    async with LiveServer(FakeClaudeOAuth()) as server:
        task = asyncio.create_task(
            run_cli(["login", "--callback", "--no-browser", *options(server, tmp_path / "c.json")])
        )
        redirect = authorize_query((await printed(AUTHORIZE))[0])["redirect_uri"]
        async with httpx.AsyncClient() as browser:
            page = await browser.get(redirect, params=params)
        result = await task
    assert page.status_code == 400
    assert result.exit_code == 1
    assert message in result.output


async def test_callback_login_times_out(tmp_path: Path) -> None:
    async with LiveServer(FakeClaudeOAuth()) as server:
        result = await run_cli(
            [
                "login",
                "--callback",
                "--no-browser",
                "--timeout",
                "1",
                *options(server, tmp_path / "c.json"),
            ]
        )
    assert result.exit_code == 1
    assert "no redirect reached http://localhost:" in result.output
