"""The official MCP client over real HTTP calls ``check_permission`` while a person decides."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from permissions_kit import call_check, live_app, make_settings, mcp_session, wait_pending

RICH_INPUT: dict[str, Any] = {
    "command": "ls -la",
    "flag": True,
    "off": False,
    "nothing": None,
    "count": 3,
    "ratio": 0.5,
    "items": [1, "two", None, {"deep": [True, False]}],
    "nested": {"a": {"b": {"c": [], "d": {}}}, "text": "é\u0000\n\u202e"},
}


async def test_tool_is_listed_at_the_exact_path() -> None:
    async with live_app(make_settings()) as server:
        async with mcp_session(server.url) as session:
            tools = await session.list_tools()
        names = [tool.name for tool in tools.tools]
        assert names == ["check_permission"]
        schema = tools.tools[0].input_schema
        assert set(schema["required"]) == {"tool_name", "input"}
        async with httpx.AsyncClient(base_url=server.url) as client:
            # The bare path is the endpoint itself: no redirect to a trailing slash.
            response = await client.post(
                "/permissions/mcp",
                json={},
                headers={"accept": "application/json, text/event-stream"},
            )
        assert response.status_code not in (301, 302, 307, 308, 404)


async def test_allow_returns_the_input_intact() -> None:
    async with live_app(make_settings()) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            call = asyncio.create_task(
                call_check(
                    session, {"tool_name": "Bash", "input": RICH_INPUT, "tool_use_id": "toolu_1"}
                )
            )
            [pending] = await wait_pending(api)
            assert pending["tool_name"] == "Bash"
            assert pending["tool_use_id"] == "toolu_1"
            assert pending["input"] == RICH_INPUT
            response = await api.post(
                f"/permissions/api/requests/{pending['id']}/decision", json={"allow": True}
            )
            assert response.status_code == 200
            assert response.json()["status"] == "allowed"
            assert await call == {"behavior": "allow", "updatedInput": RICH_INPUT}


async def test_deny_with_message() -> None:
    async with live_app(make_settings()) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            call = asyncio.create_task(
                call_check(session, {"tool_name": "Write", "input": {"path": "/etc/passwd"}})
            )
            [pending] = await wait_pending(api)
            response = await api.post(
                f"/permissions/api/requests/{pending['id']}/decision",
                json={"allow": False, "message": "not that file"},
            )
            assert response.json()["status"] == "denied"
            assert await call == {"behavior": "deny", "message": "not that file"}


async def test_approver_edits_the_input() -> None:
    edited = {"command": "ls", "dry_run": True, "paths": [None, ["x"]], "opts": {"k": False}}
    async with live_app(make_settings()) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            call = asyncio.create_task(
                call_check(session, {"tool_name": "Bash", "input": {"command": "rm -r x"}})
            )
            [pending] = await wait_pending(api)
            await api.post(
                f"/permissions/api/requests/{pending['id']}/decision",
                json={"allow": True, "updated_input": edited},
            )
            assert await call == {"behavior": "allow", "updatedInput": edited}
            detail = (await api.get(f"/permissions/api/requests/{pending['id']}")).json()
            assert detail["updated_input"] == edited
            assert detail["input"] == {"command": "rm -r x"}


async def test_no_decision_expires_and_denies() -> None:
    async with live_app(make_settings(timeout_seconds=0.3)) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            result = await call_check(session, {"tool_name": "Bash", "input": {"command": "x"}})
            assert result["behavior"] == "deny"
            assert "No decision within 0.3 seconds" in result["message"]
            listed = (await api.get("/permissions/api/requests")).json()["requests"]
            assert [r["status"] for r in listed] == ["expired"]
            late = await api.post(
                f"/permissions/api/requests/{listed[0]['id']}/decision", json={"allow": True}
            )
            assert late.status_code == 409


async def test_rules_decide_without_asking() -> None:
    rules = [
        {"tool": "Bash", "field": "command", "match": "rm -rf*", "action": "deny"},
        {"tool": "Read", "action": "allow"},
        {"tool": "Bash", "field": "command", "match": "git status", "action": "allow"},
    ]
    async with live_app(make_settings(rules=rules, timeout_seconds=0.2)) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            denied = await call_check(
                session, {"tool_name": "Bash", "input": {"command": "rm -rf /"}}
            )
            assert denied["behavior"] == "deny"
            assert "rule #1" in denied["message"]
            read = await call_check(session, {"tool_name": "Read", "input": {"file": [1, None]}})
            assert read == {"behavior": "allow", "updatedInput": {"file": [1, None]}}
            status = await call_check(
                session, {"tool_name": "Bash", "input": {"command": "git status"}}
            )
            assert status["behavior"] == "allow"
            # Whole-value match: a longer command is not covered by the allow rule.
            asked = await call_check(
                session, {"tool_name": "Bash", "input": {"command": "git status; rm x"}}
            )
            assert asked["behavior"] == "deny"
            assert "No decision" in asked["message"]
            listed = (await api.get("/permissions/api/requests")).json()["requests"]
            assert len(listed) == 1  # only the call nobody's rule decided was asked


async def test_many_concurrent_requests() -> None:
    async with live_app(make_settings()) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            calls = [
                asyncio.create_task(call_check(session, {"tool_name": "Bash", "input": {"n": n}}))
                for n in range(20)
            ]
            pending = await wait_pending(api, 20)
            for request in pending:
                allow = request["input"]["n"] % 2 == 0
                response = await api.post(
                    f"/permissions/api/requests/{request['id']}/decision", json={"allow": allow}
                )
                assert response.status_code == 200
            results = await asyncio.gather(*calls)
            for n, result in enumerate(results):
                assert result["behavior"] == ("allow" if n % 2 == 0 else "deny")


@pytest.mark.parametrize("token", ["s3cret"])
async def test_mcp_needs_the_token(token: str) -> None:
    async with live_app(make_settings(token=token)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.post(
                "/permissions/mcp",
                json={},
                headers={"accept": "application/json, text/event-stream"},
            )
            assert refused.status_code == 401
        async with mcp_session(server.url, token=token) as session:
            tools = await session.list_tools()
            assert tools.tools[0].name == "check_permission"
