"""Plugin factories: the static half of a plugin, found by discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ccproxy.plugins.runtime import (
    AuthProviderPluginRuntime,
    BasePluginRuntime,
    PluginType,
    ProviderPluginRuntime,
    SystemPluginRuntime,
)
from ccproxy.services import TokenSource

if TYPE_CHECKING:
    from ccproxy.plugins.context import PluginContext
    from ccproxy.plugins.core_services import CoreServices
    from ccproxy.plugins.manifest import PluginManifest

__all__ = [
    "AuthProviderPluginFactory",
    "PluginFactory",
    "ProviderPluginFactory",
    "SystemPluginFactory",
]


class PluginFactory:
    """Holds a plugin's manifest and builds its runtime and context for each app.

    Set ``runtime_class = MyRuntime`` or override ``create_runtime()`` to connect a runtime.
    A factory is shared by every app in a process: keep per-app state in the runtime.
    """

    plugin_type: ClassVar[PluginType] = "system"
    runtime_class: type[BasePluginRuntime] = SystemPluginRuntime

    def __init__(self, manifest: PluginManifest) -> None:
        self.manifest = manifest

    def create_runtime(self) -> BasePluginRuntime:
        """A fresh runtime for one app."""
        return self.runtime_class(self.manifest)

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The context for this plugin; override to add keys (a ``router`` key is mounted)."""
        return core_services.create_context(self.manifest)


class SystemPluginFactory(PluginFactory):
    """Factory for system plugins (features that proxy nothing)."""

    plugin_type: ClassVar[PluginType] = "system"
    runtime_class: type[BasePluginRuntime] = SystemPluginRuntime


class AuthProviderPluginFactory(PluginFactory):
    """Factory for auth provider plugins (OAuth login, refresh, credential storage)."""

    plugin_type: ClassVar[PluginType] = "auth_provider"
    runtime_class: type[BasePluginRuntime] = AuthProviderPluginRuntime


class ProviderPluginFactory(PluginFactory):
    """Factory for provider plugins. The ``create_*`` methods have working defaults."""

    plugin_type: ClassVar[PluginType] = "provider"
    runtime_class: type[BasePluginRuntime] = ProviderPluginRuntime

    def create_credentials_manager(self, context: PluginContext) -> TokenSource | None:
        """The ``oauth.<plugin name>`` service of the matching auth provider, when one runs."""
        return context.plugin_registry.get_service(f"oauth.{self.manifest.name}", TokenSource)

    def create_detection_service(self, context: PluginContext) -> Any:
        """Detects facts about the user's client installation; none by default."""
        return None

    def create_adapter(self, context: PluginContext) -> Any:
        """The object that handles proxied requests; none by default."""
        return None
