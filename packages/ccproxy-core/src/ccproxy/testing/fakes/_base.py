"""What every fake shares: a Starlette app behind ``__call__``, a request log, SSE playback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ccproxy.testing.fakes.scripting import (
    RecordedRequest,
    Reply,
    ReplyLike,
    ReplyQueue,
    StreamInterruption,
    record_request,
)

__all__ = [
    "Event",
    "FakeConnectionCut",
    "FakeService",
    "ScriptedFake",
    "play_events",
    "sse_frame",
]

#: One stream event: its name and its JSON payload.
Event: TypeAlias = tuple[str, dict[str, Any]]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class FakeConnectionCut(RuntimeError):
    """Raised inside a fake to drop the connection mid-stream (``Reply.cut(abort=True)``)."""


class FakeService:
    """An ASGI app (call the instance) that logs every request it receives in ``requests``.

    Subclasses list their routes in :meth:`_routes`; anything else is answered by
    :meth:`_not_found` in the fake's own error shape, and logged too.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._app = Starlette(
            routes=[*self._routes(), Route("/{path:path}", self._fallback, methods=ALL_METHODS)]
        )

    def _routes(self) -> list[BaseRoute]:
        return []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (``IndexError`` when none arrived)."""
        return self.requests[-1]

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        """The logged requests whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    def _log(self, record: RecordedRequest, status: int) -> None:
        self.requests.append(replace(record, status=status))

    def _respond(self, record: RecordedRequest, response: Response) -> Response:
        self._log(record, response.status_code)
        return response

    async def _fallback(self, request: Request) -> Response:
        record = await record_request(request)
        return self._respond(record, self._not_found(record))

    def _not_found(self, record: RecordedRequest) -> Response:
        return JSONResponse(
            {"error": "not_found", "detail": f"{record.method} {record.path}"}, status_code=404
        )


def sse_frame(name: str, data: dict[str, Any]) -> bytes:
    """``event: name\\ndata: {json}\\n\\n``."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()


async def play_events(
    events: Sequence[Event],
    *,
    interruption: StreamInterruption | None,
    delay: float,
    error_events: Callable[[StreamInterruption], list[Event]],
) -> AsyncIterator[Event]:
    """Yield ``events`` with ``delay`` seconds between them, broken as ``interruption`` says.

    The break comes at most just before the last (terminal) event, so an interrupted stream
    never looks complete.
    """
    stop_at = None
    if interruption is not None:
        stop_at = max(0, min(interruption.after_events, len(events) - 1))
    for index, event in enumerate(events):
        if index == stop_at and interruption is not None:
            if interruption.kind == "error":
                for error_event in error_events(interruption):
                    yield error_event
                return
            if interruption.abort:
                raise FakeConnectionCut(f"stream cut after {index} events")
            return
        if index and delay:
            await asyncio.sleep(delay)
        yield event


class ScriptedFake(FakeService):
    """A model fake: answers valid requests from a :class:`ReplyQueue`."""

    def __init__(self, default_reply: Reply | None = None) -> None:
        self.replies = ReplyQueue(default_reply)
        self._serial = 0
        super().__init__()

    def enqueue(self, *replies: ReplyLike) -> None:
        """Answer the next valid requests with ``replies``, in order."""
        self.replies.enqueue(*replies)

    @property
    def default_reply(self) -> Reply:
        """What answers once the queue is empty (``Reply.text("Hello from the fake.")``)."""
        return self.replies.default

    @default_reply.setter
    def default_reply(self, reply: Reply) -> None:
        self.replies.default = reply

    @property
    def pending_replies(self) -> int:
        """How many enqueued replies are still waiting."""
        return len(self.replies)

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial
