"""The per-app registry of plugins and the services they provide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

if TYPE_CHECKING:
    from ccproxy.plugins.context import PluginContext
    from ccproxy.plugins.factory import PluginFactory
    from ccproxy.plugins.manifest import PluginManifest
    from ccproxy.plugins.runtime import BasePluginRuntime, PluginType

__all__ = ["PluginRecord", "PluginRegistry", "PluginState", "ServiceConflictError"]

T = TypeVar("T")

PluginState = Literal[
    "discovered", "disabled", "skipped", "failed", "loaded", "initialized", "stopped"
]


class ServiceConflictError(ValueError):
    """A service name is already provided by another plugin."""


@dataclass
class PluginRecord:
    """What the core knows about one plugin, running or not (shown by status and ``plugins list``)."""

    name: str
    source: Literal["entry_point", "local"]
    distribution: str | None = None
    version: str | None = None
    plugin_type: PluginType | None = None
    description: str = ""
    location: str = ""
    state: PluginState = "discovered"
    error: str | None = None
    factory: PluginFactory | None = None
    manifest: PluginManifest | None = None
    runtime: BasePluginRuntime | None = None
    context: PluginContext | None = None
    config: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether configuration lets the plugin load."""
        return self.state != "disabled"

    def summary(self) -> dict[str, Any]:
        """The JSON shape of ``/api/plugins/status`` for this plugin."""
        manifest = self.manifest
        return {
            "name": self.name,
            "version": manifest.version if manifest else self.version,
            "type": self.plugin_type,
            "description": (manifest.description if manifest else self.description) or "",
            "provides": list(manifest.provides) if manifest else [],
            "requires": list(manifest.requires) if manifest else [],
            "optional_requires": list(manifest.optional_requires) if manifest else [],
            "initialized": bool(self.runtime is not None and self.runtime.initialized),
            "status": self.state,
            "error": self.error,
            "source": self.source,
            "distribution": self.distribution,
        }


class PluginRegistry:
    """Plugins of one app, their initialisation order and the service directory."""

    def __init__(self) -> None:
        self._plugins: dict[str, PluginRecord] = {}
        self._services: dict[str, tuple[Any, str | None]] = {}
        self.initialization_order: list[str] = []

    # plugins
    def add_plugin(self, record: PluginRecord) -> None:
        """Record a discovered plugin (replacing an earlier record of the same name)."""
        self._plugins[record.name] = record

    def get_plugin(self, name: str) -> PluginRecord | None:
        """The record of plugin ``name``."""
        return self._plugins.get(name)

    def plugins(self) -> list[PluginRecord]:
        """Every known plugin, by name."""
        return [self._plugins[name] for name in sorted(self._plugins)]

    def get_runtime(self, name: str) -> BasePluginRuntime | None:
        """The runtime of plugin ``name`` when it was created."""
        record = self._plugins.get(name)
        return record.runtime if record else None

    # services
    def register_service(
        self, name: str, instance: Any, provider_plugin: str | None = None
    ) -> None:
        """Make ``instance`` available as ``name``; one provider per name."""
        current = self._services.get(name)
        if current is not None and current[1] != provider_plugin:
            raise ServiceConflictError(
                f"service {name!r} is already provided by plugin {current[1]!r}"
            )
        self._services[name] = (instance, provider_plugin)

    def unregister_service(self, name: str) -> None:
        """Withdraw ``name``."""
        self._services.pop(name, None)

    def unregister_plugin_services(self, plugin: str) -> None:
        """Withdraw every service ``plugin`` provided."""
        for name in [n for n, (_, p) in self._services.items() if p == plugin]:
            del self._services[name]

    @overload
    def get_service(self, name: str) -> Any: ...

    @overload
    def get_service(self, name: str, expected_type: type[T]) -> T | None: ...

    def get_service(self, name: str, expected_type: type[Any] | None = None) -> Any:
        """The service ``name``; ``None`` when absent or not an instance of ``expected_type``."""
        entry = self._services.get(name)
        if entry is None:
            return None
        instance = entry[0]
        if expected_type is not None and not isinstance(instance, expected_type):
            return None
        return instance

    def has_service(self, name: str) -> bool:
        """Whether ``name`` is registered."""
        return name in self._services

    def services(self) -> dict[str, str | None]:
        """Service name → providing plugin."""
        return {name: plugin for name, (_, plugin) in sorted(self._services.items())}
