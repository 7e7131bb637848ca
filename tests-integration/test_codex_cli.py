"""The real Codex CLI and Claude Code CLI through ``ccproxy serve`` on the codex provider.

Each test runs the fake ChatGPT Codex backend and the fake OAuth server on loopback
(``LiveServer``, in the test's event loop), the real ``ccproxy serve`` as a subprocess with every
workspace plugin, and the pinned CLI, all in a temporary HOME whose ``.codex/auth.json`` holds the
fake's credentials. The fake first answers with a shell tool call the CLI runs, then with text;
the test checks the CLI printed the final text and that the fake's second request carried the
command's output as the tool result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ccproxy.testing import FakeCodex, FakeCodexOAuth, LiveServer, Reply, ToolCallSpec
from ccproxy.testing.fakes import RecordedRequest
from support import CLAUDE_CODE_QUIET, cli_binary, isolated_env, running_proxy

MARKER = "ccproxy-integration"
FINAL = "All done: ccproxy-codex-final"
CLI_TIMEOUT = 60.0


@asynccontextmanager
async def codex_stack(home: Path) -> AsyncIterator[tuple[str, FakeCodex]]:
    """Fakes on loopback, credentials in ``home``, ``ccproxy serve`` in front; yields its URL."""
    oauth = FakeCodexOAuth()
    fake = FakeCodex(oauth=oauth)
    creds = oauth.mint_credentials(expires_in=3600)
    auth_file = home / ".codex" / "auth.json"
    auth_file.parent.mkdir(parents=True)
    auth_file.write_text(json.dumps(oauth.auth_json(creds)))
    auth_file.chmod(0o600)
    async with LiveServer(fake) as backend, LiveServer(oauth) as auth:
        proxy = running_proxy(
            home,
            f"plugins.codex.base_url={backend.url}/backend-api/codex",
            f"plugins.oauth_codex.token_url={auth.url}/oauth/token",
            f"plugins.oauth_codex.revoke_url={auth.url}/oauth/revoke",
        )
        # running_proxy waits synchronously: keep the event loop (and the fakes) free meanwhile.
        url = await asyncio.to_thread(proxy.__enter__)
        try:
            yield url, fake
        finally:
            await asyncio.to_thread(proxy.__exit__, None, None, None)


async def run_cli(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a CLI to completion (stdin closed) within ``CLI_TIMEOUT`` seconds."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, stdout.decode(errors="replace"), stderr.decode(errors="replace")


def accepted(fake: FakeCodex) -> list[dict[str, Any]]:
    """The bodies of the agent loop's requests (the ones offering tools), in order."""
    return [
        r.json
        for r in fake.requests
        if r.status == 200 and isinstance(r.json, dict) and r.json.get("tools")
    ]


def script(fake: FakeCodex, call: ToolCallSpec) -> None:
    """Answer by content, so that a CLI's background request cannot take the scripted turn:
    a request carrying the tool's output gets the final text, one offering tools the call."""

    def reply(request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        items = body.get("input") or []
        if any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items):
            return Reply.text(FINAL)
        if body.get("tools"):
            return Reply.tool_calls([call])
        return Reply.text("background")

    fake.default_reply = Reply.text("background")
    fake.enqueue(*([reply] * 8))


def codex_config(proxy_url: str, *, websockets: bool = False) -> str:
    """``~/.codex/config.toml`` as the README documents it, minus the CLI's own network chatter
    (update check, analytics, plugin and app sync: none of it can reach anything here)."""
    provider_extra = "supports_websockets = true\n" if websockets else ""
    return (
        'model = "gpt-5"\n'
        'model_provider = "ccproxy"\n'
        "check_for_update_on_startup = false\n"
        "\n"
        "[features]\n"
        "plugins = false\n"
        "remote_plugin = false\n"
        "apps = false\n"
        "in_app_updates = false\n"
        "\n"
        "[analytics]\n"
        "enabled = false\n"
        "\n"
        "[model_providers.ccproxy]\n"
        'name = "ccproxy (ChatGPT subscription)"\n'
        f'base_url = "{proxy_url}/codex/v1"\n'
        'wire_api = "responses"\n'
        f"{provider_extra}"
    )


async def codex_exec_round_trip(tmp_path: Path, *, websockets: bool) -> str:
    """``codex exec`` with one tool round trip; returns the CLI's stderr (its log)."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    async with codex_stack(home) as (url, fake):
        # gpt-5 is a name the CLI has no metadata for: it sends plain function tools.
        script(fake, ToolCallSpec("exec_command", {"cmd": f"echo {MARKER}"}))
        (home / ".codex" / "config.toml").write_text(codex_config(url, websockets=websockets))
        code, out, err = await run_cli(
            [
                cli_binary("codex"),
                "exec",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "Run the echo command.",
            ],
            cwd=work,
            env=isolated_env(home, {"RUST_LOG": "codex_api=info"}),
        )
    assert code == 0, f"codex exec failed ({code}):\n{out}\n{err}"
    assert FINAL in out
    first, second = accepted(fake)
    assert first["model"] == second["model"] == "gpt-5"
    calls = [i for i in second["input"] if i.get("type") == "function_call"]
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert [c["name"] for c in calls] == ["exec_command"]
    assert outputs
    assert outputs[0]["call_id"] == calls[0]["call_id"]
    assert MARKER in str(outputs[0]["output"])
    # Native Responses traffic: the CLI's own session header reached the backend unchanged.
    [second_request] = [r for r in fake.requests if r.json is second]
    assert second_request.headers["session-id"] == second["prompt_cache_key"]
    return err


async def test_codex_cli_runs_a_tool_round_trip_through_the_codex_provider(
    tmp_path: Path,
) -> None:
    log = await codex_exec_round_trip(tmp_path, websockets=False)
    assert "Responses WebSocket" not in log


async def test_codex_cli_over_the_responses_websocket_transport(tmp_path: Path) -> None:
    """``supports_websockets = true``: the proxy terminates the socket and bridges each turn."""
    log = await codex_exec_round_trip(tmp_path, websockets=True)
    assert "successfully connected to Responses WebSocket" in log
    assert "falling back to HTTP" not in log.lower()


async def test_claude_code_runs_a_tool_round_trip_through_the_codex_provider(
    tmp_path: Path,
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    async with codex_stack(home) as (url, fake):
        script(fake, ToolCallSpec("Bash", {"command": f"echo {MARKER}", "description": "Echo"}))
        env = isolated_env(
            home,
            {
                "ANTHROPIC_BASE_URL": f"{url}/codex",
                "ANTHROPIC_AUTH_TOKEN": "unused-by-ccproxy",
                **CLAUDE_CODE_QUIET,
            },
        )
        code, out, err = await run_cli(
            [cli_binary("claude"), "-p", "Run the echo command.", "--allowedTools", "Bash"],
            cwd=work,
            env=env,
        )
    assert code == 0, f"claude -p failed ({code}):\n{out}\n{err}"
    assert FINAL in out
    # Claude Code's main model is mapped by the shipped defaults; no system input item.
    first, second = accepted(fake)
    assert first["model"] == "gpt-6.1-sol"
    assert first["instructions"]
    assert all(item.get("role") != "system" for item in second["input"])
    calls = [i for i in second["input"] if i.get("type") == "function_call"]
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert [c["name"] for c in calls] == ["Bash"]
    assert outputs[0]["call_id"] == calls[0]["call_id"]
    assert MARKER in json.dumps(outputs[0]["output"])
    assert second["prompt_cache_key"] == first["prompt_cache_key"]
