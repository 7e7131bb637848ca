"""``ccproxy permissions …`` against a live server, ``watch`` driven through its prompt."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy_plugin_permissions.prompt import PROMPT, escape, render_request
from permissions_kit import call_check, live_app, make_settings, mcp_session, wait_pending

TOKEN = "cli-token"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CCPROXY_CONFIG", "EDITOR", "VISUAL"}}
    env.update(XDG_CONFIG_HOME=str(tmp_path), PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


async def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccproxy", "permissions", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path, env=_env(tmp_path),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_render_escapes_control_and_non_ascii_characters() -> None:
    shown = render_request(
        {"id": "x", "tool_name": "Ba\x1bsh", "input": {"command": "echo \x1b[31mred\u202e\x07"}}
    )
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "\x07" not in shown
    assert "Ba\\u001bsh" in shown
    assert "\\u001b[31mred\\u202e\\u0007" in shown
    assert escape("tab\there") == "tab\\there"


async def test_list_allow_deny(tmp_path: Path) -> None:
    settings = make_settings(token=TOKEN)
    async with live_app(settings) as server:
        auth = {"authorization": f"Bearer {TOKEN}"}
        common = ["--url", server.url, "--set", f"security.auth_token={TOKEN}"]
        async with (
            mcp_session(server.url, TOKEN) as session,
            httpx.AsyncClient(base_url=server.url, headers=auth) as api,
        ):
            one = asyncio.create_task(call_check(session, {"tool_name": "Bash", "input": {"n": 1}}))
            two = asyncio.create_task(call_check(session, {"tool_name": "Read", "input": {"n": 2}}))
            pending = await wait_pending(api, 2)
            ids = {r["tool_name"]: r["id"] for r in pending}
            code, out, _ = await _run(tmp_path, "list", *common)
            assert code == 0
            assert ids["Bash"] in out
            assert ids["Read"] in out
            code, out, _ = await _run(tmp_path, "allow", ids["Bash"], *common)
            assert (code, out.strip()) == (0, f"{ids['Bash']} allowed")
            code, out, _ = await _run(tmp_path, "deny", ids["Read"], "--message", "nope", *common)
            assert (code, out.strip()) == (0, f"{ids['Read']} denied")
            assert await one == {"behavior": "allow", "updatedInput": {"n": 1}}
            assert await two == {"behavior": "deny", "message": "nope"}
            code, _, err = await _run(tmp_path, "deny", ids["Read"], *common)
            assert code == 1
            assert "409" in err
        code, _, err = await _run(tmp_path, "list", "--url", server.url)
        assert code == 1
        assert "401" in err


async def _read_until(stream: asyncio.StreamReader, marker: str) -> str:
    data = await asyncio.wait_for(stream.readuntil(marker.encode()), 15)
    return data.decode()


@pytest.mark.timeout(60)
async def test_watch_prompts_for_each_request(tmp_path: Path) -> None:
    async with live_app(make_settings(token=TOKEN)) as server:
        auth = {"authorization": f"Bearer {TOKEN}"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ccproxy", "permissions", "watch",
            "--url", server.url, "--set", f"security.auth_token={TOKEN}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=tmp_path, env=_env(tmp_path),
        )  # fmt: skip
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            async with (
                mcp_session(server.url, TOKEN) as session,
                httpx.AsyncClient(base_url=server.url, headers=auth) as api,
            ):

                async def ask(tool_input: dict[str, Any], answer: bytes) -> dict[str, Any]:
                    call = asyncio.create_task(
                        call_check(session, {"tool_name": "Bash", "input": tool_input})
                    )
                    shown = await _read_until(process.stdout, PROMPT)  # type: ignore[arg-type]
                    assert process.stdin is not None
                    process.stdin.write(answer)
                    await process.stdin.drain()
                    result = await call
                    assert "Tool: Bash" in shown
                    return {"shown": shown, "result": result}

                allowed = await ask({"command": "ls \x1b[2J"}, b"a\n")
                assert "\\u001b[2J" in allowed["shown"]
                assert "\x1b" not in allowed["shown"]
                assert allowed["result"] == {
                    "behavior": "allow",
                    "updatedInput": {"command": "ls \x1b[2J"},
                }
                denied = await ask({"command": "rm x"}, b"\n")
                assert denied["result"]["behavior"] == "deny"
                edited_input = {"command": "ls", "flags": [True, None], "n": {"x": 1}}
                edited = await ask(
                    {"command": "rm -r y"}, b"e\n" + json.dumps(edited_input).encode() + b"\n\n"
                )
                assert edited["result"] == {"behavior": "allow", "updatedInput": edited_input}
                decided = (await api.get("/permissions/api/requests")).json()["requests"]
                assert [r["status"] for r in decided] == ["allowed", "denied", "allowed"]
        finally:
            process.stdin.close()
            process.send_signal(signal.SIGINT)  # watch is blocked on the event stream
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
