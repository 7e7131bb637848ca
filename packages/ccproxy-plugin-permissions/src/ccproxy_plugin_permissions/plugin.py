"""The ``permissions`` system plugin: factory (entry point ``permissions``) and runtime.

Per app the runtime owns the request store (the ``permissions`` service), the MCP server and
its session manager, which it runs from ``_on_initialize`` to ``_on_shutdown``.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Final

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from ccproxy.app import get_plugin_host
from ccproxy.plugins import (
    HealthCheckResult,
    MountSpec,
    PluginContext,
    PluginManifest,
    SystemPluginFactory,
    SystemPluginRuntime,
    health_result,
)
from ccproxy_plugin_permissions._version import __version__
from ccproxy_plugin_permissions.config import PermissionsConfig
from ccproxy_plugin_permissions.mcp_server import McpMount, build_mcp_server
from ccproxy_plugin_permissions.routes import permissions_router
from ccproxy_plugin_permissions.store import PermissionStore

if TYPE_CHECKING:
    from ccproxy.plugins import CoreServices

__all__ = ["PLUGIN_NAME", "PermissionsFactory", "PermissionsRuntime", "factory"]

PLUGIN_NAME: Final = "permissions"


class PermissionsRuntime(SystemPluginRuntime):
    """The permission requests of one app, and the MCP server that receives them."""

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.store: PermissionStore | None = None
        self.session_manager: StreamableHTTPSessionManager | None = None
        self._exit_stack: AsyncExitStack | None = None

    @property
    def config(self) -> PermissionsConfig:
        """The validated ``plugins.permissions`` table (defaults when the core passed none)."""
        config = self.context.config
        return config if isinstance(config, PermissionsConfig) else PermissionsConfig()

    async def _on_initialize(self) -> None:
        logger = self.logger
        store = PermissionStore(self.config, on_log=lambda event, **kv: logger.info(event, **kv))
        _, manager = build_mcp_server(store, self.context.settings, version=__version__)
        stack = AsyncExitStack()
        await stack.enter_async_context(manager.run())
        self.store, self.session_manager, self._exit_stack = store, manager, stack
        self.context.plugin_registry.register_service(PLUGIN_NAME, store, provider_plugin=self.name)

    async def _on_shutdown(self) -> None:
        if self.store is not None:
            self.store.close()
        stack, self._exit_stack = self._exit_stack, None
        self.session_manager = None
        if stack is not None:
            await stack.aclose()

    async def health_check(self) -> HealthCheckResult:
        """``pass`` with the number of pending requests."""
        if not self.initialized or self.store is None:
            return await super().health_check()
        return health_result(
            "pass",
            component_id=self.name,
            version=self.manifest.version,
            details={
                "pending": self.store.pending_count(),
                "rules": len(self.config.rules),
                "timeout_seconds": self.config.timeout_seconds,
            },
        )


def _running(app: Any) -> PermissionsRuntime | None:
    try:
        runtime = get_plugin_host(app).registry.get_runtime(PLUGIN_NAME)
    except RuntimeError:
        return None
    if isinstance(runtime, PermissionsRuntime) and runtime.initialized:
        return runtime
    return None


def _manager_of(app: Any) -> StreamableHTTPSessionManager | None:
    runtime = _running(app)
    return runtime.session_manager if runtime is not None else None


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
                # The page and its script carry no data; everything they fetch needs the token.
                public_paths=["/permissions/", "/permissions/page.js"],
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The core's context plus the routes (under ``/permissions``) bound to this app."""
        context = super().create_context(core_services)
        app = core_services.app
        settings = core_services.settings

        def store() -> PermissionStore | None:
            runtime = _running(app)
            return runtime.store if runtime is not None else None

        def token() -> str | None:
            secret = settings.security.auth_token
            return secret.get_secret_value() if secret is not None else None

        context["router"] = permissions_router(store, token)
        return context


#: The ``ccproxy.plugins`` entry point.
factory = PermissionsFactory()
