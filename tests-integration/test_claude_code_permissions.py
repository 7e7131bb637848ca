"""The real Claude Code CLI asking ``ccproxy serve``'s MCP permission tool before it runs a tool.

Claude Code runs headless with ``--permission-prompt-tool mcp__ccproxy__check_permission`` and
the proxy's ``/permissions/mcp`` as its MCP server; the fake upstream asks for a shell command
that writes a file, a person (here: a task using the HTTP API) approves it, the CLI runs it and
finishes.

The proxy is cold: Claude Code starts as soon as ``/health`` answers, as a user's ``claude``
right after ``ccproxy serve``, with no MCP request and no wait for the MCP server before its own.
Claude Code connects ``--mcp-config`` servers without blocking, so the permission tool must be
there by its first tool call; the server loads the MCP SDK in the background right after
start-up, and ``/health`` says ``mcp: running`` afterwards without any MCP request.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, LiveServer, Reply, ToolCallSpec
from support import (
    CLAUDE_CODE_QUIET,
    cli_binary,
    isolated_env,
    running_proxy,
    write_claude_credentials,
)

CLI_TIMEOUT = 60.0
MARKER = "ccproxy-permission-granted.txt"
FINAL_TEXT = "The approved command ran; all done."


async def approve_first_request(client: httpx.AsyncClient, seen: list[dict]) -> None:
    """Wait for the pending permission request and allow it, as a person on the page would."""
    while True:
        pending = (
            await client.get("/permissions/api/requests", params={"status": "pending"})
        ).json()
        if pending["requests"]:
            request = pending["requests"][0]
            seen.append(request)
            decided = await client.post(
                f"/permissions/api/requests/{request['id']}/decision", json={"allow": True}
            )
            decided.raise_for_status()
            return
        await asyncio.sleep(0.1)


async def test_claude_code_asks_the_mcp_permission_tool_and_runs_the_approved_call(
    tmp_path: Path,
) -> None:
    home = tmp_path
    oauth = FakeClaudeOAuth()
    fake = FakeAnthropic(oauth=oauth)
    creds = oauth.mint_credentials(expires_in=8 * 3600)
    write_claude_credentials(home, oauth.credentials_file(creds))
    fake.enqueue(
        Reply.tool_calls(
            [ToolCallSpec("Bash", {"command": f"touch {MARKER}", "description": "Create a file"})]
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
            mcp_config = {
                "mcpServers": {"ccproxy": {"type": "http", "url": f"{url}/permissions/mcp"}}
            }
            env = isolated_env(
                home,
                {
                    **CLAUDE_CODE_QUIET,
                    "ANTHROPIC_BASE_URL": f"{url}/claude",
                    "ANTHROPIC_AUTH_TOKEN": "any",
                },
            )
            async with httpx.AsyncClient(base_url=url, timeout=10) as api:
                # Right after /health answered: the cold server is what this test proves.
                process = await asyncio.create_subprocess_exec(
                    cli_binary("claude"),
                    "-p",
                    f"Create the file {MARKER} with touch.",
                    "--mcp-config",
                    json.dumps(mcp_config),
                    "--permission-prompt-tool",
                    "mcp__ccproxy__check_permission",
                    cwd=home,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                seen: list[dict] = []
                approver = asyncio.create_task(approve_first_request(api, seen))
                try:
                    out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise
                finally:
                    approver.cancel()
                health = (await api.get("/health")).json()
                decided = (await api.get("/permissions/api/requests")).json()["requests"]
        finally:
            await asyncio.to_thread(proxy.__exit__, None, None, None)

    output = out.decode()
    assert process.returncode == 0, f"claude exited {process.returncode}:\n{output}\n{err.decode()}"
    assert FINAL_TEXT in output
    [asked] = seen
    assert asked["tool_name"] == "Bash"
    assert asked["input"]["command"] == f"touch {MARKER}"
    assert [(r["id"], r["status"]) for r in decided] == [(asked["id"], "allowed")]
    assert health["checks"]["plugin:permissions"][0]["details"]["mcp"] == "running"
    # The approved command ran (a file write Claude Code does not allow on its own).
    assert (home / MARKER).exists()
    assert len([r for r in fake.requests_to("/v1/messages") if r.status == 200]) == 2
