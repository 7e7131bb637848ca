"""Hooks: named events the core and plugins emit, and the subscribers that observe them.

Hooks run inline on the event loop, in priority order (lower first; ties in registration order).
A hook that raises is logged with its plugin's name and the emitter carries on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

__all__ = [
    "HOOK_EVENT_DOCS",
    "Hook",
    "HookContext",
    "HookEvent",
    "HookManager",
]


class HookEvent(StrEnum):
    """Every event a hook can subscribe to (each documented in ``HOOK_EVENT_DOCS``)."""

    APP_STARTUP = "app.startup"
    APP_SHUTDOWN = "app.shutdown"
    PLUGIN_LOADED = "plugin.loaded"
    PLUGIN_FAILED = "plugin.failed"
    REQUEST_STARTED = "request.started"
    PROVIDER_REQUEST_PREPARED = "provider.request.prepared"
    PROVIDER_REQUEST_SENT = "provider.request.sent"
    PROVIDER_RESPONSE_RECEIVED = "provider.response.received"
    PROVIDER_STREAM_START = "provider.stream.start"
    PROVIDER_STREAM_CHUNK = "provider.stream.chunk"
    PROVIDER_STREAM_END = "provider.stream.end"
    PROVIDER_ERROR = "provider.error"
    AUTH_TOKEN_REFRESHED = "auth.token.refreshed"  # nosec B105 # an event name, not a secret
    AUTH_FAILED = "auth.failed"
    REQUEST_COMPLETED = "request.completed"
    REQUEST_FAILED = "request.failed"


#: When each event fires and what its ``HookContext`` carries. A test fails on an event
#: missing here, so new events arrive documented.
HOOK_EVENT_DOCS: Mapping[HookEvent, str] = {
    HookEvent.APP_STARTUP: "Once per app, after every plugin has been initialised. Payload: none.",
    HookEvent.APP_SHUTDOWN: "Once per app, before plugins shut down (in reverse order). Payload: none.",
    HookEvent.PLUGIN_LOADED: "After a plugin initialised successfully. `plugin` names it; `data` has its version and type.",
    HookEvent.PLUGIN_FAILED: "When a plugin is skipped or fails to initialise. `plugin` names it; `error` says why.",
    HookEvent.REQUEST_STARTED: "When a provider route receives a request, before any upstream work. `request_id`, `plugin` (the provider).",
    HookEvent.PROVIDER_REQUEST_PREPARED: "The upstream request is built; `request` is mutable here (and only here): hooks may edit headers or body.",
    HookEvent.PROVIDER_REQUEST_SENT: "The upstream request has been sent. `request` is a read-only view.",
    HookEvent.PROVIDER_RESPONSE_RECEIVED: "Upstream status and headers arrived. `response` carries them.",
    HookEvent.PROVIDER_STREAM_START: "The first bytes of an upstream stream are about to be relayed. `response` carries status and headers.",
    HookEvent.PROVIDER_STREAM_CHUNK: "Each upstream stream chunk as relayed. `chunk` holds the bytes (do not block: this is the hot path).",
    HookEvent.PROVIDER_STREAM_END: "The upstream stream ended, cleanly or not. `error` is set when it did not.",
    HookEvent.PROVIDER_ERROR: "Upstream failed: unreachable, timed out, or answered an error status. `error` describes it; `response` when there was one.",
    HookEvent.AUTH_TOKEN_REFRESHED: "A credential was refreshed. `data` has the provider and account id (never a token).",
    HookEvent.AUTH_FAILED: "A credential could not be loaded or refreshed. `error` says why (never a token).",
    HookEvent.REQUEST_COMPLETED: "Exactly once per proxied request, success or not, after the client response ended. `record` is the RequestRecord.",
    HookEvent.REQUEST_FAILED: "Additionally to REQUEST_COMPLETED when the request failed. `record` and `error`.",
}


@dataclass
class HookContext:
    """What a hook receives: the event, who emitted it, and one payload per event kind."""

    event: HookEvent
    request_id: str | None = None
    plugin: str | None = None
    record: Any = None
    request: Any = None
    response: Any = None
    chunk: bytes | None = None
    error: BaseException | str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Hook(Protocol):
    """A subscriber: ``name``, the ``events`` it wants, a ``priority`` and an async call."""

    name: str
    events: list[HookEvent]
    priority: int

    async def __call__(self, ctx: HookContext) -> None: ...


@dataclass
class _Registration:
    hook: Hook
    plugin: str | None
    order: int


class HookManager:
    """Holds the hooks of one app and calls them in order when an event is emitted."""

    def __init__(self, logger: BoundLogger) -> None:
        self._logger = logger
        self._by_event: dict[HookEvent, list[_Registration]] = {}
        self._counter = 0

    def register(self, hook: Hook, *, plugin: str | None = None) -> None:
        """Subscribe ``hook`` to each of its events."""
        events = [HookEvent(event) for event in hook.events]
        self._counter += 1
        registration = _Registration(hook, plugin, self._counter)
        for event in events:
            bucket = self._by_event.setdefault(event, [])
            bucket.append(registration)
            bucket.sort(key=lambda r: (r.hook.priority, r.order))

    def unregister(self, hook: Hook) -> None:
        """Remove ``hook`` from every event it was subscribed to."""
        for event, bucket in list(self._by_event.items()):
            self._by_event[event] = [r for r in bucket if r.hook is not hook]

    def unregister_plugin(self, plugin: str) -> None:
        """Remove every hook a plugin registered."""
        for event, bucket in list(self._by_event.items()):
            self._by_event[event] = [r for r in bucket if r.plugin != plugin]

    def has_subscribers(self, event: HookEvent) -> bool:
        """Whether emitting ``event`` would call anything (lets hot paths skip building contexts)."""
        return bool(self._by_event.get(event))

    def hooks_for(self, event: HookEvent) -> list[Hook]:
        """The hooks subscribed to ``event``, in call order."""
        return [r.hook for r in self._by_event.get(event, [])]

    async def emit(self, event: HookEvent, **payload: Any) -> HookContext:
        """Call every hook subscribed to ``event`` with one shared ``HookContext``."""
        ctx = HookContext(event=event, **payload)
        await self.emit_context(ctx)
        return ctx

    async def emit_context(self, ctx: HookContext) -> None:
        """Call every hook subscribed to ``ctx.event`` with ``ctx``."""
        for registration in tuple(self._by_event.get(ctx.event, ())):
            try:
                await registration.hook(ctx)
            except Exception as exc:  # a hook must never break the request
                self._logger.error(
                    "hook_failed",
                    hook=getattr(registration.hook, "name", type(registration.hook).__name__),
                    hook_plugin=registration.plugin,
                    hook_event=str(ctx.event),
                    error=f"{type(exc).__name__}: {exc}",
                    exc_info=exc,
                )
