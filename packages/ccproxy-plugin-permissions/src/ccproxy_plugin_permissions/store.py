"""Permission requests: the decision flow, their states and the event feed.

A request is ``pending`` until a person allows or denies it, or until the timeout expires
it. A decided request cannot be decided again. Decided requests are kept for a retention
period (and up to a count) so that lists and late lookups still find them; memory stays
bounded however many calls come.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ccproxy_plugin_permissions.config import PermissionsConfig
from ccproxy_plugin_permissions.rules import match_rules

__all__ = [
    "AlreadyDecidedError",
    "PermissionEvent",
    "PermissionRequest",
    "PermissionStore",
    "Status",
    "UnknownRequestError",
]

Status = Literal["pending", "allowed", "denied", "expired"]
EventType = Literal["created", "decided", "expired"]
#: How many events a slow subscriber may fall behind before it is cut off.
SUBSCRIBER_QUEUE_SIZE = 1000


class UnknownRequestError(KeyError):
    """No request has this id (never existed, or dropped after its retention period)."""


class AlreadyDecidedError(RuntimeError):
    """The request is no longer pending."""

    def __init__(self, request: PermissionRequest) -> None:
        super().__init__(f"request {request.id} is already {request.status}")
        self.request = request


@dataclass
class PermissionRequest:
    """One tool call waiting for, or having received, a decision."""

    id: str
    tool_name: str
    input: dict[str, Any]
    tool_use_id: str | None
    created_at: float
    expires_at: float
    status: Status = "pending"
    decided_at: float | None = None
    message: str | None = None
    updated_input: dict[str, Any] | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The public JSON form (API, SSE and CLI)."""
        return {
            "id": self.id,
            "tool_name": self.tool_name,
            "input": self.input,
            "tool_use_id": self.tool_use_id,
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
            "message": self.message,
            "updated_input": self.updated_input,
        }

    def result(self) -> dict[str, Any]:
        """What Claude Code receives for this request once it is decided."""
        if self.status == "allowed":
            chosen = self.updated_input if self.updated_input is not None else self.input
            return {"behavior": "allow", "updatedInput": chosen}
        return {"behavior": "deny", "message": self.message or "Denied."}


@dataclass(frozen=True)
class PermissionEvent:
    """One entry of the feed: ``created``, ``decided`` or ``expired``, with the request."""

    seq: int
    type: EventType
    request: dict[str, Any]


class PermissionStore:
    """The requests of one app; implements the ``permissions`` service (``check``)."""

    def __init__(
        self,
        config: PermissionsConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_log: Callable[..., None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._log = on_log
        self._requests: OrderedDict[str, PermissionRequest] = OrderedDict()
        self._subscribers: set[asyncio.Queue[PermissionEvent | None]] = set()
        self._seq = 0
        self._closed = False

    # --- the service ---------------------------------------------------------------------

    async def check(
        self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None = None
    ) -> dict[str, Any]:
        """Decide a tool call: rules first, else wait for a person until the timeout."""
        matched = match_rules(self.config.rules, tool_name, tool_input)
        if matched is not None:
            self._emit_log("permission_rule_matched", tool=tool_name, rule=matched.describe())
            if matched.rule.action == "allow":
                return {"behavior": "allow", "updatedInput": tool_input}
            message = matched.rule.message or f"Denied by ccproxy permissions {matched.describe()}."
            return {"behavior": "deny", "message": message}
        if self._closed:
            return {"behavior": "deny", "message": "ccproxy is shutting down."}
        self.prune()
        if self.pending_count() >= self.config.max_pending:
            return {
                "behavior": "deny",
                "message": f"Too many pending permission requests ({self.config.max_pending}).",
            }
        request = self._create(tool_name, tool_input, tool_use_id)
        timeout = self.config.timeout_seconds
        try:
            await asyncio.wait_for(request._done.wait(), timeout)
        except TimeoutError:
            self._expire(
                request, f"No decision within {timeout:g} seconds: denied by ccproxy permissions."
            )
        except asyncio.CancelledError:
            self._expire(request, "The caller went away before a decision.")
            raise
        return request.result()

    # --- queries and decisions -----------------------------------------------------------

    def get(self, request_id: str) -> PermissionRequest:
        """The request ``request_id``; ``UnknownRequestError`` when absent."""
        self.prune()
        try:
            return self._requests[request_id]
        except KeyError:
            raise UnknownRequestError(request_id) from None

    def list_requests(self, status: Status | None = None) -> list[PermissionRequest]:
        """Requests, oldest first, optionally of one status."""
        self.prune()
        return [r for r in self._requests.values() if status is None or r.status == status]

    def pending_count(self) -> int:
        """How many requests are waiting."""
        return sum(1 for r in self._requests.values() if r.status == "pending")

    def decide(
        self,
        request_id: str,
        *,
        allow: bool,
        message: str | None = None,
        updated_input: dict[str, Any] | None = None,
    ) -> PermissionRequest:
        """Allow or deny a pending request; ``AlreadyDecidedError`` when it is not pending."""
        request = self.get(request_id)
        if request.status != "pending":
            raise AlreadyDecidedError(request)
        request.status = "allowed" if allow else "denied"
        request.decided_at = self._clock()
        if allow:
            request.updated_input = updated_input
            request.message = message
        else:
            request.message = message or "Denied by the user."
        request._done.set()
        self._emit_log("permission_decided", id=request.id, status=request.status)
        self._publish("decided", request)
        return request

    # --- the event feed ------------------------------------------------------------------

    def subscribe(self) -> tuple[asyncio.Queue[PermissionEvent | None], list[PermissionEvent]]:
        """A queue of future events plus ``created`` events replaying the pending requests.

        Both are taken without awaiting, so no event falls between the replay and the queue.
        """
        queue: asyncio.Queue[PermissionEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        if self._closed:
            queue.put_nowait(None)
            return queue, []
        self._subscribers.add(queue)
        replay = [
            PermissionEvent(self._seq, "created", r.to_json())
            for r in self._requests.values()
            if r.status == "pending"
        ]
        return queue, replay

    def unsubscribe(self, queue: asyncio.Queue[PermissionEvent | None]) -> None:
        """Stop delivering events to ``queue``."""
        self._subscribers.discard(queue)

    def close(self) -> None:
        """Deny what is pending and end every subscription (the app is shutting down)."""
        self._closed = True
        for request in list(self._requests.values()):
            if request.status == "pending":
                self._expire(request, "ccproxy is shutting down.")
        for queue in list(self._subscribers):
            self._offer(queue, None, force=True)
        self._subscribers.clear()

    def prune(self) -> None:
        """Drop decided requests past their retention period, and the oldest beyond the cap."""
        cutoff = self._clock() - self.config.retention_seconds
        decided = [r for r in self._requests.values() if r.status != "pending"]
        excess = len(decided) - self.config.max_retained
        for request in decided:
            if excess > 0 or (request.decided_at or 0.0) <= cutoff:
                del self._requests[request.id]
                excess -= 1

    # --- internals -----------------------------------------------------------------------

    def _create(
        self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None
    ) -> PermissionRequest:
        now = self._clock()
        request = PermissionRequest(
            id=secrets.token_hex(8),  # hex: never starts with "-", which a CLI reads as an option
            tool_name=tool_name,
            input=tool_input,
            tool_use_id=tool_use_id,
            created_at=now,
            expires_at=now + self.config.timeout_seconds,
        )
        self._requests[request.id] = request
        self._emit_log("permission_requested", id=request.id, tool=tool_name)
        self._publish("created", request)
        return request

    def _expire(self, request: PermissionRequest, message: str) -> None:
        if request.status != "pending":
            return
        request.status = "expired"
        request.decided_at = self._clock()
        request.message = message
        request._done.set()
        self._emit_log("permission_expired", id=request.id)
        self._publish("expired", request)

    def _publish(self, kind: EventType, request: PermissionRequest) -> None:
        self._seq += 1
        event = PermissionEvent(self._seq, kind, request.to_json())
        for queue in list(self._subscribers):
            if not self._offer(queue, event):
                self._subscribers.discard(queue)
                self._offer(queue, None, force=True)

    @staticmethod
    def _offer(
        queue: asyncio.Queue[PermissionEvent | None],
        item: PermissionEvent | None,
        *,
        force: bool = False,
    ) -> bool:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            if not force:
                return False
            # A subscriber that fell this far behind is cut off: make room for the end marker.
            queue.get_nowait()
            queue.put_nowait(item)
        return True

    def _emit_log(self, event: str, **values: Any) -> None:
        if self._log is not None:
            self._log(event, **values)
