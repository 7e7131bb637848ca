"""The context a plugin runtime receives: typed attributes that also answer like a mapping."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from pydantic import BaseModel
    from structlog.stdlib import BoundLogger

    from ccproxy.config import Settings
    from ccproxy.hooks import HookManager
    from ccproxy.plugins.registry import PluginRegistry
    from ccproxy.plugins.scheduler import Scheduler
    from ccproxy.proxy.streaming import StreamingHandler
    from ccproxy.proxy.tracing import RequestTracer
    from ccproxy.state import SharedState

__all__ = ["CONTEXT_KEYS", "PluginContext"]

#: The documented keys every context fills.
CONTEXT_KEYS: tuple[str, ...] = (
    "settings",
    "config",
    "http_client",
    "logger",
    "scheduler",
    "plugin_registry",
    "hook_manager",
    "request_tracer",
    "streaming_handler",
    "shared_state",
    "app",
)


class PluginContext(MutableMapping[str, Any]):
    """Everything the core hands one plugin.

    Read it as attributes (``context.http_client``) or as a mapping (``context["config"]``,
    ``context.get("config")``). Plugins may add their own keys; a ``router`` key set by
    ``create_context`` is mounted under ``/<plugin name>``.
    """

    def __init__(
        self,
        *,
        plugin_name: str,
        settings: Settings,
        config: BaseModel | None,
        http_client: httpx.AsyncClient,
        logger: BoundLogger,
        scheduler: Scheduler,
        plugin_registry: PluginRegistry,
        hook_manager: HookManager,
        request_tracer: RequestTracer,
        streaming_handler: StreamingHandler,
        shared_state: SharedState,
        app: FastAPI,
    ) -> None:
        self.plugin_name = plugin_name
        self.settings = settings
        self.config = config
        self.http_client = http_client
        self.logger = logger
        self.scheduler = scheduler
        self.plugin_registry = plugin_registry
        self.hook_manager = hook_manager
        self.request_tracer = request_tracer
        self.streaming_handler = streaming_handler
        self.shared_state = shared_state
        self.app = app
        self._extra: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in CONTEXT_KEYS:
            return getattr(self, key)
        return self._extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in CONTEXT_KEYS:
            setattr(self, key, value)
        else:
            self._extra[key] = value

    def __delitem__(self, key: str) -> None:
        if key in CONTEXT_KEYS:
            raise KeyError(f"{key!r} is a core context key and cannot be removed")
        del self._extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from CONTEXT_KEYS
        yield from self._extra

    def __len__(self) -> int:
        return len(CONTEXT_KEYS) + len(self._extra)

    def __repr__(self) -> str:
        return f"PluginContext(plugin={self.plugin_name!r}, keys={list(self)!r})"
