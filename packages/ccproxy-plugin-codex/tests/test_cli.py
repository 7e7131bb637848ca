"""``ccproxy auth login|status|refresh|logout codex`` as a user runs them (a subprocess each).

The fake OAuth server and, for ``status``, the proxy itself run on loopback in the test's event
loop; the CLI finds its credential file through ``HOME`` (the default ``~/.codex/auth.json``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ccproxy.testing import FakeCodexOAuth, LiveServer, free_port
from codex_kit import Setup, codex_app, openai_sdk

TIMEOUT = 20.0


class CLI:
    """One running ``python -m ccproxy auth ...`` with line-wise access to its output."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def read_until(self, predicate: str) -> str:
        """The first stdout line containing ``predicate`` (earlier lines are kept)."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            if not raw:
                raise AssertionError(f"output ended before {predicate!r}: {self.lines}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if predicate in line:
                return line

    async def finish(self) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.process.communicate(), TIMEOUT)
        text = "\n".join(self.lines) + ("\n" if self.lines else "") + out.decode()
        return self.process.returncode or 0, text, err.decode()


def cli_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".state"),
    }
    for name in ("CCPROXY_CONFIG", "OPENAI_API_KEY"):
        env.pop(name, None)
    return {k: v for k, v in env.items() if not k.startswith(("PLUGINS__", "SECURITY__"))}


async def start(home: Path, *args: str, sets: dict[str, object] | None = None) -> CLI:
    command = [sys.executable, "-m", "ccproxy", "auth", *args]
    for key, value in (sets or {}).items():
        command += ["--set", f"{key}={value}"]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=home,
        env=cli_env(home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return CLI(process)


async def run(
    home: Path, *args: str, sets: dict[str, object] | None = None
) -> tuple[int, str, str]:
    return await (await start(home, *args, sets=sets)).finish()


def oauth_sets(url: str) -> dict[str, object]:
    return {
        "plugins.oauth_codex.authorize_url": f"{url}/oauth/authorize",
        "plugins.oauth_codex.token_url": f"{url}/oauth/token",
        "plugins.oauth_codex.revoke_url": f"{url}/oauth/revoke",
        "plugins.oauth_codex.device_base_url": f"{url}/api/accounts",
    }


@asynccontextmanager
async def oauth_server(oauth: FakeCodexOAuth) -> AsyncIterator[str]:
    async with LiveServer(oauth) as server:
        yield server.url


def secrets_of(auth_file: Path) -> list[str]:
    tokens = json.loads(auth_file.read_text()).get("tokens") or {}
    return [tokens[k] for k in ("access_token", "refresh_token", "id_token") if k in tokens]


async def test_browser_login_with_the_local_callback(tmp_path: Path) -> None:
    oauth = FakeCodexOAuth()
    busy, fallback = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen()
    try:
        async with oauth_server(oauth) as url:
            cli = await start(
                tmp_path,
                "login",
                "codex",
                "--no-browser",
                sets={
                    **oauth_sets(url),
                    "plugins.oauth_codex.callback_port": busy,
                    "plugins.oauth_codex.callback_fallback_port": fallback,
                },
            )
            authorize = (await cli.read_until("/oauth/authorize?")).strip()
            query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
            redirect_uri = query["redirect_uri"]
            code = oauth.issue_code(
                code_challenge=query["code_challenge"], redirect_uri=redirect_uri
            )
            callback = f"http://127.0.0.1:{fallback}/auth/callback"
            async with httpx.AsyncClient() as browser:
                stale = await browser.get(callback, params={"code": code, "state": "other"})
                done = await browser.get(callback, params={"code": code, "state": query["state"]})
            status, output, errors = await cli.finish()
    finally:
        blocker.close()
    assert status == 0, errors
    assert authorize.startswith(f"{url}/oauth/authorize?")
    assert redirect_uri == f"http://localhost:{fallback}/auth/callback"  # 'busy' was taken
    assert query["response_type"] == "code"
    assert query["client_id"] == "app_EMoamEEZ73f0CkXaXp7hrann"
    assert query["scope"] == (
        "openid profile email offline_access api.connectors.read api.connectors.invoke"
    )
    assert query["code_challenge_method"] == "S256"
    assert query["id_token_add_organizations"] == "true"
    assert query["codex_cli_simplified_flow"] == "true"
    assert query["originator"] == "codex_cli_rs"
    assert stale.status_code == 400  # not this login's state: ignored, still waiting
    assert done.status_code == 200
    auth_file = tmp_path / ".codex" / "auth.json"
    stored = json.loads(auth_file.read_text())
    assert oauth.is_valid_access_token(stored["tokens"]["access_token"])
    assert stored["tokens"]["account_id"] == "acct-codex-fake"
    assert auth_file.stat().st_mode & 0o777 == 0o600
    assert "acct-codex-fake" in output
    assert "(plan pro)" in output
    for secret in [code, *secrets_of(auth_file)]:
        assert secret not in output + errors


async def test_device_login_polls_until_approved(tmp_path: Path) -> None:
    oauth = FakeCodexOAuth(device_interval=5)
    async with oauth_server(oauth) as url:
        cli = await start(
            tmp_path,
            "login",
            "codex",
            "--device",
            sets={**oauth_sets(url), "plugins.oauth_codex.device_poll_interval_seconds": 0.05},
        )
        code_line = await cli.read_until("enter the code:")
        user_code = code_line.split(":", 1)[1].strip()
        for _ in range(200):
            if oauth.device_poll_count >= 2:
                break
            await asyncio.sleep(0.02)
        oauth.approve_device(user_code)
        status, output, errors = await cli.finish()
    assert status == 0, errors
    assert "https://auth.openai.com/codex/device" in output
    assert oauth.device_poll_count >= 3  # pending twice, then approved
    assert oauth.exchange_count == 1
    auth_file = tmp_path / ".codex" / "auth.json"
    tokens = json.loads(auth_file.read_text())["tokens"]
    assert oauth.is_valid_access_token(tokens["access_token"])
    for secret in secrets_of(auth_file):
        assert secret not in output + errors


async def test_status_shows_the_account_and_the_running_servers_usage_windows(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)
    creds = setup.write_credentials()
    offline_port = free_port()
    status, offline, _ = await run(tmp_path, "status", "codex", sets={"server.port": offline_port})
    assert status == 0
    assert "  account: acct-codex-fake" in offline
    assert "  plan:    pro" in offline
    assert "  refresh: automatic (a refresh token is stored)" in offline
    assert (
        f"Rate-limit windows: unknown, no server answered at http://127.0.0.1:{offline_port}"
        in offline
    )
    token = {"security.auth_token": "proxy-secret"}
    async with (
        codex_app(setup, security={"auth_token": "proxy-secret"}) as app,
        LiveServer(app) as server,
    ):
        await openai_sdk(app, default_headers={"x-api-key": "proxy-secret"}).responses.create(
            model="gpt-5", input="hi"
        )
        status, online, errors = await run(
            tmp_path, "status", "codex", sets={"server.port": server.port, **token}
        )
        _, as_json, _ = await run(
            tmp_path, "status", "codex", "--json", sets={"server.port": server.port, **token}
        )
        _, no_token, _ = await run(tmp_path, "status", "codex", sets={"server.port": server.port})
    assert status == 0, errors
    assert "refused the request (check security.auth_token)" in no_token
    assert f"Rate-limit windows (server at {server.url}, last seen " in online
    assert "5-hour window: 12% used, resets in 1 hour" in online
    assert "weekly window: 3% used, resets in 1 day" in online
    [row] = json.loads(as_json)["codex"]  # what GET /api/accounts says of codex
    assert (row["name"], row["state"], row["credentials"]["plan"]) == ("default", "ready", "pro")
    assert float(row["windows"]["x-codex-primary-used-percent"]) == 12.0
    for secret in (creds["access_token"], creds["refresh_token"], creds["id_token"]):
        assert secret not in offline + online + as_json
    assert "proxy-secret" not in online + as_json


async def test_status_finds_the_server_by_its_port_option(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.write_credentials()
    async with codex_app(setup) as app, LiveServer(app) as server:
        _, output, _ = await run(
            tmp_path,
            "status",
            "codex",
            "--port",
            str(server.port),
            sets={"server.port": free_port()},
        )
    assert f"Rate-limit windows (server at {server.url}): none seen yet" in output


async def test_status_without_credentials_says_how_to_log_in(tmp_path: Path) -> None:
    status, output, _ = await run(tmp_path, "status", "codex", sets={"server.port": free_port()})
    assert status == 1
    assert "  not logged in: no credentials stored there" in output
    assert "  log in with `ccproxy auth login codex`" in output


async def test_refresh_rotates_the_tokens_in_the_file(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    old = setup.write_credentials()
    async with oauth_server(setup.oauth) as url:
        status, output, errors = await run(tmp_path, "refresh", "codex", sets=oauth_sets(url))
    assert status == 0, errors
    assert setup.oauth.refresh_count == 1
    tokens = json.loads(setup.auth_file.read_text())["tokens"]
    assert tokens["refresh_token"] != old["refresh_token"]
    assert setup.oauth.token_status(old["refresh_token"]) == "used"
    assert "Refreshed the Codex (ChatGPT) access token." in output
    assert "  account: acct-codex-fake" in output
    for secret in [*secrets_of(setup.auth_file), old["access_token"], old["refresh_token"]]:
        assert secret not in output + errors


async def test_logout_revokes_and_removes_only_the_tokens(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    creds = setup.write_credentials(preferred_auth_method="chatgpt")
    async with oauth_server(setup.oauth) as url:
        status, output, errors = await run(tmp_path, "logout", "codex", sets=oauth_sets(url))
        again, second_output, _ = await run(tmp_path, "logout", "codex", sets=oauth_sets(url))
    assert status == 0, errors
    assert setup.oauth.token_status(creds["refresh_token"]) == "revoked"
    assert setup.oauth.token_status(creds["access_token"]) == "revoked"
    stored = json.loads(setup.auth_file.read_text())
    assert "tokens" not in stored
    assert stored["preferred_auth_method"] == "chatgpt"
    assert "OPENAI_API_KEY" in stored
    assert "refresh token: revoked" in output
    assert "kept its 3 other keys" in output  # OPENAI_API_KEY, preferred_auth_method, last_refresh
    assert "Codex CLI" in output
    assert again == 0
    assert "nothing to remove" in second_output


@pytest.mark.parametrize("command", ["login", "logout"])
async def test_commands_reject_a_bad_configuration_value(tmp_path: Path, command: str) -> None:
    status, _, errors = await run(
        tmp_path, command, "codex", sets={"plugins.oauth_codex.refresh_margin_seconds": "soon"}
    )
    assert status == 2
    assert "plugins.oauth_codex.refresh_margin_seconds" in errors


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("set", "plugins.codex.base_url = 'notaurl' (from --set): Value error, no scheme"),
        (
            "env",
            "plugins.oauth_codex.token_url = 'ftp://auth.example/token' "
            "(from env PLUGINS__OAUTH_CODEX__TOKEN_URL): Value error, scheme 'ftp'",
        ),
        (
            "file",
            "plugins.codex.base_url = 'chatgpt.com/backend-api/codex' (from file {file}): "
            "Value error, no scheme",
        ),
    ],
)
async def test_serve_refuses_a_bad_url_naming_key_value_and_source(
    tmp_path: Path, how: str, expected: str
) -> None:
    env = cli_env(tmp_path)
    env["PLUGINS_DISABLE_LOCAL_DISCOVERY"] = "true"
    config = tmp_path / ".ccproxy.toml"
    command = [sys.executable, "-m", "ccproxy", "serve", "--port", "0"]
    if how == "set":
        command += ["--set", "plugins.codex.base_url=notaurl"]
    elif how == "env":
        env["PLUGINS__OAUTH_CODEX__TOKEN_URL"] = "ftp://auth.example/token"
    else:
        config.write_text('[plugins.codex]\nbase_url = "chatgpt.com/backend-api/codex"\n')
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2, err
    assert expected.format(file=config) in err.decode()
    assert "listening" not in err.decode()
