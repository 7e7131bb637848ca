"""``oauth_codex``: ChatGPT OAuth for the Codex provider (the ``oauth.codex`` TokenSource).

Reads and refreshes the Codex CLI's ``~/.codex/auth.json`` through ``ccproxy.auth.TokenManager``
(single-flight refresh, atomic 0600 writes, unknown keys kept), keeps the usage windows of the
latest Codex responses and serves ``GET /oauth/codex/status`` (no token, ever). Logging in is the
CLI's job: ``ccproxy auth login codex``, which core builds from
:mod:`ccproxy_plugin_codex.oauth_provider`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ccproxy.plugins import (
    AuthProviderPluginFactory,
    AuthProviderPluginRuntime,
    HealthCheckResult,
    PluginManifest,
    RouteSpec,
    health_result,
    plugin_registry,
)
from ccproxy_plugin_codex._version import __version__
from ccproxy_plugin_codex.config import CodexOAuthConfig
from ccproxy_plugin_codex.credentials import (
    AUTH_PLUGIN_NAME,
    PROVIDER,
    SERVICE_NAME,
    STATUS_PATH,
)
from ccproxy_plugin_codex.oauth_provider import oauth_provider
from ccproxy_plugin_codex.usage import UsageWindows, UsageWindowsHook

if TYPE_CHECKING:
    from ccproxy.auth import TokenManager

__all__ = [
    "AUTH_PLUGIN_NAME",
    "SERVICE_NAME",
    "STATUS_PATH",
    "CodexAuthFactory",
    "CodexAuthRuntime",
    "auth_factory",
]


class CodexAuthRuntime(AuthProviderPluginRuntime):
    """Registers the ``oauth.codex`` TokenManager and the usage-windows hook for one app."""

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.token_manager: TokenManager | None = None
        self.usage = UsageWindows()
        self._hook: UsageWindowsHook | None = None

    @property
    def config(self) -> CodexOAuthConfig:
        """The validated ``plugins.oauth_codex`` table."""
        config = self.context.config
        return config if isinstance(config, CodexOAuthConfig) else CodexOAuthConfig()

    async def _on_initialize(self) -> None:
        context = self.context
        self.token_manager = oauth_provider.token_manager(
            self.config, context.http_client, hooks=context.hook_manager, logger=context.logger
        )
        context.plugin_registry.register_service(
            SERVICE_NAME, self.token_manager, provider_plugin=self.name
        )
        self._hook = UsageWindowsHook(self.usage, provider=PROVIDER)
        context.hook_manager.register(self._hook, plugin=self.name)

    async def _on_shutdown(self) -> None:
        if self._hook is not None:
            self.context.hook_manager.unregister(self._hook)
            self._hook = None
        self.context.plugin_registry.unregister_service(SERVICE_NAME)

    def status(self) -> dict[str, Any]:
        """Account facts and the last usage windows; never a token."""
        manager = self.token_manager
        credentials = manager.status() if manager is not None else {"has_credentials": False}
        return {"provider": PROVIDER, "credentials": credentials, "usage": self.usage.snapshot()}

    async def health_check(self) -> HealthCheckResult:
        """``warn`` without usable credentials (the proxy still serves: it answers 401)."""
        if not self.initialized or self.token_manager is None:
            return await super().health_check()
        status = self.token_manager.status()
        details = {
            key: status.get(key)
            for key in ("source", "account_id", "plan", "expires_at", "refreshable")
            if status.get(key) is not None
        }
        if not status.get("has_credentials"):
            problem = status.get("error") or f"no credentials in {status.get('path')}"
            return health_result(
                "warn",
                component_id=self.name,
                version=self.manifest.version,
                output=f"{problem}; run `ccproxy auth login codex`",
                details=details,
            )
        if status.get("expired") and not status.get("refreshable"):
            return health_result(
                "warn",
                component_id=self.name,
                version=self.manifest.version,
                output="the access token has expired and cannot be refreshed; "
                "run `ccproxy auth login codex`",
                details=details,
            )
        return health_result(
            "pass", component_id=self.name, version=self.manifest.version, details=details
        )


def _status_router() -> APIRouter:
    router = APIRouter(tags=[AUTH_PLUGIN_NAME])

    @router.get("/status")
    async def status(request: Request) -> JSONResponse:

        runtime = plugin_registry(request.app).get_runtime(AUTH_PLUGIN_NAME)
        if not isinstance(runtime, CodexAuthRuntime) or not runtime.initialized:
            return JSONResponse(
                {
                    "error": {
                        "message": "the oauth_codex plugin is not running",
                        "type": "api_error",
                    }
                },
                status_code=503,
            )
        return JSONResponse(runtime.status())

    return router


class CodexAuthFactory(AuthProviderPluginFactory):
    """Builds ``oauth_codex`` runtimes; the manifest declares ``oauth.codex`` and the status route."""

    runtime_class = CodexAuthRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=AUTH_PLUGIN_NAME,
                version=__version__,
                description="ChatGPT OAuth for the Codex provider (the Codex CLI's auth.json).",
                is_provider=True,
                provides=[SERVICE_NAME],
                routes=[RouteSpec(router=_status_router(), prefix=f"/oauth/{PROVIDER}")],
                config_class=CodexOAuthConfig,
            )
        )


#: The ``oauth_codex`` entry point.
auth_factory = CodexAuthFactory()
