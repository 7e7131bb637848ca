"""The MCP server Claude Code calls through ``--permission-prompt-tool``.

One official-SDK ``MCPServer`` per app exposes ``check_permission``; its streamable HTTP
session manager runs from the runtime's start-up to its shutdown. ``McpMount`` is the single
ASGI app the manifest mounts at ``/permissions``: it finds the current app's runtime, so
several apps in one process each talk to their own server, and it answers ``/permissions/mcp``
itself (a Starlette mount at ``/permissions/mcp`` would redirect the bare path to a slash).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from ccproxy.config import Settings
from ccproxy.services import PermissionService

__all__ = ["MCP_PATH", "TOOL_NAME", "McpMount", "build_mcp_server", "transport_security"]

TOOL_NAME = "check_permission"
#: Where the MCP endpoint answers inside the ``/permissions`` mount.
MCP_PATH = "/mcp"

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding guard, accepting loopback and what ``security.*`` allows."""
    hosts = list(settings.security.allowed_hosts)
    origins = list(settings.security.allowed_origins)
    if "*" in hosts:
        # The core middleware already decides Host and Origin; the SDK must not be stricter.
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = [*_LOOPBACK, *(f"[{h}]" if ":" in h else h for h in hosts)]
    if settings.server.host not in {"", "0.0.0.0", "::", "*"}:
        names.append(settings.server.host)
    allowed_hosts = sorted({n for name in names for n in (name, f"{name}:*")})
    allowed_origins = sorted(
        {
            f"{scheme}://{name}{port}"
            for name in names
            for scheme in ("http", "https")
            for port in ("", ":*")
        }
        | {o for o in origins if o != "*"}
    )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection="*" not in origins,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
    )


def build_mcp_server(
    service: PermissionService, settings: Settings, *, version: str
) -> tuple[MCPServer[Any], StreamableHTTPSessionManager]:
    """An MCP server with the ``check_permission`` tool, and its session manager."""
    server: MCPServer[Any] = MCPServer(
        name="ccproxy-permissions",
        version=version,
        instructions="Ask a person (terminal, browser or API) whether a tool call may run.",
    )

    @server.tool(
        name=TOOL_NAME,
        description="Decide whether Claude Code may run a tool call. Returns JSON text: "
        '{"behavior": "allow", "updatedInput": {...}} or {"behavior": "deny", "message": "..."}.',
        structured_output=False,
    )
    async def check_permission(
        tool_name: str,
        input: dict[str, Any],
        tool_use_id: str | None = None,
    ) -> str:
        decision = await service.check(tool_name, input, tool_use_id)
        return json.dumps(decision, ensure_ascii=False)

    server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=transport_security(settings)
    )
    return server, server.session_manager


class McpMount:
    """The ASGI app mounted at ``/permissions``: serves ``/permissions/mcp`` per app."""

    def __init__(self, resolve: Callable[[Any], StreamableHTTPSessionManager | None]) -> None:
        self._resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root: str = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :]
        if path not in (MCP_PATH, MCP_PATH + "/"):
            await JSONResponse({"error": {"message": "Not found."}}, 404)(scope, receive, send)
            return
        manager = self._resolve(scope.get("app"))
        if manager is None:
            response = JSONResponse(
                {"error": {"message": "The permissions plugin is not running."}}, 503
            )
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)
