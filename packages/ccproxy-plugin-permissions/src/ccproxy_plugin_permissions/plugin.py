"""The ``permissions`` system plugin: factory (entry point ``permissions``) and runtime.

Per app the runtime owns the request store (the ``permissions`` service) and an ``McpHost``:
a task started in ``_on_initialize`` that builds the MCP server and runs its session manager
until ``_on_shutdown``. By default (``preload_mcp``) it loads the ``mcp`` SDK in the background
right after start-up, so the first MCP client is answered at once; with ``preload_mcp = false``
the SDK is imported by the first request to ``/permissions/mcp`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from ccproxy.plugins import (
    HealthCheckResult,
    MountSpec,
    PluginContext,
    PluginManifest,
    SystemPluginFactory,
    SystemPluginRuntime,
    health_result,
    plugin_registry,
)
from ccproxy_plugin_permissions._version import __version__
from ccproxy_plugin_permissions.config import PermissionsConfig
from ccproxy_plugin_permissions.mcp_host import McpHost
from ccproxy_plugin_permissions.mcp_server import McpMount, load_mcp_server
from ccproxy_plugin_permissions.routes import permissions_router
from ccproxy_plugin_permissions.store import PermissionStore

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from ccproxy.plugins import CoreServices

__all__ = ["PLUGIN_NAME", "PermissionsFactory", "PermissionsRuntime", "factory"]

PLUGIN_NAME: Final = "permissions"


class PermissionsRuntime(SystemPluginRuntime):
    """The permission requests of one app, and the MCP server that receives them."""

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.store: PermissionStore | None = None
        self.mcp: McpHost | None = None

    @property
    def session_manager(self) -> StreamableHTTPSessionManager | None:
        """The MCP session manager while it runs (``None`` before the first MCP request)."""
        return self.mcp.manager if self.mcp is not None else None

    @property
    def config(self) -> PermissionsConfig:
        """The validated ``plugins.permissions`` table (defaults when the core passed none)."""
        config = self.context.config
        return config if isinstance(config, PermissionsConfig) else PermissionsConfig()

    async def _on_initialize(self) -> None:
        logger = self.logger
        store = PermissionStore(self.config, on_log=lambda event, **kv: logger.info(event, **kv))
        settings = self.context.settings

        def build() -> Awaitable[StreamableHTTPSessionManager]:
            return load_mcp_server(store, settings, version=__version__, logger=logger)

        self.context.plugin_registry.register_service(PLUGIN_NAME, store, provider_plugin=self.name)
        # Last, so that nothing can fail after the task exists (_on_shutdown stops it).
        host = McpHost(build, logger=logger)
        host.start(preload=self.config.preload_mcp)
        self.store, self.mcp = store, host

    async def _on_shutdown(self) -> None:
        if self.store is not None:
            self.store.close()
        host, self.mcp = self.mcp, None
        if host is not None:
            await host.stop()

    async def health_check(self) -> HealthCheckResult:
        """``pass`` with the number of pending requests and the MCP server's state (``starting``
        while it loads, ``running`` once it answers at once; ``idle`` until the first MCP request
        when not preloaded); ``warn`` when the MCP server failed."""
        if not self.initialized or self.store is None or self.mcp is None:
            return await super().health_check()
        state = self.mcp.state
        failed = state == "failed"
        return health_result(
            "warn" if failed else "pass",
            component_id=self.name,
            version=self.manifest.version,
            output="the MCP server at /permissions/mcp failed; see the log" if failed else None,
            details={
                "pending": self.store.pending_count(),
                "rules": len(self.config.rules),
                "timeout_seconds": self.config.timeout_seconds,
                "mcp": state,
            },
        )


def _running(app: Any) -> PermissionsRuntime | None:
    try:
        runtime = plugin_registry(app).get_runtime(PLUGIN_NAME)
    except RuntimeError:
        return None
    if isinstance(runtime, PermissionsRuntime) and runtime.initialized:
        return runtime
    return None


def _manager_of(app: Any) -> Awaitable[StreamableHTTPSessionManager | None] | None:
    runtime = _running(app)
    if runtime is None or runtime.mcp is None:
        return None
    return runtime.mcp.session_manager()


class PermissionsFactory(SystemPluginFactory):
    """Builds the manifest (with the MCP mount), a runtime per app and the per-app routes."""

    runtime_class = PermissionsRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PLUGIN_NAME,
                version=__version__,
                description="Approve Claude Code's tool calls (MCP permission-prompt tool at "
                "/permissions/mcp) from a terminal, a browser or the API.",
                provides=[PLUGIN_NAME],
                mounts=[MountSpec("/permissions", McpMount(_manager_of), name="permissions:mcp")],
                config_class=PermissionsConfig,
                # Without the token "/permissions/" is a sign-in page (no data, no app script);
                # with it, the page. Everything else needs the token.
                public_paths=["/permissions/", "/permissions/login.js"],
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The core's context plus the routes (under ``/permissions``) bound to this app."""
        context = super().create_context(core_services)
        app = core_services.app

        def store() -> PermissionStore | None:
            runtime = _running(app)
            return runtime.store if runtime is not None else None

        context["router"] = permissions_router(store, core_services.settings)
        return context


#: The ``ccproxy.plugins`` entry point.
factory = PermissionsFactory()
