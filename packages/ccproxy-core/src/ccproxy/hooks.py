"""Hooks: named events the core and plugins emit, and the subscribers that observe them.

Each event is a frozen dataclass with typed fields (``RequestCompleted``, ``ProviderStreamChunk``,
...); its ``kind`` is the :class:`HookEvent` subscribers list in ``Hook.events``. Hooks run inline
on the event loop, in priority order (lower first; ties in registration order). A hook that
raises is logged with its plugin's name and the emitter carries on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeAlias, get_args, runtime_checkable

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.proxy.pipeline import UpstreamRequest
    from ccproxy.proxy.record import RequestRecord

__all__ = [
    "HOOK_EVENT_DOCS",
    "AppShutdown",
    "AppStartup",
    "AuthFailed",
    "AuthTokenRefreshed",
    "Hook",
    "HookEvent",
    "HookManager",
    "HookPayload",
    "PluginFailed",
    "PluginLoaded",
    "ProviderError",
    "ProviderRequestPrepared",
    "ProviderRequestSent",
    "ProviderResponseReceived",
    "ProviderStreamChunk",
    "ProviderStreamEnd",
    "ProviderStreamStart",
    "RequestCompleted",
    "RequestFailed",
    "RequestStarted",
]


class HookEvent(StrEnum):
    """The name of every event a hook can subscribe to; each has one payload class below."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class AppStartup:
    """Once per app, after every plugin has been initialised."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.APP_STARTUP


@dataclass(frozen=True, slots=True, kw_only=True)
class AppShutdown:
    """Once per app, before plugins shut down (in reverse order)."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.APP_SHUTDOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginLoaded:
    """After a plugin initialised successfully."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PLUGIN_LOADED
    #: The plugin the event is about.
    plugin: str
    #: The plugin's version.
    version: str
    #: ``auth_provider``, ``provider`` or ``system``.
    plugin_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginFailed:
    """When a plugin is skipped or fails to initialise; ``error`` says why."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PLUGIN_FAILED
    #: The plugin the event is about.
    plugin: str
    #: What went wrong, in words (never a token).
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStarted:
    """A provider route received a request, before any upstream work."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.REQUEST_STARTED
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderRequestPrepared:
    """The upstream request is built. ``request`` is mutable here, and only here: a hook may edit
    its headers or body before it is sent."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_REQUEST_PREPARED
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: Method, URL, headers and JSON body of the upstream request.
    request: UpstreamRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderRequestSent:
    """The upstream request has been sent; ``request`` is a copy (editing it changes nothing)."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_REQUEST_SENT
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: Method, URL, headers and JSON body of the upstream request.
    request: UpstreamRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderResponseReceived:
    """The upstream's status line and headers arrived."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_RESPONSE_RECEIVED
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: The upstream's HTTP status.
    status_code: int
    #: The upstream's response headers.
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStreamStart:
    """The first bytes of an upstream stream are about to be relayed."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_STREAM_START
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: The upstream's HTTP status.
    status_code: int
    #: The upstream's response headers.
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStreamChunk:
    """One upstream stream chunk as relayed (the hot path: do not block)."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_STREAM_CHUNK
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: The bytes relayed, exactly as they went to the client.
    chunk: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStreamEnd:
    """The upstream stream ended; ``error`` is set when it did not end cleanly."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_STREAM_END
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: Why the stream did not end cleanly (None when it did).
    error: BaseException | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderError:
    """The upstream failed: unreachable, timed out, or answered an error status.

    ``error`` describes it; ``status_code`` is the upstream's status when it answered one.
    """

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.PROVIDER_ERROR
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: What went wrong, in words (never a token).
    error: str
    #: The upstream's status when it answered one.
    status_code: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthTokenRefreshed:
    """A credential was refreshed (the token itself is never in an event)."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.AUTH_TOKEN_REFRESHED
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: The account the credential belongs to, when known.
    account_id: str | None
    #: When the new access token expires, when known.
    expires_at: datetime | None
    #: What caused the refresh (e.g. ``proactive``, ``rejected``, ``manual``).
    trigger: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailed:
    """A credential could not be loaded or refreshed; ``error`` says why (never a token).

    ``request_id`` is set when a request's 401 triggered the refresh that failed.
    """

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.AUTH_FAILED
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: What went wrong, in words (never a token).
    error: str
    #: Where the credential comes from (a file, the environment, configuration).
    source: str | None = None
    #: The request whose 401 led to the failed refresh, if any.
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCompleted:
    """Exactly once per proxied request, success or not, after the client response ended."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.REQUEST_COMPLETED
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: Everything known about the request: formats, models, status, timings, usage.
    record: RequestRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed:
    """In addition to ``RequestCompleted`` when the request failed; ``error`` says how."""

    #: The event this payload is for (what ``Hook.events`` lists).
    kind: ClassVar[HookEvent] = HookEvent.REQUEST_FAILED
    #: The request's id (the client's ``x-request-id`` when it sent one).
    request_id: str
    #: The provider that serves the request (or owns the credential).
    provider: str
    #: Everything known about the request: formats, models, status, timings, usage.
    record: RequestRecord
    #: What went wrong, in words (never a token).
    error: str


#: Any event's payload: what a hook's ``__call__`` receives. Match on the class to read its fields.
HookPayload: TypeAlias = (
    AppStartup
    | AppShutdown
    | PluginLoaded
    | PluginFailed
    | RequestStarted
    | ProviderRequestPrepared
    | ProviderRequestSent
    | ProviderResponseReceived
    | ProviderStreamStart
    | ProviderStreamChunk
    | ProviderStreamEnd
    | ProviderError
    | AuthTokenRefreshed
    | AuthFailed
    | RequestCompleted
    | RequestFailed
)

# The union's members in the order written above; ``HOOK_EVENT_DOCS`` follows it.
_PAYLOADS: tuple[type[HookPayload], ...] = get_args(HookPayload)

#: The payload class of each event; its docstring says when the event fires.
HOOK_EVENT_DOCS: Mapping[HookEvent, str] = {
    payload.kind: (payload.__doc__ or "").strip() for payload in _PAYLOADS
}


@runtime_checkable
class Hook(Protocol):
    """A subscriber: ``name``, the ``events`` it wants, a ``priority`` and an async call.

    ``__call__`` receives the event's payload, one of the classes of :data:`HookPayload`.
    """

    name: str
    events: list[HookEvent]
    priority: int

    async def __call__(self, event: HookPayload) -> None: ...


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
        """Whether emitting ``event`` would call anything (lets hot paths skip building payloads)."""
        return bool(self._by_event.get(event))

    def hooks_for(self, event: HookEvent) -> list[Hook]:
        """The hooks subscribed to ``event``, in call order."""
        return [r.hook for r in self._by_event.get(event, [])]

    async def emit(self, payload: HookPayload) -> None:
        """Call every hook subscribed to ``payload.kind`` with ``payload``, in order."""
        for registration in tuple(self._by_event.get(payload.kind, ())):
            try:
                await registration.hook(payload)
            except Exception as exc:  # a hook must never break the request
                self._logger.error(
                    "hook_failed",
                    hook=getattr(registration.hook, "name", type(registration.hook).__name__),
                    hook_plugin=registration.plugin,
                    hook_event=str(payload.kind),
                    error=f"{type(exc).__name__}: {exc}",
                    exc_info=exc,
                )
