"""The Responses WebSocket transport on ``/codex/v1/responses``, bridged to the HTTP pipeline.

Recent Codex CLIs (for providers configured with ``supports_websockets = true``) open a WebSocket on
the Responses URL and send text frames ``{"type": "response.create", ...request body...}``. The
proxy terminates the socket and runs each frame through the same pipeline as ``POST
/v1/responses`` (profile, credentials, one refresh on a 401, the ``previous_response_id`` store),
as a streaming request. Each upstream SSE event's ``data`` JSON goes back as one text frame.

A warm-up frame (``"generate": false``, which the Codex CLI sends first on a new socket) is
answered locally with an empty ``response.created``/``response.completed`` pair: the HTTP backend
has no warm-up call. Its input is remembered, so a later frame may chain on its id. ``generate``
is never sent upstream.

A frame that fails — bad JSON, an unknown type, a frame larger than
``server.max_request_body_bytes``, no credentials, an upstream error status — is answered by one
``{"type": "error", "status": N, "error": {...}}`` frame and the socket stays open; the Codex CLI
falls back to HTTP on an error event. The security middleware has already checked the handshake
(Host, Origin, token) before this code runs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ccproxy.plugins.provider import BodyError, SSEParser, loads_client_json
from ccproxy_plugin_codex.credentials import PROVIDER

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Message, Scope

    from ccproxy.plugins.provider import ProviderAdapter

__all__ = ["CREATE_TYPE", "RESPONSES_ROUTE", "ResponsesSocket", "error_event"]

CREATE_TYPE = "response.create"
#: The route template the records of socket turns carry (as for ``POST /codex/v1/responses``).
RESPONSES_ROUTE = f"/{PROVIDER}/v1/responses"
# Handshake headers that describe the socket, not the request a frame stands for.
_SOCKET_HEADERS = frozenset(
    {b"connection", b"upgrade", b"content-length", b"content-type", b"transfer-encoding"}
)


def error_event(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    """The ``error`` frame sent for a failed turn."""
    kind = error_type or ("invalid_request_error" if status < 500 else "server_error")
    return {"type": "error", "status": status, "error": {"type": kind, "message": message}}


class ResponsesSocket:
    """Serves one WebSocket: each ``response.create`` frame is one pipeline request."""

    def __init__(
        self,
        websocket: WebSocket,
        adapter: Callable[[], ProviderAdapter | None],
        *,
        max_frame_bytes: int,
    ) -> None:
        self.websocket = websocket
        self._adapter = adapter
        self.max_frame_bytes = max_frame_bytes

    async def serve(self) -> None:
        """Accept the socket and answer frames until the client closes it."""
        await self.websocket.accept()
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                await self._turn(text.encode() if text is not None else message.get("bytes") or b"")
        except WebSocketDisconnect:
            return

    async def _turn(self, raw: bytes) -> None:
        if len(raw) > self.max_frame_bytes:
            await self._send(
                error_event(
                    413,
                    f"The message is larger than the limit of {self.max_frame_bytes} bytes "
                    "(server.max_request_body_bytes).",
                )
            )
            return
        try:
            frame: Any = loads_client_json(raw)
        except BodyError as exc:
            await self._send(error_event(400, str(exc).replace("request body", "message")))
            return
        if not isinstance(frame, dict) or frame.get("type") != CREATE_TYPE:
            await self._send(error_event(400, f"Expected a JSON {CREATE_TYPE!r} message."))
            return
        adapter = self._adapter()
        if adapter is None:
            await self._send(error_event(503, "The codex provider is not running."))
            return
        body = {key: value for key, value in frame.items() if key != "type"}
        # ``generate`` exists only on the socket: false asks for a warm-up, true is the default.
        if body.pop("generate", True) is False:
            await self._prewarm(adapter, body)
            return
        body["stream"] = True
        response = await adapter.handle(self._request(body), "responses", route=RESPONSES_ROUTE)
        if isinstance(response, StreamingResponse):
            await self._relay(response)
        else:
            await self._send(_error_from_response(response))

    async def _prewarm(self, adapter: ProviderAdapter, body: dict[str, Any]) -> None:
        """Answer a ``generate: false`` warm-up locally (see the module docstring)."""
        previous = body.get("previous_response_id")
        history: list[dict[str, Any]] = []
        if isinstance(previous, str) and previous:
            found = await adapter.response_store.history(previous)
            if found is None:
                await self._send(
                    error_event(400, f"Previous response with id '{previous}' not found.")
                )
                return
            history = found
        items = body.get("input")
        if isinstance(items, str):
            items = [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": items}],
                }
            ]
        current = (
            [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
        )
        response_id = f"resp_{secrets.token_hex(24)}"
        await adapter.response_store.put(response_id, [*history, *current], [])
        response: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "model": body.get("model"),
            "output": [],
            "previous_response_id": previous,
            "store": False,
            "error": None,
            "incomplete_details": None,
        }
        usage = {
            "input_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        }
        await self._send(
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {**response, "status": "in_progress", "usage": None},
            }
        )
        await self._send(
            {
                "type": "response.completed",
                "sequence_number": 1,
                "response": {**response, "status": "completed", "usage": usage},
            }
        )

    def _request(self, body: dict[str, Any]) -> Request:
        """A POST request carrying ``body`` with the handshake's headers (what HTTP would send)."""
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        source = self.websocket.scope
        headers = [
            (name, value)
            for name, value in source.get("headers", [])
            if name.lower() not in _SOCKET_HEADERS and not name.lower().startswith(b"sec-websocket")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
        scope: Scope = {
            "type": "http",
            "asgi": source.get("asgi", {"version": "3.0"}),
            "http_version": source.get("http_version", "1.1"),
            "method": "POST",
            "scheme": "https" if source.get("scheme") == "wss" else "http",
            "path": source.get("path", ""),
            "raw_path": source.get("raw_path"),
            "root_path": source.get("root_path", ""),
            "query_string": source.get("query_string", b""),
            "headers": headers,
            "client": source.get("client"),
            "server": source.get("server"),
            "app": source.get("app"),
            "state": dict(source.get("state") or {}),
        }
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            # This request's client is the socket, still open: http.disconnect would tell the
            # pipeline the client has gone, and it would drop the turn.
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}

        return Request(scope, receive)

    async def _relay(self, response: StreamingResponse) -> None:
        parser = SSEParser()
        iterator = response.body_iterator
        try:
            async for chunk in iterator:
                data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
                for event in parser.feed(data):
                    if event.data:
                        await self.websocket.send_text(event.data)
            for event in parser.close():
                if event.data:
                    await self.websocket.send_text(event.data)
        finally:
            # Ends the relay (and records the request) even when the client went away mid-turn.
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(payload, ensure_ascii=False))


def _error_from_response(response: Response) -> dict[str, Any]:
    """The pipeline's error answer (either dialect's JSON shape) as an ``error`` frame."""
    try:
        body: Any = json.loads(bytes(response.body))
    except ValueError:  # also an empty body
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "upstream error")
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
    elif isinstance(body, dict) and "detail" in body:
        message, error_type = str(body["detail"]), None
    else:
        message, error_type = f"request failed with status {response.status_code}", None
    return error_event(response.status_code, message, error_type)
