"""``ccproxy auth status|refresh|logout claude``, and the core's ``ccproxy auth`` dispatch to them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from typer.testing import CliRunner

from ccproxy.cli.main import app as ccproxy_app
from ccproxy.testing import LiveServer, free_port
from claude_cli_kit import run_cli
from claude_kit import ClaudeWorld, anthropic_sdk

HI = [{"role": "user", "content": "Hi"}]


def file_option(world: ClaudeWorld) -> list[str]:
    return ["--set", f"plugins.oauth_claude.credentials_file={world.credentials_path}"]


def no_server() -> list[str]:
    return ["--set", f"server.port={free_port()}"]


def assert_no_tokens(world: ClaudeWorld, output: str) -> None:
    """Neither the minted tokens nor whatever the file holds now appear in ``output``."""
    secrets = {world.creds["access_token"], world.creds["refresh_token"]}
    if world.credentials_path.exists():
        stored = world.read_credentials().get("claudeAiOauth", {})
        secrets |= {stored.get("accessToken"), stored.get("refreshToken")} - {None}
    for secret in secrets:
        assert secret not in output


async def test_status_without_a_server(world: ClaudeWorld) -> None:
    world.write_credentials(expires_in=8 * 3600)
    result = await run_cli(["status", *file_option(world), *no_server()])
    assert result.exit_code == 0, result.output
    output = result.output
    assert f"Claude credentials: {world.credentials_path}" in output
    assert "  plan:    max" in output
    assert "  expires: in 7 hours (" in output
    assert "  refresh: automatic (a refresh token is stored)" in output
    assert "Rate-limit windows: unknown, no server answered at http://127.0.0.1:" in output
    assert_no_tokens(world, output)


async def test_status_shows_the_running_servers_rate_limit_windows(world: ClaudeWorld) -> None:
    world.security = {"auth_token": "proxy-secret"}
    async with world.app() as app, LiveServer(app) as server:
        await anthropic_sdk(app, api_key="proxy-secret").messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16,
            messages=HI,  # type: ignore[arg-type]
        )
        result = await run_cli(
            [
                "status",
                *file_option(world),
                "--set",
                f"server.port={server.port}",
                "--set",
                "security.auth_token=proxy-secret",
            ]
        )
        refused = await run_cli(
            ["status", *file_option(world), "--set", f"server.port={server.port}"]
        )
    assert result.exit_code == 0, result.output
    assert f"Rate-limit windows (server at {server.url}, last seen " in result.output
    assert "overall: allowed, resets in 59 minutes" in result.output
    assert "5-hour window: allowed, 12% used, resets in 59 minutes" in result.output
    assert "refused the request (check security.auth_token)" in refused.output
    assert "proxy-secret" not in result.output
    assert_no_tokens(world, result.output)


async def test_status_finds_the_server_by_its_port_option(world: ClaudeWorld) -> None:
    async with world.app() as app, LiveServer(app) as server:
        configured = await run_cli(["status", *file_option(world), *no_server()])
        with_port = await run_cli(
            ["status", *file_option(world), *no_server(), "--port", str(server.port)]
        )
    assert "no server answered" in configured.output
    assert f"Rate-limit windows (server at {server.url}): none seen yet" in with_port.output


async def test_status_without_credentials_says_how_to_log_in(world: ClaudeWorld) -> None:
    world.credentials_path.unlink()
    result = await run_cli(["status", *file_option(world), *no_server()])
    assert result.exit_code == 1
    assert "  not logged in: no credentials stored there" in result.output
    assert "  log in with `ccproxy auth login claude`" in result.output


async def test_status_of_a_long_lived_token_never_shows_it(world: ClaudeWorld) -> None:
    token = "sk-ant-oat01-long-lived-secret-value"
    result = await run_cli(
        ["status", "--set", f'plugins.oauth_claude.oauth_token="{token}"', *no_server()]
    )
    assert result.exit_code == 0, result.output
    assert "a long-lived token from plugins.oauth_claude.oauth_token" in result.output
    assert "refresh:  never" in result.output
    assert token not in result.output


async def test_status_json_without_a_server_is_the_routes_shape_from_the_files(
    world: ClaudeWorld,
) -> None:
    result = await run_cli(["status", "--json", *file_option(world), *no_server()])
    body = json.loads(result.stdout)
    [row] = body["claude"]
    assert (row["name"], row["state"], row["cooldown_until"]) == ("default", "ready", None)
    assert row["credentials"]["plan"] == "max"
    assert result.stderr.startswith("ccproxy: state from the files alone: no server answered")
    assert_no_tokens(world, result.output)


async def test_refresh_rotates_and_persists(world: ClaudeWorld) -> None:
    world.write_credentials(mcpServers={"kept": True})
    async with LiveServer(world.oauth) as oauth:
        result = await run_cli(
            [
                "refresh",
                *file_option(world),
                "--set",
                f"plugins.oauth_claude.token_url={oauth.url}/v1/oauth/token",
            ]
        )
    assert result.exit_code == 0, result.output
    assert "Refreshed the Claude access token." in result.output
    assert world.oauth.refresh_count == 1
    stored = world.read_credentials()
    assert stored["mcpServers"] == {"kept": True}
    assert world.oauth.is_valid_access_token(stored["claudeAiOauth"]["accessToken"])
    assert world.oauth.token_status(world.creds["refresh_token"]) == "used"
    assert stat.S_IMODE(world.credentials_path.stat().st_mode) == 0o600
    assert_no_tokens(world, result.output)


async def test_refresh_of_a_long_lived_token_is_refused(world: ClaudeWorld) -> None:
    result = await run_cli(
        ["refresh", "--set", 'plugins.oauth_claude.oauth_token="sk-ant-oat01-abcdefabcdef"']
    )
    assert result.exit_code == 1
    assert "cannot be refreshed" in result.output
    assert world.oauth.refresh_count == 0


async def test_logout_removes_only_the_claude_tokens(world: ClaudeWorld) -> None:
    world.write_credentials(mcpServers={"kept": True}, otherTool={"x": 1})
    first = await run_cli(["logout", *file_option(world)])
    second = await run_cli(["logout", *file_option(world)])
    assert first.exit_code == 0, first.output
    assert world.read_credentials() == {"mcpServers": {"kept": True}, "otherTool": {"x": 1}}
    assert "Removed the Claude tokens ('claudeAiOauth')" in first.output
    assert "kept its 2 other keys" in first.output
    assert "Claude Code's" in first.output
    assert "nothing to remove" in second.output
    assert stat.S_IMODE(world.credentials_path.stat().st_mode) == 0o600


def test_core_auth_command_dispatches_to_this_plugin(world: ClaudeWorld) -> None:
    result = CliRunner().invoke(
        ccproxy_app, ["auth", "status", "claude", *file_option(world), *no_server()]
    )
    assert result.exit_code == 0, result.output
    assert f"Claude credentials: {world.credentials_path}" in result.output
    helped = CliRunner().invoke(ccproxy_app, ["auth", "login", "claude", "--help"])
    assert helped.exit_code == 0
    for option in ("--console", "--no-browser", "--callback", "--timeout"):
        assert option in helped.output


def test_help_does_not_import_this_plugin() -> None:
    """``ccproxy --help`` and ``ccproxy auth --help`` list providers from metadata alone; the
    provider description is imported only when one of its commands runs."""
    code = (
        "import sys; from typer.testing import CliRunner; from ccproxy.cli.main import app; "
        "[CliRunner().invoke(app, args) for args in (['--help'], ['auth', '--help'])]; "
        "print([m for m in sys.modules if m.startswith('ccproxy_plugin_claude')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"


def test_window_lines_use_the_words_codex_uses() -> None:
    from ccproxy_plugin_claude.rate_limits import rate_limit_lines

    lines = rate_limit_lines(
        {
            "anthropic-ratelimit-unified-5h-utilization": "0.12",
            "anthropic-ratelimit-unified-7d-utilization": "0.03",
            "anthropic-ratelimit-unified-7d_opus-utilization": "0.5",
        },
        now=0,
    )
    assert lines == [
        "  5-hour window: 12% used",
        "  weekly window: 3% used",
        "  weekly window (opus): 50% used",
    ]
