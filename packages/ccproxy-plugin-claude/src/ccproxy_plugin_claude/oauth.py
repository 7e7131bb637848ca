"""The ``oauth_claude`` auth provider plugin: the Claude credential as the ``oauth.claude`` service.

It registers a :class:`~ccproxy.auth.TokenManager` over Claude Code's credential file (or a
long-lived ``CLAUDE_CODE_OAUTH_TOKEN``), remembers the last ``anthropic-ratelimit-unified-*``
headers the ``claude`` provider saw, and serves them (with credential facts, never a token) at
``GET /oauth/claude/status`` for ``ccproxy auth status claude``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ccproxy.auth import TokenManager
from ccproxy.plugins import (
    AuthProviderPluginFactory,
    AuthProviderPluginRuntime,
    HealthCheckResult,
    HookEvent,
    HookPayload,
    PluginManifest,
    RequestCompleted,
    RouteSpec,
    health_result,
    plugin_registry,
)
from ccproxy_plugin_claude._version import __version__
from ccproxy_plugin_claude.config import OAUTH_TOKEN_ENV, PROVIDER, ClaudeOAuthConfig
from ccproxy_plugin_claude.oauth_provider import oauth_provider

__all__ = [
    "NAME",
    "RATE_LIMIT_PREFIX",
    "SERVICE",
    "STATUS_PATH",
    "ClaudeAuthFactory",
    "ClaudeAuthRuntime",
    "RateLimitWindows",
    "auth_factory",
]

NAME: Final = "oauth_claude"
SERVICE: Final = f"oauth.{PROVIDER}"
#: The headers kept: the subscription's usage windows.
RATE_LIMIT_PREFIX: Final = "anthropic-ratelimit-unified-"
STATUS_PATH: Final = f"/oauth/{PROVIDER}/status"


class RateLimitWindows:
    """A ``REQUEST_COMPLETED`` hook keeping the last unified rate-limit headers of ``claude``."""

    name = "claude_rate_limit_windows"
    priority = 100

    def __init__(self) -> None:
        self.events = [HookEvent.REQUEST_COMPLETED]
        self.headers: dict[str, str] = {}
        self.seen_at: datetime | None = None

    async def __call__(self, event: HookPayload) -> None:
        if not isinstance(event, RequestCompleted) or event.record.provider != PROVIDER:
            return
        windows = {
            name: value
            for name, value in event.record.rate_limits.items()
            if name.lower().startswith(RATE_LIMIT_PREFIX)
        }
        if windows:
            self.headers = windows
            self.seen_at = datetime.now(UTC)

    def snapshot(self) -> dict[str, Any]:
        """The last windows seen and when (``None`` before the first proxied request)."""
        return {
            "rate_limits": dict(self.headers),
            "rate_limits_seen_at": self.seen_at.isoformat() if self.seen_at else None,
        }


class ClaudeAuthRuntime(AuthProviderPluginRuntime):
    """Owns the TokenManager (``oauth.claude``) and the rate-limit windows of one app."""

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.token_manager: TokenManager | None = None
        self.windows = RateLimitWindows()

    @property
    def config(self) -> ClaudeOAuthConfig:
        """The validated ``plugins.oauth_claude`` table (defaults when the context has none)."""
        config = self.context.config
        return config if isinstance(config, ClaudeOAuthConfig) else ClaudeOAuthConfig()

    async def _on_initialize(self) -> None:
        context = self.context
        self.token_manager = oauth_provider.token_manager(
            self.config, context.http_client, hooks=context.hook_manager, logger=context.logger
        )
        context.plugin_registry.register_service(SERVICE, self.token_manager, provider_plugin=NAME)
        context.hook_manager.register(self.windows, plugin=NAME)

    async def _on_shutdown(self) -> None:
        self.context.hook_manager.unregister(self.windows)
        self.context.plugin_registry.unregister_service(SERVICE)

    def status(self) -> dict[str, Any]:
        """Credential facts and the last rate-limit windows; never a token."""
        credentials = self.token_manager.status() if self.token_manager is not None else {}
        return {"provider": PROVIDER, "credentials": credentials, **self.windows.snapshot()}

    async def health_check(self) -> HealthCheckResult:
        if not self.initialized or self.token_manager is None:
            return await super().health_check()
        status = self.token_manager.status()
        details = {k: v for k, v in status.items() if k in ("source", "path", "plan", "expires_at")}
        if not status.get("has_credentials"):
            reason = status.get("error") or f"no Claude credentials in {status.get('path')}"
            return health_result(
                "warn",
                component_id=self.name,
                version=self.manifest.version,
                output=f"{reason}; run `ccproxy auth login claude` or set {OAUTH_TOKEN_ENV}. "
                "Requests to /claude answer 401 until then.",
                details=details,
            )
        return health_result(
            "pass", component_id=self.name, version=self.manifest.version, details=details
        )


def _status_router() -> APIRouter:
    router = APIRouter()

    @router.get("/status")
    async def claude_oauth_status(request: Request) -> JSONResponse:
        runtime = plugin_registry(request.app).get_runtime(NAME)
        if not isinstance(runtime, ClaudeAuthRuntime) or not runtime.initialized:
            return JSONResponse(
                {"error": {"message": f"the {NAME} plugin is not running", "type": "unavailable"}},
                status_code=503,
            )
        return JSONResponse(runtime.status())

    return router


class ClaudeAuthFactory(AuthProviderPluginFactory):
    """Builds the ``oauth_claude`` runtime; stateless (everything per app is in the runtime)."""

    runtime_class = ClaudeAuthRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=NAME,
                version=__version__,
                description="Claude OAuth (Claude Code's credentials): provides oauth.claude",
                is_provider=True,
                provides=[SERVICE],
                routes=[
                    RouteSpec(router=_status_router(), prefix=f"/oauth/{PROVIDER}", tags=["auth"])
                ],
                config_class=ClaudeOAuthConfig,
            )
        )


#: The ``oauth_claude`` entry point.
auth_factory = ClaudeAuthFactory()
