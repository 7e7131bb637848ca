"""The MCP server Claude Code calls through ``--permission-prompt-tool``.

One official-SDK low-level ``Server`` per app exposes ``check_permission``; ``McpHost`` runs its
streamable HTTP session manager from the first MCP request to shutdown. ``McpMount`` is the
single ASGI app the manifest mounts at ``/permissions``: it finds the current app's runtime, so
several apps in one process each talk to their own server, and it answers ``/permissions/mcp``
itself (a Starlette mount at ``/permissions/mcp`` would redirect the bare path to a slash).

Nothing here imports the ``mcp`` SDK at module level: it costs about 24 MiB resident (its
protocol types alone are most of that), so it is imported inside the functions that build the
server, which run on the first request to ``/permissions/mcp``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from ccproxy.plugins import PermissionService, Settings

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from structlog.stdlib import BoundLogger

__all__ = [
    "MCP_PATH",
    "TOOL_NAME",
    "McpMount",
    "build_mcp_server",
    "load_mcp_server",
    "transport_security",
]

TOOL_NAME = "check_permission"
#: Where the MCP endpoint answers inside the ``/permissions`` mount.
MCP_PATH = "/mcp"

TOOL_DESCRIPTION = (
    "Decide whether Claude Code may run a tool call. Returns JSON text: "
    '{"behavior": "allow", "updatedInput": {...}} or {"behavior": "deny", "message": "..."}.'
)
INSTRUCTIONS = "Ask a person (terminal, browser or API) whether a tool call may run."

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


# The tool's arguments; their JSON schema is the tool's ``inputSchema``. No docstring (it would
# become the schema's description) and the title ``MCPServer`` gave it: the schema Claude Code
# sees, and the validation messages, are exactly what they were with ``MCPServer``.
class _CheckPermissionArguments(BaseModel):
    model_config = ConfigDict(title=f"{TOOL_NAME}Arguments")

    tool_name: str
    input: dict[str, Any]
    tool_use_id: str | None = None


def _pre_parse_json(arguments: dict[str, Any]) -> dict[str, Any]:
    """Objects sent as JSON text, parsed, as ``MCPServer`` does for non-``str`` fields (some
    clients send ``"input": "{...}"``); scalars inside a string stay strings."""
    parsed = dict(arguments)
    for key in ("input", "tool_use_id"):
        value = arguments.get(key)
        if not isinstance(value, str):
            continue
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if not isinstance(decoded, str | int | float):
            parsed[key] = decoded
    return parsed


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding guard, accepting loopback and what ``security.*`` allows."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = list(settings.security.allowed_hosts)
    origins = list(settings.security.allowed_origins)
    if "*" in hosts:
        # The core middleware already decides Host and Origin; the SDK must not be stricter.
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = [*_LOOPBACK, *(f"[{h}]" if ":" in h else h for h in hosts)]
    if settings.server.host not in {"", "0.0.0.0", "::", "*"}:  # nosec B104 # recognises wildcard hosts; binds nothing
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
    service: PermissionService,
    settings: Settings,
    *,
    version: str,
    logger: BoundLogger | None = None,
) -> tuple[Server[Any], StreamableHTTPSessionManager]:
    """An MCP server with the ``check_permission`` tool, and its (not yet running) session manager.

    Built on the SDK's low-level ``Server`` with an explicit tool definition: ``MCPServer``
    would answer the same, but its constructor imports ``rich`` and installs a rich handler on
    the root logger. Imports the SDK (about 24 MiB) on the first call.
    """
    import mcp.types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    input_schema = _CheckPermissionArguments.model_json_schema(by_alias=True)
    tool = types.Tool(name=TOOL_NAME, description=TOOL_DESCRIPTION, input_schema=input_schema)

    def failure(text: str) -> types.CallToolResult:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], is_error=True
        )

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        # Failures reach the model as an is_error result with the texts MCPServer used.
        if params.name != TOOL_NAME:
            return failure(f"Unknown tool: {params.name}")
        try:
            arguments = _CheckPermissionArguments.model_validate(
                _pre_parse_json(params.arguments or {})
            )
        except ValidationError as exc:
            if logger is not None:
                # Field names only: the rejected values are the caller's data.
                fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
                logger.info("mcp_tool_arguments_rejected", tool=TOOL_NAME, fields=fields)
            return failure(f"Error executing tool {TOOL_NAME}: {exc}")
        try:
            decision = await service.check(
                arguments.tool_name, arguments.input, arguments.tool_use_id
            )
        except Exception as exc:
            # A crash: its text stays on the server.
            if logger is not None:
                logger.error("mcp_tool_failed", tool=TOOL_NAME, error_type=type(exc).__name__)
            return failure(f"Error executing tool {TOOL_NAME}")
        text = json.dumps(decision, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    # Empty prompt and resource lists keep the capabilities MCPServer advertised.
    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[])

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def list_resource_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    server: Server[Any] = Server(
        "ccproxy-permissions",
        version=version,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=lambda name: input_schema if name == TOOL_NAME else None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
    )
    manager = StreamableHTTPSessionManager(
        app=server, security_settings=transport_security(settings)
    )
    return server, manager


async def load_mcp_server(
    service: PermissionService,
    settings: Settings,
    *,
    version: str,
    logger: BoundLogger | None = None,
) -> StreamableHTTPSessionManager:
    """``build_mcp_server``'s session manager, the SDK imported on a worker thread first.

    The import takes most of a second; on a thread the event loop goes on serving meanwhile.
    """
    await asyncio.to_thread(importlib.import_module, "mcp.server.lowlevel")
    return build_mcp_server(service, settings, version=version, logger=logger)[1]


class McpMount:
    """The ASGI app mounted at ``/permissions``: serves ``/permissions/mcp`` per app.

    ``resolve(app)`` gives the running session manager of that app's runtime, starting it on
    the first request (``None``: the plugin is not running there; an awaitable of ``None``:
    the MCP server could not start).
    """

    def __init__(
        self,
        resolve: Callable[[Any], Awaitable[StreamableHTTPSessionManager | None] | None],
    ) -> None:
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
        pending = self._resolve(scope.get("app"))
        if pending is None:
            response = JSONResponse(
                {"error": {"message": "The permissions plugin is not running."}}, 503
            )
            await response(scope, receive, send)
            return
        manager = await pending
        if manager is None:
            # A JSON-RPC error an MCP client can read; the cause is in the proxy's log.
            response = JSONResponse(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32603,
                        "message": "The permissions MCP server is unavailable; see the proxy log.",
                    },
                },
                503,
            )
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)
