"""Helpers for the permissions tests: settings, a live app, an MCP client, SSE reading."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ccproxy.plugins import Settings
from ccproxy.testing import LiveServer, fake_entry_point, started_app
from ccproxy_plugin_permissions.plugin import PermissionsFactory

__all__ = ["call_check", "live_app", "make_settings", "mcp_session", "read_sse", "wait_pending"]


def make_settings(*, token: str | None = None, **permissions: Any) -> Settings:
    """Settings with only this plugin's table set (and maybe a token)."""
    data: dict[str, Any] = {
        "plugins_disable_local_discovery": True,
        "plugins": {"permissions": permissions},
    }
    if token is not None:
        data["security"] = {"auth_token": token}
    return Settings.model_validate(data)


@asynccontextmanager
async def live_app(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app with this plugin only, served by uvicorn on loopback."""
    from ccproxy.app import create_app

    entry = fake_entry_point(
        "permissions", PermissionsFactory(), distribution="ccproxy-plugin-permissions"
    )
    app = create_app(settings, entry_points=[entry])
    async with LiveServer(app) as server:
        yield server


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Any]:
    """The app started in-process (no server)."""
    entry = fake_entry_point(
        "permissions", PermissionsFactory(), distribution="ccproxy-plugin-permissions"
    )
    async with started_app(settings, entry_points=[entry]) as app:
        yield app


@asynccontextmanager
async def mcp_session(url: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    """An initialised official MCP client session on ``url``/permissions/mcp."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as client:
        async with streamable_http_client(f"{url}/permissions/mcp", http_client=client) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call_check(session: ClientSession, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call ``check_permission`` and parse the JSON text it returns."""
    result = await session.call_tool("check_permission", arguments)
    assert not result.is_error, result
    text = result.content[0]
    return dict(json.loads(text.text))  # type: ignore[union-attr]


async def wait_pending(
    client: httpx.AsyncClient, count: int = 1, *, within: float = 10.0
) -> list[dict[str, Any]]:
    """Poll the API until ``count`` requests are pending; return them."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get("/permissions/api/requests", params={"status": "pending"})
        assert response.status_code == 200, response.text
        pending: list[dict[str, Any]] = response.json()["requests"]
        if len(pending) >= count:
            return pending
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {count} pending requests, got {pending}")
        await asyncio.sleep(0.02)


async def read_sse(lines: AsyncIterator[str], count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``count`` events from SSE ``lines`` (``response.aiter_lines()``)."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind, data = None, None
    async for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and kind is not None and data is not None:
            events.append((kind, data))
            kind, data = None, None
            if len(events) == count:
                return events
    raise AssertionError(f"stream ended after {events}")
