"""A strict, scriptable fake of the Anthropic Messages API as a Claude subscription sees it.

Refuses what the real API refuses for OAuth traffic (WIRE.md), in its error shape
``{"type": "error", "error": {"type": ..., "message": ...}}``, and answers valid requests from
the reply queue, streamed (spec-exact SSE) or as one JSON message::

    fake = FakeAnthropic(oauth=FakeClaudeOAuth())
    fake.enqueue(Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"})]))
    async with LiveServer(fake) as server: ...   # or httpx.ASGITransport(app=fake)

Each strict rule is an attribute that can be switched off after construction.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ccproxy.testing.fakes._base import (
    Event,
    FakeConnectionCut,
    ScriptedFake,
    play_events,
    sse_frame,
)
from ccproxy.testing.fakes.anthropic_events import MessageRendering
from ccproxy.testing.fakes.scripting import (
    RecordedRequest,
    Reply,
    StreamInterruption,
    approx_tokens,
    record_request,
)
from ccproxy.testing.fakes.windows import AccountWindows

if TYPE_CHECKING:
    from ccproxy.testing.fakes.oauth import FakeClaudeOAuth

__all__ = [
    "BILLING_HEADER_PREFIX",
    "CLAUDE_CODE_IDENTITY",
    "OAUTH_BETA",
    "AnthropicRefusal",
    "FakeAnthropic",
]

CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
OAUTH_BETA = "oauth-2025-04-20"

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TYPE_STATUS = {v: k for k, v in _STATUS_TYPES.items()}
_DEFAULT_MESSAGES = {
    "rate_limit_error": "Number of requests has exceeded your rate limit",
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
}


class AnthropicRefusal(Exception):
    """A strict check failed: answer ``status`` with this error type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class FakeAnthropic(ScriptedFake):
    """``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (``?beta=true`` or not).

    Tokens: with ``oauth``, exactly that fake's currently valid access tokens (with the
    ``user:inference`` scope) are accepted; with ``accepted_tokens``, those; with both, either;
    with neither, any non-empty bearer token. ``accepted_api_keys`` allows ``x-api-key``
    requests, which skip the OAuth-only rules (beta tag, Claude Code system prompt).
    ``anthropic-version`` must be present and a date (``api_versions`` restricts it to a set).
    """

    def __init__(
        self,
        *,
        oauth: FakeClaudeOAuth | None = None,
        accepted_tokens: Collection[str] | None = None,
        accepted_api_keys: Collection[str] = (),
        require_oauth_beta: bool = True,
        require_claude_code_system: bool = True,
        reject_temperature_with_top_p: bool = True,
        max_cache_control_blocks: int = 4,
        api_versions: Collection[str] | None = None,
        known_models: Collection[str] | None = None,
        rejected_betas: Collection[str] = (),
        rate_limit_headers: Mapping[str, str] | None = None,
        account_windows: AccountWindows | None = None,
        send_ping: bool = True,
        default_reply: Reply | None = None,
    ) -> None:
        self.oauth = oauth
        self.accepted_tokens = set(accepted_tokens) if accepted_tokens is not None else None
        self.accepted_api_keys = set(accepted_api_keys)
        self.require_oauth_beta = require_oauth_beta
        self.require_claude_code_system = require_claude_code_system
        self.reject_temperature_with_top_p = reject_temperature_with_top_p
        self.max_cache_control_blocks = max_cache_control_blocks
        self.api_versions = set(api_versions) if api_versions is not None else None
        self.known_models = set(known_models) if known_models is not None else None
        self.rejected_betas = set(rejected_betas)
        reset = int(time.time()) + 3600
        self.rate_limit_headers: dict[str, str] = (
            dict(rate_limit_headers)
            if rate_limit_headers is not None
            else {
                "anthropic-ratelimit-unified-status": "allowed",
                "anthropic-ratelimit-unified-reset": str(reset),
                "anthropic-ratelimit-unified-5h-status": "allowed",
                "anthropic-ratelimit-unified-5h-reset": str(reset),
                "anthropic-ratelimit-unified-5h-utilization": "0.12",
            }
        )
        self.account_windows = account_windows
        self.send_ping = send_ping
        super().__init__(default_reply)

    def _routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
        ]

    # endpoints -------------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        record = await record_request(request)
        request_id = f"req_fake_{self._next_serial():06d}"
        try:
            oauth = self._check_headers(record)
            body = self._check_body(record, count_tokens=False)
            if oauth and self.require_claude_code_system:
                self._check_identity(body.get("system"))
        except AnthropicRefusal as exc:
            return self._respond(record, self._refusal(exc, request_id))
        windows = self._window_headers(record)
        if windows is not None and windows.get("anthropic-ratelimit-unified-status") == "rejected":
            return self._respond(record, self._window_refusal(request_id, windows))
        reply = self.replies.next(record)
        headers = {
            "request-id": request_id,
            **self.rate_limit_headers,
            **(windows or {}),
            **reply.headers,
        }
        if reply.http_error is not None:
            return self._respond(record, self._error_reply(reply, headers))
        message_id = f"msg_fake_{self._serial:06d}"
        rendered = MessageRendering(reply, body, message_id, self._serial)
        if body.get("stream") is True:
            self._log(record, 200)
            return StreamingResponse(
                self._stream(reply, rendered),
                headers={**headers, "cache-control": "no-cache"},
                media_type="text/event-stream; charset=utf-8",
            )
        return self._respond(record, self._message_response(reply, rendered, headers))

    async def _count_tokens(self, request: Request) -> Response:
        record = await record_request(request)
        request_id = f"req_fake_{self._next_serial():06d}"
        try:
            self._check_headers(record)
            body = self._check_body(record, count_tokens=True)
        except AnthropicRefusal as exc:
            return self._respond(record, self._refusal(exc, request_id))
        count = approx_tokens([body.get("system"), body.get("messages"), body.get("tools")])
        return self._respond(
            record, JSONResponse({"input_tokens": count}, headers={"request-id": request_id})
        )

    def _not_found(self, record: RecordedRequest) -> Response:
        exc = AnthropicRefusal(404, "not_found_error", f"Not found: {record.method} {record.path}")
        return self._refusal(exc, f"req_fake_{self._next_serial():06d}")

    # strict checks ---------------------------------------------------------------------------

    def _check_headers(self, record: RecordedRequest) -> bool:
        """Authentication, version and beta rules; True when the caller used an OAuth token."""
        headers = record.headers
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if api_key and authorization:
            raise AnthropicRefusal(
                401,
                "authentication_error",
                "Both x-api-key and an Authorization bearer token were sent; send only one.",
            )
        if api_key:
            if api_key not in self.accepted_api_keys:
                raise AnthropicRefusal(401, "authentication_error", "invalid x-api-key")
            oauth = False
        else:
            self._check_bearer(record.bearer_token, bool(authorization))
            oauth = True
        version = headers.get("anthropic-version")
        if not version:
            raise AnthropicRefusal(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        valid = (
            _VERSION.match(version) if self.api_versions is None else version in self.api_versions
        )
        if not valid:
            raise AnthropicRefusal(
                400, "invalid_request_error", f"anthropic-version: invalid version {version!r}"
            )
        betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()}
        rejected = sorted(betas & self.rejected_betas)
        if rejected:
            raise AnthropicRefusal(
                400,
                "invalid_request_error",
                f"Unexpected value(s) `{', '.join(rejected)}` for the `anthropic-beta` header. "
                "Please consult our documentation at docs.claude.com or try again without the "
                "header.",
            )
        if oauth and self.require_oauth_beta and OAUTH_BETA not in betas:
            raise AnthropicRefusal(
                401, "authentication_error", "OAuth authentication is currently not supported."
            )
        return oauth

    def _check_bearer(self, token: str | None, header_present: bool) -> None:
        if token is None:
            message = "Invalid bearer token" if header_present else "x-api-key header is required"
            raise AnthropicRefusal(401, "authentication_error", message)
        if self.accepted_tokens is not None and token in self.accepted_tokens:
            return
        if self.oauth is not None:
            status = self.oauth.ledger.status(token, "access")
            if status == "valid":
                if "user:inference" not in self.oauth.token_info(token).scopes:
                    raise AnthropicRefusal(
                        403,
                        "permission_error",
                        "OAuth token does not meet scope requirement user:inference",
                    )
                return
            if status == "expired":
                raise AnthropicRefusal(
                    401,
                    "authentication_error",
                    "OAuth token has expired. Please obtain a new token or refresh your "
                    "existing token.",
                )
            if status == "revoked":
                raise AnthropicRefusal(401, "authentication_error", "OAuth token has been revoked.")
        if self.oauth is None and self.accepted_tokens is None:
            return  # nothing configured: any bearer token will do
        raise AnthropicRefusal(401, "authentication_error", "Invalid bearer token")

    def _check_body(self, record: RecordedRequest, *, count_tokens: bool) -> dict[str, Any]:
        body = record.json
        if not isinstance(body, dict):
            raise AnthropicRefusal(
                400, "invalid_request_error", "The request body is not valid JSON."
            )
        required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
        for name in required:
            if name not in body:
                raise AnthropicRefusal(400, "invalid_request_error", f"{name}: Field required")
        if not isinstance(body["model"], str) or not body["model"]:
            raise AnthropicRefusal(400, "invalid_request_error", "model: Input should be a string")
        if self.known_models is not None and body["model"] not in self.known_models:
            raise AnthropicRefusal(404, "not_found_error", f"model: {body['model']}")
        if not count_tokens:
            max_tokens = body["max_tokens"]
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise AnthropicRefusal(
                    400, "invalid_request_error", "max_tokens: Input should be a positive integer"
                )
        if not isinstance(body["messages"], list) or not body["messages"]:
            raise AnthropicRefusal(
                400, "invalid_request_error", "messages: at least one message is required"
            )
        if "temperature" in body and body["temperature"] is None:
            raise AnthropicRefusal(
                400, "invalid_request_error", "temperature: Input should be a valid number"
            )
        if (
            self.reject_temperature_with_top_p
            and body.get("temperature") is not None
            and body.get("top_p") is not None
        ):
            raise AnthropicRefusal(
                400,
                "invalid_request_error",
                "`temperature` and `top_p` cannot both be specified for this model. "
                "Please use only one.",
            )
        found = count_cache_control(body)
        if found > self.max_cache_control_blocks:
            raise AnthropicRefusal(
                400,
                "invalid_request_error",
                f"A maximum of {self.max_cache_control_blocks} blocks with cache_control may "
                f"be provided. Found {found}.",
            )
        return body

    def _check_identity(self, system: Any) -> None:
        if system_opens_with_identity(system):
            return
        raise AnthropicRefusal(
            400,
            "invalid_request_error",
            "This credential is only authorized for use with Claude Code and cannot be used "
            "for other API requests. (fake: the system prompt must open with "
            f"{CLAUDE_CODE_IDENTITY!r})",
        )

    # answers ---------------------------------------------------------------------------------

    def _window_headers(self, record: RecordedRequest) -> dict[str, str] | None:
        """The unified 5-hour window of this request's account (None without windows)."""
        if self.account_windows is None or record.bearer_token is None:
            return None
        verdict = self.account_windows.admit(record.bearer_token)
        if verdict is None:
            return None
        status = "allowed" if verdict.allowed else "rejected"
        reset = str(int(verdict.reset_at))
        return {
            "anthropic-ratelimit-unified-status": status,
            "anthropic-ratelimit-unified-reset": reset,
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
            "anthropic-ratelimit-unified-5h-status": status,
            "anthropic-ratelimit-unified-5h-reset": reset,
            "anthropic-ratelimit-unified-5h-utilization": f"{verdict.utilization:.2f}",
        }

    def _window_refusal(self, request_id: str, windows: dict[str, str]) -> Response:
        return JSONResponse(
            error_body("rate_limit_error", _DEFAULT_MESSAGES["rate_limit_error"]),
            status_code=429,
            headers={"request-id": request_id, **windows},
        )

    def _refusal(self, exc: AnthropicRefusal, request_id: str) -> Response:
        return JSONResponse(
            error_body(exc.error_type, exc.message),
            status_code=exc.status,
            headers={"request-id": request_id},
        )

    def _error_reply(self, reply: Reply, headers: dict[str, str]) -> Response:
        assert reply.http_error is not None
        error = reply.http_error
        if error.body is not None:
            if isinstance(error.body, str | bytes):
                return Response(error.body, status_code=error.status, headers=headers)
            return JSONResponse(error.body, status_code=error.status, headers=headers)
        error_type = error.error_type or _STATUS_TYPES.get(
            error.status, "api_error" if error.status >= 500 else "invalid_request_error"
        )
        message = error.message or _DEFAULT_MESSAGES.get(error_type, f"fake {error_type}")
        return JSONResponse(
            error_body(error_type, message), status_code=error.status, headers=headers
        )

    def _message_response(
        self, reply: Reply, rendered: MessageRendering, headers: dict[str, str]
    ) -> Response:
        interruption = reply.interruption
        if interruption is not None and interruption.kind == "error":
            error_type = interruption.error_type or "overloaded_error"
            return JSONResponse(
                error_body(error_type, interruption.message),
                status_code=_TYPE_STATUS.get(error_type, 500),
                headers=headers,
            )
        payload = json.dumps(rendered.message()).encode()
        if interruption is not None:  # a cut: half a body
            if interruption.abort:
                raise FakeConnectionCut("non-streaming answer cut")
            payload = payload[: len(payload) // 2]
        return Response(payload, headers=headers, media_type="application/json")

    async def _stream(self, reply: Reply, rendered: MessageRendering) -> AsyncIterator[bytes]:
        events = rendered.events(send_ping=self.send_ping)
        async for name, data in play_events(
            events,
            interruption=reply.interruption,
            delay=reply.delay_between_events,
            error_events=_stream_error_events,
        ):
            yield sse_frame(name, data)


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error JSON."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _stream_error_events(interruption: StreamInterruption) -> list[Event]:
    error_type = interruption.error_type or "overloaded_error"
    return [("error", error_body(error_type, interruption.message))]


def system_opens_with_identity(system: Any) -> bool:
    """Whether ``system`` opens with the Claude Code identity, after billing-header blocks."""
    if isinstance(system, str):
        return system.startswith(CLAUDE_CODE_IDENTITY)
    if not isinstance(system, list):
        return False
    for block in system:
        if not isinstance(block, dict) or block.get("type") != "text":
            return False
        text = str(block.get("text", ""))
        if text.startswith(BILLING_HEADER_PREFIX):
            continue
        return text.startswith(CLAUDE_CODE_IDENTITY)
    return False


def count_cache_control(body: Mapping[str, Any]) -> int:
    """Blocks carrying ``cache_control`` in system, tools and messages (nested results too)."""

    def in_blocks(blocks: Any) -> int:
        if not isinstance(blocks, list):
            return 0
        total = 0
        for block in blocks:
            if isinstance(block, dict):
                total += 1 if block.get("cache_control") is not None else 0
                total += in_blocks(block.get("content"))
        return total

    total = in_blocks(body.get("system")) + in_blocks(body.get("tools"))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += in_blocks(message.get("content"))
    return total
