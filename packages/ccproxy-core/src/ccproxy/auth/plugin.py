"""The auth provider plugin of an :class:`OAuthProvider`: ``oauth.<name>`` and its status route.

:class:`OAuthPluginFactory` builds the whole ``auth_provider`` plugin from a description: its
runtime registers :meth:`OAuthProvider.token_manager` as the ``oauth.<name>`` ``TokenSource``,
reports health (``warn`` without usable credentials: the proxy still answers, with 401s), and
serves ``GET /oauth/<name>/status`` (credential facts and the usage the provider's hook saw;
never a token), which ``ccproxy auth status <name>`` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ccproxy.auth.manager import TokenManager
from ccproxy.auth.provider import OAuthProvider
from ccproxy.plugins import (
    AuthProviderPluginFactory,
    AuthProviderPluginRuntime,
    HealthCheckResult,
    Hook,
    PluginManifest,
    RouteSpec,
    health_result,
    plugin_registry,
)

__all__ = ["OAuthPluginFactory", "OAuthPluginRuntime", "UsageHook"]


class UsageHook(Hook, Protocol):
    """A hook that remembers the provider's latest usage windows (from ``REQUEST_COMPLETED``)."""

    def snapshot(self) -> dict[str, Any]:
        """The keys it adds to ``GET /oauth/<name>/status`` (no secret)."""
        ...


class OAuthPluginRuntime(AuthProviderPluginRuntime):
    """One app's ``oauth.<name>`` token source and usage hook."""

    def __init__(
        self, manifest: PluginManifest, provider: OAuthProvider[Any], usage: UsageHook | None
    ) -> None:
        super().__init__(manifest)
        self.provider = provider
        self.usage = usage
        self.token_manager: TokenManager | None = None

    async def _on_initialize(self) -> None:
        context, provider = self.context, self.provider
        config = context.config
        if not isinstance(config, provider.config_class):
            config = provider.config_class()
        self.token_manager = provider.token_manager(
            config, context.http_client, hooks=context.hook_manager, logger=context.logger
        )
        context.plugin_registry.register_service(
            provider.service, self.token_manager, provider_plugin=self.name
        )
        if self.usage is not None:
            context.hook_manager.register(self.usage, plugin=self.name)

    async def _on_shutdown(self) -> None:
        if self.usage is not None:
            self.context.hook_manager.unregister(self.usage)
        self.context.plugin_registry.unregister_service(self.provider.service)

    def status(self) -> dict[str, Any]:
        """Credential facts and the usage the hook saw; never a token."""
        manager = self.token_manager
        credentials = manager.status() if manager is not None else {"has_credentials": False}
        usage = self.usage.snapshot() if self.usage is not None else {}
        return {"provider": self.provider.name, "credentials": credentials, **usage}

    async def health_check(self) -> HealthCheckResult:
        """``warn`` without usable credentials (requests then get a 401 saying how to log in)."""
        if not self.initialized or self.token_manager is None:
            return await super().health_check()
        facts = self.token_manager.status()
        details = {
            key: facts[key]
            for key in ("source", "path", "account_id", "plan", "expires_at", "refreshable")
            if facts.get(key) is not None
        }
        problem = None
        if not facts.get("has_credentials"):
            where = facts.get("path")
            problem = (
                facts.get("error") or f"no {self.provider.display_name} credentials in {where}"
            )
        elif facts.get("expired") and not facts.get("refreshable"):
            problem = "the access token has expired and cannot be refreshed"
        if problem is None:
            return health_result(
                "pass", component_id=self.name, version=self.manifest.version, details=details
            )
        return health_result(
            "warn",
            component_id=self.name,
            version=self.manifest.version,
            output=f"{problem}; run `{self.provider.login_command}`. Requests to "
            f"/{self.provider.name} answer 401 until then.",
            details=details,
        )


def _status_router(plugin: str) -> APIRouter:
    router = APIRouter()

    @router.get("/status")
    async def oauth_status(request: Request) -> JSONResponse:
        runtime = plugin_registry(request.app).get_runtime(plugin)
        if not isinstance(runtime, OAuthPluginRuntime) or not runtime.initialized:
            error = {"message": f"the {plugin} plugin is not running", "type": "unavailable"}
            return JSONResponse({"error": error}, status_code=503)
        return JSONResponse(runtime.status())

    return router


class OAuthPluginFactory(AuthProviderPluginFactory):
    """The ``auth_provider`` plugin of ``provider`` (named ``provider.plugin``).

    ``usage`` makes a fresh :class:`UsageHook` per app (``None``: no usage windows).
    """

    def __init__(
        self,
        provider: OAuthProvider[Any],
        *,
        version: str,
        description: str,
        usage: Callable[[], UsageHook] | None = None,
    ) -> None:
        self.provider = provider
        self.usage = usage
        route = RouteSpec(router=_status_router(provider.plugin), prefix=f"/oauth/{provider.name}")
        super().__init__(
            PluginManifest(
                name=provider.plugin,
                version=version,
                description=description,
                is_provider=True,
                provides=[provider.service],
                routes=[route],
                config_class=provider.config_class,
            )
        )

    def create_runtime(self) -> OAuthPluginRuntime:
        """A runtime with its own usage hook."""
        usage = self.usage() if self.usage is not None else None
        return OAuthPluginRuntime(self.manifest, self.provider, usage)
