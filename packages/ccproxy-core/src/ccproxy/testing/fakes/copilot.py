"""A strict, scriptable fake of GitHub Copilot: github.com, api.github.com and the Copilot API.

One ASGI app serves all three hosts' routes, so a test points the GitHub base URLs and the minted
``endpoints.api`` at the same fake (``api_url``)::

    fake = FakeCopilot(api_url="http://copilot.test")
    github_token = fake.issue_github_token()          # as if an editor had logged in
    fake.script(Reply.text("Hi from Copilot."))        # the same replies as the other fakes
    # GET /copilot_internal/v2/token (authorization: token <github token>) → a Copilot token,
    # then POST /chat/completions, /responses or /v1/messages with the editor headers.
    # fake.mint_copilot_token() skips the mint round trip.

Routes (GitHub answers device-flow errors with HTTP 200 and an ``error`` field):

- ``POST /login/device/code`` and ``POST /login/oauth/access_token``: the device flow of the
  editor app; approve or deny with :meth:`FakeCopilot.approve` / :meth:`FakeCopilot.deny`.
- ``GET /copilot_internal/v2/token``: mints a Copilot token; ``GET /copilot_internal/user``:
  plan and quotas, premium interactions decreasing as user-initiated requests are served.
- ``GET /models``, ``POST /chat/completions``, ``POST /responses``, ``POST /v1/messages``: every
  call needs a valid minted token and the editor header set; a model is served only on the
  endpoints its ``supported_endpoints`` lists.

Each strict rule is an attribute that can be changed after construction. Every request, refused
or not, is in ``requests`` (:class:`RecordedRequest`: method, path, lower-case headers, JSON body,
``bearer_token``, the status answered).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ccproxy.testing.fakes._base import Event, ScriptedFake, play_events, sse_frame
from ccproxy.testing.fakes.anthropic_events import MessageRendering
from ccproxy.testing.fakes.chat_events import ChatRendering
from ccproxy.testing.fakes.codex_events import ResponsesRendering
from ccproxy.testing.fakes.copilot_checks import (
    REQUIRED_COPILOT_HEADERS,
    CopilotRefusal,
    Endpoint,
    HeaderRules,
    check_model_body,
)
from ccproxy.testing.fakes.copilot_github import (
    COPILOT_CLIENT_ID,
    DeviceRefusal,
    GitHubAccounts,
    sku_for,
)
from ccproxy.testing.fakes.copilot_models import DEFAULT_COPILOT_MODELS
from ccproxy.testing.fakes.scripting import (
    RecordedRequest,
    Reply,
    ReplyLike,
    StreamInterruption,
    record_request,
)

__all__ = [
    "COPILOT_CLIENT_ID",
    "DEFAULT_COPILOT_MODELS",
    "REQUIRED_COPILOT_HEADERS",
    "CopilotRefusal",
    "FakeCopilot",
]

_BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
}
_ERROR_CODES = {
    400: "invalid_request_body",
    401: "unauthorized",
    402: "quota_exceeded",
    403: "forbidden",
    404: "not_found",
    429: "rate_limited",
    500: "server_error",
    503: "service_unavailable",
}


class FakeCopilot(ScriptedFake):
    """One ASGI app for github.com (device flow), api.github.com (mint, usage) and the Copilot API.

    ``clock`` decides the expiry of device codes and Copilot tokens. ``plan`` is the
    ``copilot_plan`` (``individual``, ``business``, ``enterprise``, ``free``…) and picks the
    token's ``sku``. ``models`` (default :data:`DEFAULT_COPILOT_MODELS`, copied) is what
    ``GET /models`` lists and what the model endpoints accept. ``x-github-api-version`` must be
    a date no older than ``min_api_version``.

    Served model requests with ``x-initiator: user`` count in ``premium_requests`` and lower
    ``premium_remaining`` (down to 0) as ``/copilot_internal/user`` shows; reaching 0 does not
    refuse anything by itself: set ``quota_exceeded`` for the 402.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        api_url: str = "http://copilot.test",
        token_lifetime_seconds: float = 1800,
        refresh_in_seconds: float = 1500,
        plan: str = "individual",
        premium_entitlement: int = 300,
        premium_remaining: int = 300,
        quota_reset_date: str = "2027-01-01",
        models: list[dict[str, Any]] | None = None,
        client_id: str = COPILOT_CLIENT_ID,
        min_api_version: str = "2025-04-01",
        device_lifetime_seconds: float = 899,
        device_interval: int = 5,
        enforce_poll_interval: bool = False,
        omit_created: bool = False,
        default_reply: Reply | None = None,
    ) -> None:
        self.clock = clock
        self.api_url = api_url
        self.token_lifetime_seconds = token_lifetime_seconds
        self.refresh_in_seconds = refresh_in_seconds
        self.plan = plan
        self.premium_entitlement = premium_entitlement
        self.premium_remaining = premium_remaining
        self.quota_reset_date = quota_reset_date
        self.models: list[dict[str, Any]] = copy.deepcopy(
            models if models is not None else DEFAULT_COPILOT_MODELS
        )
        self.min_api_version = min_api_version
        #: Headers every Copilot API call (``/models`` too) must carry, else 400 naming it.
        self.required_headers: tuple[str, ...] = REQUIRED_COPILOT_HEADERS
        #: Accepted ``copilot-integration-id`` values.
        self.integration_ids: set[str] = {"vscode-chat"}
        #: What ``user-agent`` must start with (``""``: anything); catches an HTTP library default.
        self.user_agent_prefix = "GitHubCopilotChat/"
        #: Leave ``created`` out of Chat Completions answers, as Copilot sometimes does.
        self.omit_created = omit_created
        #: True: the model endpoints answer 402 ``quota_exceeded``.
        self.quota_exceeded = False
        #: True: the model endpoints answer 403 ``spammy_user`` (the account is blocked).
        self.spammy = False
        #: Requests served with ``x-initiator: user`` (agent follow-ups are free).
        self.premium_requests = 0
        #: Successful mints at ``GET /copilot_internal/v2/token``.
        self.mint_count = 0
        self.accounts = GitHubAccounts(
            clock=clock,
            client_id=client_id,
            device_lifetime_seconds=device_lifetime_seconds,
            device_interval=device_interval,
            enforce_poll_interval=enforce_poll_interval,
        )
        #: GitHub tokens the fake knows (issued, or added by a test); revoked ones stay listed.
        self.github_tokens: set[str] = self.accounts.github_tokens
        #: GitHub tokens that minting and usage refuse with 401 (``revoke_github_token``).
        self.revoked_github_tokens: set[str] = self.accounts.revoked
        super().__init__(default_reply)

    def _routes(self) -> list[BaseRoute]:
        return [
            Route("/login/device/code", self._device_code, methods=["POST"]),
            Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
            Route("/copilot_internal/v2/token", self._mint, methods=["GET"]),
            Route("/copilot_internal/user", self._user, methods=["GET"]),
            Route("/models", self._models, methods=["GET"]),
            Route("/chat/completions", self._chat, methods=["POST"]),
            Route("/responses", self._responses, methods=["POST"]),
            Route("/v1/messages", self._messages, methods=["POST"]),
        ]

    # test-facing API: GitHub -------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The OAuth app the device flow accepts."""
        return self.accounts.client_id

    def issue_github_token(self, user: str = "octocat") -> str:
        """A GitHub token for ``user``, as if an editor had logged in (no HTTP round trip)."""
        return self.accounts.issue_github_token(user)

    def revoke_github_token(self, token: str) -> None:
        """The user revoked the app: minting and usage answer 401 for ``token`` from now on."""
        self.revoked_github_tokens.add(token)

    def approve(self, user_code: str, user: str = "octocat") -> None:
        """``user`` entered ``user_code`` and approved: the next poll gets a GitHub token."""
        self.accounts.decide(user_code, "approved", user)

    def deny(self, user_code: str) -> None:
        """The user cancelled: polls answer ``access_denied``."""
        self.accounts.decide(user_code, "denied", "octocat")

    def slow_down_next_poll(self) -> None:
        """The next poll answers ``slow_down`` (and the device's interval grows by 5 s)."""
        self.accounts.slow_down_next = True

    @property
    def pending_user_codes(self) -> list[str]:
        """User codes handed out and neither approved nor denied yet, oldest first."""
        return [d.user_code for d in self.accounts.devices.values() if d.state == "pending"]

    @property
    def device_poll_count(self) -> int:
        """Polls of ``/login/oauth/access_token`` received."""
        return self.accounts.poll_count

    @property
    def copilot_tokens(self) -> set[str]:
        """Minted Copilot tokens that are valid right now."""
        return self.accounts.valid_copilot_tokens()

    def mint_copilot_token(self, github_token: str | None = None) -> str:
        """A valid Copilot token without a round trip (a new GitHub token when none is given)."""
        token = github_token if github_token is not None else self.issue_github_token()
        return self.accounts.mint(token, lifetime=self.token_lifetime_seconds, plan=self.plan).value

    def expire_copilot_tokens(self) -> None:
        """Every Copilot token minted so far answers 401 ``token expired`` from now on."""
        self.accounts.expire_all()

    def script(self, *replies: ReplyLike) -> None:
        """Answer the next valid model requests with ``replies`` (same as :meth:`enqueue`)."""
        self.enqueue(*replies)

    def model(self, model_id: str) -> dict[str, Any] | None:
        """The ``/models`` entry of ``model_id``."""
        return next((m for m in self.models if m.get("id") == model_id), None)

    # github.com: device flow ---------------------------------------------------------------------

    async def _device_code(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            payload = self.accounts.start(_params(record))
        except DeviceRefusal as exc:
            payload = exc.payload()
        return self._respond(record, _github_form_or_json(record, payload))

    async def _access_token(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            payload = self.accounts.poll(_params(record))
        except DeviceRefusal as exc:
            payload = exc.payload()
        return self._respond(record, _github_form_or_json(record, payload))

    # api.github.com ----------------------------------------------------------------------------

    def _github_user(self, record: RecordedRequest) -> tuple[str, str]:
        scheme, _, token = record.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("token", "bearer") or not token:
            raise CopilotRefusal(401, {**_BAD_CREDENTIALS, "message": "Requires authentication"})
        user = self.accounts.user_for(token)
        if user is None:
            raise CopilotRefusal(401, _BAD_CREDENTIALS)
        return token, user

    async def _mint(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            github_token, _ = self._github_user(record)
        except CopilotRefusal as exc:
            return self._respond(record, exc.response())
        minted = self.accounts.mint(
            github_token, lifetime=self.token_lifetime_seconds, plan=self.plan
        )
        self.mint_count += 1
        payload = {
            "token": minted.value,
            "expires_at": int(minted.expires_at),
            "refresh_in": int(self.refresh_in_seconds),
            "endpoints": {
                "api": self.api_url,
                "origin-tracker": "https://origin-tracker.individual.githubcopilot.com",
                "proxy": "https://proxy.individual.githubcopilot.com",
                "telemetry": "https://telemetry.individual.githubcopilot.com",
            },
            "sku": sku_for(self.plan),
            "chat_enabled": True,
            "annotations_enabled": True,
            "code_quote_enabled": True,
            "individual": self.plan in ("individual", "individual_pro", "free"),
            "public_suggestions": "disabled",
            "telemetry": "enabled",
            "tracking_id": uuid.uuid5(uuid.NAMESPACE_URL, github_token).hex,
            "limited_user_quotas": None,
            "limited_user_reset_date": None,
        }
        return self._respond(record, JSONResponse(payload))

    async def _user(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            _, user = self._github_user(record)
        except CopilotRefusal as exc:
            return self._respond(record, exc.response())
        return self._respond(record, JSONResponse(self.usage_payload(user)))

    def usage_payload(self, user: str = "octocat") -> dict[str, Any]:
        """What ``GET /copilot_internal/user`` answers right now."""
        unlimited = _quota("chat", 0, 0, unlimited=True)
        remaining = max(0, self.premium_remaining)
        return {
            "login": user,
            "access_type_sku": sku_for(self.plan),
            "analytics_tracking_id": uuid.uuid5(uuid.NAMESPACE_URL, user).hex,
            "assigned_date": "2025-01-01T00:00:00Z",
            "can_signup_for_limited": False,
            "chat_enabled": True,
            "copilot_plan": self.plan,
            "organization_login_list": [],
            "organization_list": [],
            "quota_reset_date": self.quota_reset_date,
            "quota_reset_date_utc": f"{self.quota_reset_date}T00:00:00.000Z",
            "quota_snapshots": {
                "chat": unlimited,
                "completions": {**unlimited, "quota_id": "completions"},
                "premium_interactions": _quota(
                    "premium_interactions", self.premium_entitlement, remaining, unlimited=False
                ),
            },
        }

    # Copilot API -------------------------------------------------------------------------------

    def _check_api_headers(self, record: RecordedRequest) -> None:
        """401 without a valid minted token; 400 naming the first missing or bad header."""
        token = record.bearer_token
        if token is None:
            raise CopilotRefusal(401, text="unauthorized: missing or malformed bearer token\n")
        status = self.accounts.copilot_status(token)
        if status == "expired":
            raise CopilotRefusal(401, text="unauthorized: token expired\n")
        if status != "valid":
            raise CopilotRefusal(401, text="unauthorized: token invalid\n")
        HeaderRules(
            self.required_headers,
            self.integration_ids,
            self.user_agent_prefix,
            self.min_api_version,
        ).check(record.headers)

    async def _models(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            self._check_api_headers(record)
        except CopilotRefusal as exc:
            return self._respond(record, exc.response())
        return self._respond(record, JSONResponse({"data": self.models, "object": "list"}))

    def _check_model_request(self, record: RecordedRequest, endpoint: Endpoint) -> dict[str, Any]:
        """Everything a model endpoint checks before it answers; the body when it passes."""
        self._check_api_headers(record)
        if self.spammy:
            raise CopilotRefusal.error(
                403,
                "spammy_user",
                "Your account has been flagged for unusual activity and Copilot access is "
                "restricted. Contact GitHub Support.",
            )
        model_id = record.json.get("model") if isinstance(record.json, dict) else None
        model = self.model(model_id) if isinstance(model_id, str) else None
        body = check_model_body(endpoint, record.json, model, record.headers)
        if self.quota_exceeded:
            raise CopilotRefusal.error(402, "quota_exceeded", "You have no quota")
        return body

    async def _model_call(
        self, request: Request, endpoint: Endpoint
    ) -> tuple[RecordedRequest, dict[str, Any], Reply] | Response:
        """The checks, the scripted reply and the premium count; a Response when refused."""
        record = await record_request(request)
        try:
            body = self._check_model_request(record, endpoint)
        except CopilotRefusal as exc:
            return self._respond(record, exc.response())
        reply = self.replies.next(record)
        if reply.http_error is not None:
            return self._respond(record, _error_reply(reply))
        if record.headers.get("x-initiator") == "user":
            self.premium_requests += 1
            self.premium_remaining = max(0, self.premium_remaining - 1)
        return record, body, reply

    async def _chat(self, request: Request) -> Response:
        call = await self._model_call(request, "/chat/completions")
        if isinstance(call, Response):
            return call
        record, body, reply = call
        created = None if self.omit_created else int(self.clock())
        rendering = ChatRendering(reply, body, self._next_serial(), created)
        if body.get("stream") is True:
            return self._stream(record, reply, rendering.events(), rendering.error_events, "chat")
        return self._respond(record, _whole(reply, rendering.completion()))

    async def _responses(self, request: Request) -> Response:
        call = await self._model_call(request, "/responses")
        if isinstance(call, Response):
            return call
        record, body, reply = call
        rendering = ResponsesRendering(reply, body, self._next_serial(), int(self.clock()))
        if body.get("stream") is True:
            events = rendering.events()
            return self._stream(record, reply, events, rendering.error_events, "responses")
        final = _final_response(rendering)
        return self._respond(record, _whole(reply, final))

    async def _messages(self, request: Request) -> Response:
        call = await self._model_call(request, "/v1/messages")
        if isinstance(call, Response):
            return call
        record, body, reply = call
        serial = self._next_serial()
        rendering = MessageRendering(reply, body, f"msg_fake_{serial:06d}", serial)
        if body.get("stream") is True:
            events = rendering.events(send_ping=True)
            return self._stream(record, reply, events, _messages_error_events, "messages")
        return self._respond(record, _whole(reply, rendering.message()))

    def _stream(
        self,
        record: RecordedRequest,
        reply: Reply,
        events: list[Event],
        error_events: Callable[[StreamInterruption], list[Event]],
        style: Literal["chat", "responses", "messages"],
    ) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            sequence = 0
            async for name, data in play_events(
                events,
                interruption=reply.interruption,
                delay=reply.delay_between_events,
                error_events=error_events,
            ):
                if style == "chat":
                    yield f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
                elif style == "responses":
                    yield sse_frame(name, {**data, "sequence_number": sequence})
                    sequence += 1
                else:
                    yield sse_frame(name, data)
            if style == "chat" and reply.interruption is None:
                yield b"data: [DONE]\n\n"

        self._log(record, 200)
        return StreamingResponse(
            frames(),
            headers={**reply.headers, "cache-control": "no-cache"},
            media_type="text/event-stream",
        )

    def _not_found(self, record: RecordedRequest) -> Response:
        return PlainTextResponse("404 page not found\n", status_code=404)


# helpers ---------------------------------------------------------------------------------------


def _params(record: RecordedRequest) -> dict[str, str]:
    """GitHub's OAuth endpoints take a form, a JSON body or the query string."""
    params = dict(record.query)
    if record.form is not None:
        params.update(record.form)
    elif isinstance(record.json, dict):
        params.update({str(k): str(v) for k, v in record.json.items() if v is not None})
    return params


def _github_form_or_json(record: RecordedRequest, payload: dict[str, Any]) -> Response:
    """JSON when the client accepts it, else GitHub's default form encoding (HTTP 200 either way)."""
    if "application/json" in record.headers.get("accept", ""):
        return JSONResponse(payload)
    return Response(
        urlencode({k: str(v) for k, v in payload.items()}),
        media_type="application/x-www-form-urlencoded; charset=utf-8",
    )


def _quota(quota_id: str, entitlement: int, remaining: int, *, unlimited: bool) -> dict[str, Any]:
    percent = 100.0 if unlimited or entitlement <= 0 else remaining * 100.0 / entitlement
    return {
        "quota_id": quota_id,
        "entitlement": entitlement,
        "remaining": remaining,
        "quota_remaining": float(remaining),
        "percent_remaining": percent,
        "unlimited": unlimited,
        "overage_permitted": False,
        "overage_count": 0,
    }


def _error_reply(reply: Reply) -> Response:
    assert reply.http_error is not None
    error = reply.http_error
    if error.body is not None:
        if isinstance(error.body, str | bytes):
            return Response(error.body, status_code=error.status, headers=dict(reply.headers))
        return JSONResponse(error.body, status_code=error.status, headers=dict(reply.headers))
    default = "server_error" if error.status >= 500 else "invalid_request_body"
    code = error.error_type or _ERROR_CODES.get(error.status, default)
    body = {"error": {"message": error.message or f"fake {code}", "code": code}}
    return JSONResponse(body, status_code=error.status, headers=dict(reply.headers))


def _whole(reply: Reply, payload: dict[str, Any]) -> Response:
    """A non-streaming answer; a scripted stream error becomes the HTTP error instead."""
    interruption = reply.interruption
    if interruption is not None and interruption.kind == "error":
        code = interruption.error_type or "server_error"
        body = {"error": {"message": interruption.message, "code": code}}
        return JSONResponse(body, status_code=500, headers=dict(reply.headers))
    return JSONResponse(payload, headers=dict(reply.headers))


def _final_response(rendering: ResponsesRendering) -> dict[str, Any]:
    """The non-streaming Responses answer: the response the terminal event carries."""
    _, data = rendering.events()[-1]
    return dict(data["response"])


def _messages_error_events(interruption: StreamInterruption) -> list[Event]:
    error_type = interruption.error_type or "overloaded_error"
    body = {"type": "error", "error": {"type": error_type, "message": interruption.message}}
    return [("error", body)]
