"""The real Claude Code CLI through ``ccproxy serve`` at /claude, in front of loopback fakes.

Claude Code runs unchanged with ``ANTHROPIC_BASE_URL=<proxy>/claude``; the proxy serves it from
Claude Code's own credential file in the temporary HOME. The fake upstream first asks for a
shell command (a tool call the CLI executes), then answers with text; the fake's token is
expired up front, so the proxy also refreshes it at the fake token endpoint on the way.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, LiveServer, Reply, ToolCallSpec
from support import (
    CLAUDE_CODE_QUIET,
    cli_binary,
    isolated_env,
    running_proxy,
    write_claude_credentials,
)

CLI_TIMEOUT = 60.0
FINAL_TEXT = "The command printed ccproxy-integration; all done."


# Claude Code makes no call beyond the model API with these (checked by hand on 2.1.197).
def tool_result_texts(body: dict) -> list[str]:
    texts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    texts.append(inner)
                elif isinstance(inner, list):
                    texts += [part.get("text", "") for part in inner if isinstance(part, dict)]
    return texts


async def test_claude_code_tool_round_trip_through_the_proxy(tmp_path: Path) -> None:
    home = tmp_path
    oauth = FakeClaudeOAuth()
    fake = FakeAnthropic(oauth=oauth)
    creds = oauth.mint_credentials(expires_in=8 * 3600)
    credentials = write_claude_credentials(home, oauth.credentials_file(creds))
    oauth.expire_now(creds["access_token"])  # the upstream refuses it: the proxy must refresh
    fake.enqueue(
        Reply.tool_calls(
            [
                ToolCallSpec(
                    "Bash",
                    {"command": "echo ccproxy-integration", "description": "Print a marker"},
                )
            ]
        ),
        Reply.text(FINAL_TEXT),
    )

    async with LiveServer(fake) as upstream, LiveServer(oauth) as token_endpoint:
        proxy = running_proxy(
            home,
            f"plugins.claude.base_url={upstream.url}",
            f"plugins.oauth_claude.token_url={token_endpoint.url}/v1/oauth/token",
        )
        url = await asyncio.to_thread(proxy.__enter__)
        try:
            env = isolated_env(
                home,
                {
                    **CLAUDE_CODE_QUIET,
                    "ANTHROPIC_BASE_URL": f"{url}/claude",
                    "ANTHROPIC_AUTH_TOKEN": "any",
                },
            )
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                cli_binary("claude"),
                "-p",
                "Run `echo ccproxy-integration` and tell me what it printed.",
                "--allowedTools",
                "Bash",
                cwd=home,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
            elapsed = time.monotonic() - started
        finally:
            await asyncio.to_thread(proxy.__exit__, None, None, None)

    output = out.decode()
    assert process.returncode == 0, f"claude exited {process.returncode}:\n{output}\n{err.decode()}"
    assert FINAL_TEXT in output
    assert elapsed < CLI_TIMEOUT

    answered = [r for r in fake.requests_to("/v1/messages") if r.status == 200]
    assert len(answered) == 2, [(r.path, r.status) for r in fake.requests]
    first, second = answered
    assert "ccproxy-integration" in "\n".join(tool_result_texts(second.json))
    assert not tool_result_texts(first.json)
    # Claude Code's request went through untouched but for what the profile adds
    for request in answered:
        assert request.query == {"beta": "true"}
        betas = request.headers["anthropic-beta"].split(",")
        assert "claude-code-20250219" in betas
        assert betas[-1] == "oauth-2025-04-20"
        assert request.headers["user-agent"].startswith("claude-cli/")
        assert request.bearer_token != "any"  # the client's token never goes upstream
    # the expired token was refused once, refreshed, and the new one stored for Claude Code
    assert [r.status for r in fake.requests_to("/v1/messages")] == [401, 200, 200]
    assert oauth.refresh_count == 1
    stored = json.loads(credentials.read_text())["claudeAiOauth"]
    assert answered[0].bearer_token == stored["accessToken"]
    assert stored["refreshToken"] != creds["refresh_token"]
