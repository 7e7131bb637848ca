"""A strict, scriptable fake of the ChatGPT Codex backend (OpenAI Responses, streaming only).

``POST {prefix}/responses`` answers with the Responses SSE stream (every event carries
``type`` and ``sequence_number``); the same path also takes the WebSocket transport, where each
``{"type": "response.create", ...}`` text frame is answered by the stream's events, one JSON
object per text frame. Refusals use the backend's shapes: ``{"detail": "..."}`` for request
validation, ``{"error": {...}}`` for authentication::

    oauth = FakeCodexOAuth()
    fake = FakeCodex(oauth=oauth)
    fake.enqueue(Reply.reasoning("Let me think.", then=Reply.text("Done.")))
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ccproxy.testing.fakes._base import FakeConnectionCut, ScriptedFake, play_events, sse_frame
from ccproxy.testing.fakes._tokens import decode_jwt_claims
from ccproxy.testing.fakes.codex_events import ResponsesRendering
from ccproxy.testing.fakes.scripting import (
    RecordedRequest,
    Reply,
    lower_headers,
    record_request,
)
from ccproxy.testing.fakes.windows import AccountWindows

if TYPE_CHECKING:
    from ccproxy.testing.fakes.oauth import FakeCodexOAuth

__all__ = ["CodexRefusal", "FakeCodex"]

AUTH_CLAIM = "https://api.openai.com/auth"
DEFAULT_PATHS = ("/responses", "/backend-api/codex/responses")
UNSUPPORTED_PARAMETERS = ("max_output_tokens", "max_completion_tokens", "temperature", "metadata")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    429: "usage_limit_reached",
    503: "server_is_overloaded",
}


class CodexRefusal(Exception):
    """A strict check failed: answer ``status`` with ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body

    @classmethod
    def detail(cls, message: str, status: int = 400) -> CodexRefusal:
        return cls(status, {"detail": message})

    @classmethod
    def auth(cls, code: str, message: str, status: int = 401) -> CodexRefusal:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        return cls(status, {"error": error})

    @property
    def message(self) -> str:
        if "detail" in self.body:
            return str(self.body["detail"])
        return str(self.body.get("error", {}).get("message", ""))


class FakeCodex(ScriptedFake):
    """``POST /responses`` of ``https://chatgpt.com/backend-api/codex`` (HTTP SSE and WebSocket).

    Tokens: with ``oauth``, exactly that fake's valid access tokens, and ``chatgpt-account-id``
    must be the token's account; ``accepted_tokens`` is a set of tokens (account ``account_id``)
    or a mapping token → account id; with neither, any bearer token, and the account must match
    the token's JWT claim when it has one, else ``account_id`` when set.
    """

    def __init__(
        self,
        *,
        oauth: FakeCodexOAuth | None = None,
        accepted_tokens: Collection[str] | Mapping[str, str] | None = None,
        account_id: str | None = None,
        paths: Collection[str] = DEFAULT_PATHS,
        unsupported_parameters: Collection[str] = UNSUPPORTED_PARAMETERS,
        require_stream: bool = True,
        require_store_false: bool = True,
        reject_system_items: bool = True,
        require_input_list: bool = True,
        known_models: Collection[str] | None = None,
        usage_headers: Mapping[str, str] | None = None,
        account_windows: AccountWindows | None = None,
        default_reply: Reply | None = None,
    ) -> None:
        self.oauth = oauth
        self.account_id = account_id
        if accepted_tokens is None or isinstance(accepted_tokens, Mapping):
            self.accepted_tokens: dict[str, str | None] | None = (
                dict(accepted_tokens) if accepted_tokens is not None else None
            )
        else:
            self.accepted_tokens = dict.fromkeys(accepted_tokens, account_id)
        self.paths = tuple(paths)
        self.unsupported_parameters = tuple(unsupported_parameters)
        self.require_stream = require_stream
        self.require_store_false = require_store_false
        self.reject_system_items = reject_system_items
        self.require_input_list = require_input_list
        self.known_models = set(known_models) if known_models is not None else None
        self.account_windows = account_windows
        self.usage_headers: dict[str, str] = (
            dict(usage_headers)
            if usage_headers is not None
            else {
                "x-codex-primary-used-percent": "12.0",
                "x-codex-primary-window-minutes": "300",
                "x-codex-primary-reset-after-seconds": "3600",
                "x-codex-secondary-used-percent": "3.0",
                "x-codex-secondary-window-minutes": "10080",
                "x-codex-secondary-reset-after-seconds": "86400",
            }
        )
        super().__init__(default_reply)

    def _routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for path in self.paths:
            routes.append(Route(path, self._responses, methods=["POST"]))
            routes.append(WebSocketRoute(path, self._websocket))
        return routes

    def _not_found(self, record: RecordedRequest) -> Response:
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    # HTTP ------------------------------------------------------------------------------------

    async def _responses(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            self._check_auth(record.headers)
            body = self._check_body(record.json, websocket=False)
        except CodexRefusal as exc:
            return self._respond(record, JSONResponse(exc.body, status_code=exc.status))
        windows = self._window(record.headers)
        if windows is not None and not windows[0]:
            return self._respond(record, JSONResponse(windows[2], 429, headers=windows[1]))
        reply = self.replies.next(record)
        headers = {**self.usage_headers, **(windows[1] if windows else {}), **reply.headers}
        if reply.http_error is not None:
            status, error_body = self._error_reply(reply)
            return self._respond(record, JSONResponse(error_body, status, headers=headers))
        rendering = ResponsesRendering(reply, body, self._next_serial(), int(time.time()))
        self._log(record, 200)
        return StreamingResponse(
            self._sse(reply, rendering),
            headers={**headers, "cache-control": "no-cache"},
            media_type="text/event-stream; charset=utf-8",
        )

    async def _sse(self, reply: Reply, rendering: ResponsesRendering) -> AsyncIterator[bytes]:
        async for data in self._events(reply, rendering):
            yield sse_frame(str(data["type"]), data)

    async def _events(
        self, reply: Reply, rendering: ResponsesRendering
    ) -> AsyncIterator[dict[str, Any]]:
        sequence = 0
        async for _, data in play_events(
            rendering.events(),
            interruption=reply.interruption,
            delay=reply.delay_between_events,
            error_events=rendering.error_events,
        ):
            yield {**data, "sequence_number": sequence}
            sequence += 1

    def _error_reply(self, reply: Reply) -> tuple[int, Any]:
        assert reply.http_error is not None
        error = reply.http_error
        if error.body is not None:
            return error.status, error.body
        default = "server_error" if error.status >= 500 else "invalid_request_error"
        error_type = error.error_type or _ERROR_TYPES.get(error.status, default)
        payload: dict[str, Any] = {
            "type": error_type,
            "code": error_type,
            "message": error.message or f"fake {error_type}",
            "param": None,
        }
        retry_after = reply.headers.get("retry-after")
        if error.status == 429 and retry_after is not None:
            payload["resets_in_seconds"] = int(float(retry_after))
        return error.status, {"error": payload}

    # strict checks ---------------------------------------------------------------------------

    def _window(
        self, headers: Mapping[str, str]
    ) -> tuple[bool, dict[str, str], dict[str, Any]] | None:
        """The primary (5-hour) window of this request's account: allowed, headers, 429 body."""
        if self.account_windows is None:
            return None
        token = headers.get("authorization", "").partition(" ")[2].strip()
        verdict = self.account_windows.admit(token)
        if verdict is None:
            return None
        reset_after = int(verdict.reset_after)
        window = {
            **self.usage_headers,
            "x-codex-primary-used-percent": f"{verdict.utilization * 100:.1f}",
            "x-codex-primary-reset-after-seconds": str(reset_after),
        }
        error = {
            "type": "usage_limit_reached",
            "code": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "param": None,
            "resets_in_seconds": reset_after,
        }
        return verdict.allowed, window, {"error": error}

    def _check_auth(self, headers: Mapping[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise CodexRefusal.auth("missing_authorization", "Missing bearer authentication.")
        expected = self._account_for(token)
        account = headers.get("chatgpt-account-id")
        if not account:
            raise CodexRefusal.detail("Missing chatgpt-account-id header", status=403)
        if expected is not None and account != expected:
            raise CodexRefusal.detail(
                "chatgpt-account-id does not match the authenticated account", status=403
            )

    def _account_for(self, token: str) -> str | None:
        """The account ``token`` belongs to (``None``: any); refuses tokens not accepted."""
        if self.accepted_tokens is not None and token in self.accepted_tokens:
            return self.accepted_tokens[token]
        if self.oauth is not None:
            status = self.oauth.ledger.status(token, "access")
            if status == "valid":
                return self.oauth.account_for(token)
            if status == "expired":
                raise CodexRefusal.auth(
                    "token_expired",
                    "Provided authentication token is expired. Please try signing in again.",
                )
            if status == "revoked":
                raise CodexRefusal.auth(
                    "token_invalidated",
                    "Your authentication token has been invalidated. Please try signing in again.",
                )
        if self.oauth is not None or self.accepted_tokens is not None:
            raise CodexRefusal.auth(
                "invalid_token", "Could not validate your token. Please try signing in again."
            )
        claims = decode_jwt_claims(token) or {}
        auth = claims.get(AUTH_CLAIM)
        if isinstance(auth, dict) and auth.get("chatgpt_account_id"):
            return str(auth["chatgpt_account_id"])
        return self.account_id

    def _check_body(self, body: Any, *, websocket: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise CodexRefusal.detail("Request body must be a JSON object")
        for name in self.unsupported_parameters:
            if name in body:
                raise CodexRefusal.detail(f"Unsupported parameter: {name}")
        if not websocket and self.require_stream and body.get("stream") is not True:
            raise CodexRefusal.detail("Stream must be set to true")
        if self.require_store_false and body.get("store") is not False:
            raise CodexRefusal.detail("Store must be set to false")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise CodexRefusal.detail("Model is required")
        if self.known_models is not None and model not in self.known_models:
            raise CodexRefusal.detail(
                f"The '{model}' model is not supported when using Codex with a ChatGPT account."
            )
        items = body.get("input")
        if self.require_input_list and not isinstance(items, list):
            raise CodexRefusal.detail("Input must be a list")
        if self.reject_system_items and isinstance(items, list):
            for item in items:
                if isinstance(item, dict) and item.get("role") == "system":
                    raise CodexRefusal.detail("System messages are not allowed")
        return body

    # WebSocket -------------------------------------------------------------------------------

    async def _websocket(self, websocket: WebSocket) -> None:
        headers = lower_headers(websocket)
        path, query = websocket.url.path, dict(websocket.query_params)
        try:
            self._check_auth(headers)
        except CodexRefusal as exc:
            record = RecordedRequest("WS", path, query, headers, status=exc.status)
            self.requests.append(record)
            denial = JSONResponse(exc.body, status_code=exc.status)
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                await websocket.send_denial_response(denial)
            else:
                await websocket.close(code=1008, reason=exc.message[:120])
            return
        await websocket.accept()
        try:
            while True:
                text = await websocket.receive_text()
                if not await self._websocket_turn(websocket, path, query, headers, text):
                    return
        except WebSocketDisconnect:
            return

    async def _websocket_turn(
        self,
        websocket: WebSocket,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        text: str,
    ) -> bool:
        """Answer one frame; False when the socket was closed (a scripted cut)."""
        try:
            frame: Any = json.loads(text)
        except ValueError:
            frame = None
        record = RecordedRequest("WS", path, query, headers, json=frame, body=text.encode())
        try:
            if not isinstance(frame, dict) or frame.get("type") != "response.create":
                raise CodexRefusal.detail("Expected a response.create message")
            body = self._check_body({k: v for k, v in frame.items() if k != "type"}, websocket=True)
        except CodexRefusal as exc:
            self._log(record, exc.status)
            await websocket.send_text(json.dumps(_ws_error(exc.status, exc.message)))
            return True
        reply = self.replies.next(record)
        if reply.http_error is not None:
            status, error_body = self._error_reply(reply)
            self._log(record, status)
            event = {"type": "error", "status": status, **_error_fields(error_body)}
            await websocket.send_text(json.dumps(event))
            return True
        self._log(record, 200)
        rendering = ResponsesRendering(reply, body, self._next_serial(), int(time.time()))
        try:
            async for data in self._events(reply, rendering):
                await websocket.send_text(json.dumps(data))
        except FakeConnectionCut:
            await websocket.close(code=1011)
            return False
        if reply.interruption is not None and reply.interruption.kind == "cut":
            await websocket.close(code=1011)
            return False
        return True


def _ws_error(status: int, message: str) -> dict[str, Any]:
    error_type = _ERROR_TYPES.get(status, "invalid_request_error")
    return {"type": "error", "status": status, "error": {"type": error_type, "message": message}}


def _error_fields(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return {"error": body["error"]}
    return {"error": {"type": "error", "message": json.dumps(body)}}
