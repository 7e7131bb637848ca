"""The copilot provider through ``ccproxy serve``, the official SDKs and the real CLIs.

Each test runs ``FakeCopilot`` on a loopback uvicorn — one app for github.com's device flow,
api.github.com's mint and the Copilot API, whose minted ``endpoints.api`` points back at the same
server — and writes an editor's Copilot login (copilot.vim's ``apps.json``) in the temporary HOME.
``ccproxy serve`` is given only the two GitHub URLs: the editor login and the mint's API base are
found as a user's machine would provide them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from ccproxy.testing import FakeCopilot, LiveServer, Reply, ToolCallSpec, free_port
from ccproxy.testing.fakes import RecordedRequest
from support import CLAUDE_CODE_QUIET, cli_binary, isolated_env, running_proxy

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

CLIENT_ID = "Iv1.b507a08c87ecfe98"
MARKER = "ccproxy-copilot-integration"
FINAL = "The command printed ccproxy-copilot-integration; all done."
CLI_TIMEOUT = 60.0
EDITOR_HEADERS = ("copilot-integration-id", "editor-version", "editor-plugin-version")


def write_editor_login(home: Path, github_token: str) -> Path:
    """copilot.vim's login file, as the editor leaves it after signing in."""
    path = home / ".config" / "github-copilot" / "apps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    login = {"user": "octocat", "oauth_token": github_token, "githubAppId": CLIENT_ID}
    path.write_text(json.dumps({f"github.com:{CLIENT_ID}": login}))
    path.chmod(0o600)
    return path


@asynccontextmanager
async def copilot_stack(home: Path) -> AsyncIterator[tuple[str, FakeCopilot]]:
    """FakeCopilot on loopback, an editor login in ``home``, ``ccproxy serve`` in front."""
    port = free_port()
    fake = FakeCopilot(api_url=f"http://127.0.0.1:{port}")  # endpoints.api: this same server
    write_editor_login(home, fake.issue_github_token())
    async with LiveServer(fake, port=port) as github:
        proxy = running_proxy(
            home,
            f"plugins.oauth_copilot.github_url={github.url}",
            f"plugins.oauth_copilot.github_api_url={github.url}",
        )
        # running_proxy waits synchronously: keep the event loop (and the fake) free meanwhile.
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


def served(fake: FakeCopilot, path: str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path == path and r.status == 200]


async def test_an_editor_login_is_enough_to_serve_copilot(tmp_path: Path) -> None:
    login = tmp_path / ".config" / "github-copilot" / "apps.json"
    async with copilot_stack(tmp_path) as (url, fake):
        fake.script(Reply.text("Hello from Copilot."))
        async with httpx.AsyncClient(timeout=10) as http:
            health = (await http.get(f"{url}/health")).json()
            models = (await http.get(f"{url}/copilot/v1/models")).json()
        client = anthropic.AsyncAnthropic(
            base_url=f"{url}/copilot", api_key="unused", max_retries=0
        )
        message = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            messages=[{"role": "user", "content": "Hello"}],
        )

    [check] = health["checks"]["plugin:oauth_copilot"]
    assert check["status"] == "pass", check
    assert check["details"]["path"] == str(login)
    assert check["details"]["account_id"] == "octocat"
    assert health["checks"]["plugin:copilot"][0]["status"] == "pass"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from Copilot."
    assert message.model == "claude-sonnet-4-5"
    listed = {m["id"] for m in models["data"]}
    assert {m["id"] for m in fake.models} <= listed
    [request] = served(fake, "/v1/messages")
    assert request.json["model"] == "claude-sonnet-4.5"
    assert request.bearer_token in fake.copilot_tokens
    # the catalogue came from the mint's endpoints.api (this fake), minted once for everything
    assert served(fake, "/models")
    assert fake.mint_count == 1


async def test_an_expired_copilot_token_is_minted_again_and_the_request_retried(
    tmp_path: Path,
) -> None:
    async with copilot_stack(tmp_path) as (url, fake):
        fake.script(Reply.text("first"), Reply.text("second"))
        client = anthropic.AsyncAnthropic(
            base_url=f"{url}/copilot", api_key="unused", max_retries=0
        )

        async def ask() -> str:
            message = await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=256,
                messages=[{"role": "user", "content": "Hello"}],
            )
            block = message.content[0]
            assert block.type == "text"
            return block.text

        assert await ask() == "first"
        mints = fake.mint_count
        fake.expire_copilot_tokens()
        assert await ask() == "second"

    assert fake.mint_count == mints + 1
    calls = [r for r in fake.requests if r.path == "/v1/messages"]
    assert [r.status for r in calls] == [200, 401, 200]
    assert calls[1].bearer_token == calls[0].bearer_token
    assert calls[2].bearer_token != calls[1].bearer_token


def tool_results(body: dict[str, Any]) -> list[str]:
    """The ``tool_result`` blocks of a Messages body, as JSON text."""
    return [
        json.dumps(block)
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def script_claude_code(fake: FakeCopilot) -> None:
    """Answer by content, so that a background call (a title, a summary) cannot take the
    scripted turn: a request carrying the tool result gets the final text, one offering the
    Bash tool the call."""
    call = ToolCallSpec("Bash", {"command": f"echo {MARKER}", "description": "Print a marker"})

    def reply(request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        if tool_results(body):
            return Reply.text(FINAL)
        if any(tool.get("name") == "Bash" for tool in body.get("tools") or []):
            return Reply.tool_calls([call])
        return Reply.text("background")

    fake.default_reply = Reply.text("background")
    fake.script(*([reply] * 8))


async def test_claude_code_runs_a_tool_round_trip_on_copilot(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    async with copilot_stack(home) as (url, fake):
        script_claude_code(fake)
        env = isolated_env(
            home,
            {
                **CLAUDE_CODE_QUIET,
                "ANTHROPIC_BASE_URL": f"{url}/copilot",
                "ANTHROPIC_AUTH_TOKEN": "unused-by-ccproxy",
            },
        )
        code, out, err = await run_cli(
            [
                cli_binary("claude"),
                "-p",
                f"Run `echo {MARKER}` and tell me what it printed.",
                "--allowedTools",
                "Bash",
            ],
            cwd=work,
            env=env,
        )
    assert code == 0, f"claude -p failed ({code}):\n{out}\n{err}"
    assert FINAL in out

    answered = served(fake, "/v1/messages")
    agent_loop = [r for r in answered if any(t.get("name") == "Bash" for t in r.json["tools"])]
    first, second = agent_loop
    assert not tool_results(first.json)
    [result] = tool_results(second.json)
    assert MARKER in result  # the command's output, run by Claude Code
    for request in agent_loop:
        # Claude Code 2.1.197 asks for claude-opus-4-8: the newest Opus of the catalogue
        assert request.json["model"] == "claude-opus-4.1"
        system = request.json["system"]
        assert isinstance(system, list) and system
        assert all(block["type"] == "text" for block in system)
        assert request.query == {}  # Claude Code's ?beta=true stays with the proxy
        assert request.bearer_token in fake.copilot_tokens
        assert request.headers["user-agent"].startswith("GitHubCopilotChat/")
        for name in EDITOR_HEADERS:
            assert request.headers[name]
    # the person's prompt is a premium request; the call carrying the tool result is not
    assert (first.headers["x-initiator"], first.headers["openai-intent"]) == (
        "user",
        "conversation-panel",
    )
    assert (second.headers["x-initiator"], second.headers["openai-intent"]) == (
        "agent",
        "conversation-agent",
    )
    assert fake.premium_requests == sum(r.headers["x-initiator"] == "user" for r in answered)


def codex_config(proxy_url: str) -> str:
    """``~/.codex/config.toml`` as the README documents it, minus the CLI's own network chatter
    (update check, analytics, plugin and app sync: none of it can reach anything here)."""
    return (
        'model = "gpt-5.1-codex"\n'
        'model_provider = "copilot"\n'
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
        "[model_providers.copilot]\n"
        'name = "GitHub Copilot via ccproxy"\n'
        f'base_url = "{proxy_url}/copilot/v1"\n'
        'wire_api = "responses"\n'
    )


async def test_codex_cli_runs_a_turn_on_a_codex_model(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    final = "Copilot's codex model says hello."
    async with copilot_stack(home) as (url, fake):
        fake.default_reply = Reply.text(final)
        (home / ".codex").mkdir()
        (home / ".codex" / "config.toml").write_text(codex_config(url))
        code, out, err = await run_cli(
            [cli_binary("codex"), "exec", "--skip-git-repo-check", "Say hello."],
            cwd=work,
            env=isolated_env(home),
        )
    assert code == 0, f"codex exec failed ({code}):\n{out}\n{err}"
    assert final in out

    # Responses-only model: the CLI's request went to /responses, whole, and was answered.
    calls = [
        r for r in fake.requests if r.path in ("/responses", "/chat/completions", "/v1/messages")
    ]
    assert [(r.path, r.status) for r in calls] == [("/responses", 200)]
    [request] = calls
    assert request.json["model"] == "gpt-5.1-codex"
    assert "previous_response_id" not in request.json
    assert "Say hello." in json.dumps(request.json["input"])
    assert request.headers["x-initiator"] == "user"
    assert request.bearer_token in fake.copilot_tokens
    assert fake.premium_requests == 1
