"""Plugin runtimes: the live, per-app half of a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ccproxy.plugins.health import HealthCheckResult, health_result

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins.context import PluginContext
    from ccproxy.plugins.manifest import PluginManifest
    from ccproxy.services import TokenSource

__all__ = [
    "AuthProviderPluginRuntime",
    "BasePluginRuntime",
    "PluginType",
    "ProviderPluginRuntime",
    "SystemPluginRuntime",
]

PluginType = Literal["system", "provider", "auth_provider"]


class BasePluginRuntime:
    """Lifecycle: ``initialize(context)`` → ``_on_initialize()``; ``validate()``;
    ``health_check()``; ``shutdown()`` → ``_on_shutdown()``.

    Subclasses override the ``_on_*`` methods and ``health_check``. A runtime reports ``fail``
    only when it cannot serve at all; degraded states (missing credentials, stale data) are ``warn``.
    """

    plugin_type: ClassVar[PluginType] = "system"

    def __init__(self, manifest: PluginManifest) -> None:
        self.manifest = manifest
        self.initialized = False
        self._context: PluginContext | None = None

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.manifest.name

    @property
    def context(self) -> PluginContext:
        """The context given to ``initialize``; an error before that."""
        if self._context is None:
            raise RuntimeError(f"plugin {self.name!r} has no context before initialize()")
        return self._context

    @property
    def logger(self) -> BoundLogger:
        """The plugin's bound logger."""
        return self.context.logger

    async def initialize(self, context: PluginContext) -> None:
        """Attach the context and run ``_on_initialize`` once (later calls do nothing)."""
        if self.initialized:
            return
        self._context = context
        await self._on_initialize()
        self.initialized = True

    async def _on_initialize(self) -> None:
        """Register services, hooks and tasks, open resources. Raise to refuse to start."""

    async def validate(self) -> bool:
        """Whether the plugin is usable after initialisation; ``False`` marks it failed."""
        return True

    async def health_check(self) -> HealthCheckResult:
        """IETF health for this plugin: ``pass`` once initialised."""
        if not self.initialized:
            return health_result(
                "fail",
                component_id=self.name,
                version=self.manifest.version,
                output="not initialised",
            )
        return health_result("pass", component_id=self.name, version=self.manifest.version)

    async def shutdown(self) -> None:
        """Run ``_on_shutdown`` once for an initialised runtime."""
        if not self.initialized:
            return
        try:
            await self._on_shutdown()
        finally:
            self.initialized = False

    async def _on_shutdown(self) -> None:
        """Release what ``_on_initialize`` acquired."""


class SystemPluginRuntime(BasePluginRuntime):
    """A feature that proxies nothing (metrics, pricing, permissions)."""

    plugin_type: ClassVar[PluginType] = "system"


class AuthProviderPluginRuntime(BasePluginRuntime):
    """OAuth login and refresh for one provider; provides ``oauth.<provider>``."""

    plugin_type: ClassVar[PluginType] = "auth_provider"


class ProviderPluginRuntime(BasePluginRuntime):
    """Proxies one upstream. Before ``_on_initialize`` runs, the factory's ``create_adapter``,
    ``create_detection_service`` and ``create_credentials_manager`` fill the attributes below."""

    plugin_type: ClassVar[PluginType] = "provider"

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.adapter: Any = None
        self.detection_service: Any = None
        self.credentials_manager: TokenSource | None = None

    def token_source(self) -> TokenSource | None:
        """The ``oauth.<name>`` service, looked up again until it exists (auth plugins start,
        stop or are disabled independently)."""
        if self.credentials_manager is None and self._context is not None:
            from ccproxy.services import TokenSource as TokenSourceProtocol

            self.credentials_manager = self._context.plugin_registry.get_service(
                f"oauth.{self.name}", TokenSourceProtocol
            )
        return self.credentials_manager

    def health_details(self) -> dict[str, Any]:
        """Facts shown in this provider's health check (e.g. its upstream URL)."""
        return {}

    async def health_check(self) -> HealthCheckResult:
        """``warn`` while no ``oauth.<name>`` credentials service runs (requests answer 401)."""
        if not self.initialized:
            return await super().health_check()
        details = self.health_details()
        if self.token_source() is None:
            return health_result(
                "warn",
                component_id=self.name,
                version=self.manifest.version,
                output=f"no oauth.{self.name} credentials service: enable the oauth_{self.name} "
                "plugin; requests answer 401",
                details=details,
            )
        return health_result(
            "pass", component_id=self.name, version=self.manifest.version, details=details
        )

    async def initialize(self, context: PluginContext) -> None:
        if self.initialized:
            return
        factory = context.get("factory")
        if factory is not None:
            self.credentials_manager = factory.create_credentials_manager(context)
            self.detection_service = factory.create_detection_service(context)
            self.adapter = factory.create_adapter(context)
        await super().initialize(context)
