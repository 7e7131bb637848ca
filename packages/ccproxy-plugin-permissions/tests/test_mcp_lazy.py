"""The MCP server's life: preloaded in the background after start-up by default, or loaded by
the first request to ``/permissions/mcp`` with ``preload_mcp = false``; one host task per app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from starlette.applications import Starlette
from starlette.routing import Mount

from ccproxy.testing import app_client
from ccproxy_plugin_permissions.mcp_host import McpHost
from ccproxy_plugin_permissions.mcp_server import McpMount
from ccproxy_plugin_permissions.plugin import PermissionsRuntime
from permissions_kit import live_app, make_settings, mcp_session, started

MCP_HEADERS = {"accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}

# A fresh interpreter with ``preload_mcp = false``: the installed entry point (allow-listed
# alone) and the CLI module must not import the SDK; the first MCP request does.
FRESH_PROCESS = textwrap.dedent(
    """
    import asyncio, json, sys

    import httpx

    from ccproxy.config import Settings
    from ccproxy.testing import started_app

    def sdk_loaded():
        return sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types"))

    async def main():
        settings = Settings.model_validate(
            {
                "plugins_disable_local_discovery": True,
                "enabled_plugins": ["permissions"],
                "plugins": {"permissions": {"preload_mcp": False}},
            }
        )
        async with started_app(settings, entry_points=None) as app:
            import ccproxy_plugin_permissions.cli  # noqa: F401
            registry = app.state.plugin_host.registry
            assert registry.get_runtime("permissions") is not None, "plugin not started"
            assert not sdk_loaded(), sdk_loaded()[:5]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                health = (await c.get("/health")).json()
                assert health["checks"]["plugin:permissions"][0]["details"]["mcp"] == "idle"
                response = await c.post(
                    "/permissions/mcp",
                    json=json.loads(sys.argv[1]),
                    headers={"accept": "application/json, text/event-stream"},
                )
                assert response.status_code == 200, response.text
                assert '"serverInfo"' in response.text, response.text
                assert "mcp.server.lowlevel" in sys.modules
                health = (await c.get("/health")).json()
                assert health["checks"]["plugin:permissions"][0]["details"]["mcp"] == "running"
        print("clean exit")

    asyncio.run(asyncio.wait_for(main(), 20))
    """
)


def _run_fresh_interpreter(script: str) -> None:
    """Run ``script`` (given the initialize request) in a new interpreter; it must exit cleanly."""
    import json

    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(INITIALIZE)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("clean exit"), done.stdout


def test_without_preload_the_sdk_is_imported_only_by_the_first_mcp_request() -> None:
    _run_fresh_interpreter(FRESH_PROCESS)


def _health_mcp(health: dict[str, Any]) -> str:
    return str(health["checks"]["plugin:permissions"][0]["details"]["mcp"])


# A fresh interpreter with the defaults: start-up returns before the SDK is loaded, and the
# server comes up in the background with no MCP request at all.
PRELOADED_PROCESS = textwrap.dedent(
    """
    import asyncio, json, sys, time

    import httpx

    from ccproxy.config import Settings
    from ccproxy.testing import started_app

    async def main():
        settings = Settings.model_validate(
            {
                "plugins_disable_local_discovery": True,
                "enabled_plugins": ["permissions"],
                "plugins": {"permissions": {"rules": [{"tool": "*", "action": "deny"}]}},
            }
        )
        async with started_app(settings, entry_points=None) as app:
            # The lifespan did not wait for the SDK: it is still loading on a worker thread.
            assert "mcp.server.lowlevel" not in sys.modules, "start-up waited for the SDK"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                states = []
                while True:
                    health = (await c.get("/health")).json()
                    state = health["checks"]["plugin:permissions"][0]["details"]["mcp"]
                    states.append(state)
                    if state != "starting":
                        break
                    await asyncio.sleep(0.01)
                assert state == "running", states
                assert "mcp.server.lowlevel" in sys.modules
                # The first session (what Claude Code does first) finds everything loaded.
                loaded = set(sys.modules)
                headers = {"accept": "application/json, text/event-stream"}
                response = await c.post(
                    "/permissions/mcp", json=json.loads(sys.argv[1]), headers=headers
                )
                assert response.status_code == 200, response.text
                assert '"serverInfo"' in response.text, response.text
                headers["mcp-session-id"] = response.headers["mcp-session-id"]
                headers["mcp-protocol-version"] = "2025-06-18"
                for n, (method, params) in enumerate([
                    ("notifications/initialized", None),
                    ("tools/list", {}),
                    ("tools/call", {"name": "check_permission",
                                    "arguments": {"tool_name": "Bash", "input": {}}}),
                ]):
                    message = {"jsonrpc": "2.0", "method": method}
                    if params is not None:
                        message |= {"id": n + 2, "params": params}
                    response = await c.post("/permissions/mcp", json=message, headers=headers)
                    assert response.status_code in (200, 202), response.text
                assert "Denied by ccproxy permissions rule" in response.text, response.text
                lazily = sorted(set(sys.modules) - loaded)
                assert not lazily, f"imported by the first MCP session: {lazily[:10]}"
        print("clean exit")

    asyncio.run(asyncio.wait_for(main(), 20))
    """
)


def test_by_default_the_server_is_running_before_any_mcp_request() -> None:
    _run_fresh_interpreter(PRELOADED_PROCESS)


async def test_health_idle_then_running_then_shutdown_stops_the_manager() -> None:
    async with started(make_settings(preload_mcp=False)) as app:
        runtime = app.state.plugin_host.registry.get_runtime("permissions")
        assert isinstance(runtime, PermissionsRuntime)
        host = runtime.mcp
        assert host is not None
        async with app_client(app) as client:
            assert _health_mcp((await client.get("/health")).json()) == "idle"
            assert runtime.session_manager is None
            response = await client.post("/permissions/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 200, response.text
            assert '"ccproxy-permissions"' in response.text
            assert _health_mcp((await client.get("/health")).json()) == "running"
            assert runtime.session_manager is not None
    assert host.state == "stopped"
    assert host.manager is None
    assert runtime.mcp is None


async def test_shutdown_when_the_manager_never_started() -> None:
    async with started(make_settings(preload_mcp=False)) as app:
        runtime = app.state.plugin_host.registry.get_runtime("permissions")
        assert isinstance(runtime, PermissionsRuntime)
        host = runtime.mcp
        assert host is not None
        assert host.state == "idle"
    assert host.state == "stopped"
    # A request that arrives after shutdown does not start anything.
    assert await host.session_manager() is None
    assert host.state == "stopped"


async def test_concurrent_first_clients_share_one_manager() -> None:
    count = 6
    initialised = asyncio.Barrier(count)
    async with live_app(make_settings(preload_mcp=False)) as server:

        async def client() -> list[str]:
            async with mcp_session(server.url) as session:
                # All clients are initialised before any lists tools: a session made by a
                # second manager would be unknown to the one serving afterwards (404).
                await initialised.wait()
                tools = await session.list_tools()
                return [tool.name for tool in tools.tools]

        async with httpx.AsyncClient(base_url=server.url) as api:
            assert _health_mcp((await api.get("/health")).json()) == "idle"
            names = await asyncio.gather(*(client() for _ in range(count)))
            assert names == [["check_permission"]] * count
            assert _health_mcp((await api.get("/health")).json()) == "running"


async def test_two_apps_start_their_own_servers() -> None:
    lazy = make_settings(preload_mcp=False)
    async with started(lazy) as first, started(lazy) as second:
        async with app_client(first) as one, app_client(second) as two:
            response = await one.post("/permissions/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 200
            assert _health_mcp((await one.get("/health")).json()) == "running"
            assert _health_mcp((await two.get("/health")).json()) == "idle"


# McpHost on its own, with a stand-in for the SDK's session manager.


class FakeManager:
    """What McpHost needs of a session manager: ``run()``, entered and left in one task."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any] | None] = []

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        self.tasks.append(asyncio.current_task())
        try:
            yield
        finally:
            self.tasks.append(asyncio.current_task())


def _host(build: Any) -> McpHost:
    return McpHost(build, logger=structlog.stdlib.get_logger("test"), start_timeout=5)


async def test_host_builds_once_for_concurrent_callers_and_runs_in_its_own_task() -> None:
    builds: list[FakeManager] = []

    async def build() -> Any:
        await asyncio.sleep(0.05)
        builds.append(FakeManager())
        return builds[-1]

    host = _host(build)
    host.start()
    managers = await asyncio.gather(*(host.session_manager() for _ in range(10)))
    assert len(builds) == 1
    assert all(m is builds[0] for m in managers)
    assert host.state == "running"
    await host.stop()
    assert host.state == "stopped"
    entered, left = builds[0].tasks
    assert entered is left
    assert entered is not asyncio.current_task()


async def test_preloading_host_runs_without_a_request() -> None:
    built: list[FakeManager] = []

    async def build() -> Any:
        built.append(FakeManager())
        return built[-1]

    host = _host(build)
    host.start(preload=True)
    for _ in range(1000):  # no session_manager() call: nothing asks for it
        if host.state == "running":
            break
        await asyncio.sleep(0.005)
    assert host.state == "running"
    assert host.manager is built[0]
    assert await host.session_manager() is built[0]
    await host.stop()
    assert host.state == "stopped"
    assert len(built) == 1


async def test_preloading_host_stopped_before_it_ran() -> None:
    async def build() -> Any:
        return FakeManager()

    host = _host(build)
    host.start(preload=True)
    await host.stop()
    assert host.state == "stopped"
    assert await host.session_manager() is None


async def test_host_stopped_while_starting() -> None:
    building = asyncio.Event()
    release = asyncio.Event()
    managers: list[FakeManager] = []

    async def build() -> Any:
        building.set()
        await release.wait()
        managers.append(FakeManager())
        return managers[-1]

    host = _host(build)
    host.start()
    waiter = asyncio.create_task(host.session_manager())
    await building.wait()
    assert host.state == "starting"
    stopping = asyncio.create_task(host.stop())
    await asyncio.sleep(0)
    release.set()
    await stopping
    assert await waiter is None
    assert host.state == "stopped"
    assert managers[0].tasks == []  # built, never run


async def test_failed_start_answers_a_json_rpc_503() -> None:
    async def build() -> Any:
        raise ImportError("no mcp here")

    host = _host(build)
    host.start()
    app = Starlette(routes=[Mount("/permissions", McpMount(lambda _app: host.session_manager()))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for _ in range(2):
            response = await client.post("/permissions/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 503
            body = response.json()
            assert body["jsonrpc"] == "2.0"
            assert body["error"]["code"] == -32603
            assert "no mcp here" not in response.text
    assert host.state == "failed"
    await host.stop()
    assert host.state == "failed"
