"""What the core shares with every plugin of one app, and how a context is made from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ccproxy.logging import get_plugin_logger
from ccproxy.plugins.context import PluginContext

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from ccproxy.config import Settings
    from ccproxy.hooks import HookManager
    from ccproxy.plugins.manifest import PluginManifest
    from ccproxy.plugins.registry import PluginRegistry
    from ccproxy.plugins.scheduler import Scheduler
    from ccproxy.proxy.streaming import StreamingHandler
    from ccproxy.proxy.tracing import RequestTracer
    from ccproxy.state import SharedState

__all__ = ["CoreServices"]


@dataclass
class CoreServices:
    """The app-wide services passed to ``PluginFactory.create_context``."""

    settings: Settings
    http_client: httpx.AsyncClient
    scheduler: Scheduler
    plugin_registry: PluginRegistry
    hook_manager: HookManager
    request_tracer: RequestTracer
    streaming_handler: StreamingHandler
    shared_state: SharedState
    app: FastAPI
    plugin_configs: dict[str, Any] = field(default_factory=dict)

    def create_context(self, manifest: PluginManifest) -> PluginContext:
        """A context for ``manifest``'s plugin with every documented key filled."""
        return PluginContext(
            plugin_name=manifest.name,
            settings=self.settings,
            config=self.plugin_configs.get(manifest.name),
            http_client=self.http_client,
            logger=get_plugin_logger(manifest.name),
            scheduler=self.scheduler,
            plugin_registry=self.plugin_registry,
            hook_manager=self.hook_manager,
            request_tracer=self.request_tracer,
            streaming_handler=self.streaming_handler,
            shared_state=self.shared_state,
            app=self.app,
        )
