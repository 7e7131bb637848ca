"""Fake OAuth token endpoints for Claude (JSON bodies) and ChatGPT/Codex (form bodies, JWTs).

Both fakes issue authorization codes on request (``issue_code``), verify PKCE S256 at the
exchange, rotate refresh tokens (a used refresh token is refused), and keep a ledger the model
fakes consult: ``FakeAnthropic(oauth=claude_oauth)`` accepts exactly the access tokens that are
valid here right now, so ``expire_now`` / ``revoke`` make the next model call answer 401.

Expiry follows ``clock`` (default ``time.time``); pass your own to move time in a test.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ccproxy.testing.fakes._oauth_base import (
    AUTH_CLAIM,
    CLAUDE_CLIENT_ID,
    CLAUDE_SCOPES,
    CODEX_CLIENT_ID,
    CODEX_DEVICE_REDIRECT_URI,
    CODEX_SCOPES,
    OAuthError,
    OAuthFake,
)
from ccproxy.testing.fakes._tokens import (
    IssuedToken,
    TokenStatus,
    decode_jwt_claims,
    make_jwt,
    pkce_challenge,
    pkce_pair,
)
from ccproxy.testing.fakes.scripting import RecordedRequest, record_request

__all__ = [
    "CLAUDE_CLIENT_ID",
    "CLAUDE_SCOPES",
    "CODEX_CLIENT_ID",
    "CODEX_DEVICE_REDIRECT_URI",
    "CODEX_SCOPES",
    "DeviceAuthorization",
    "FakeClaudeOAuth",
    "FakeCodexOAuth",
    "IssuedToken",
    "OAuthError",
    "decode_jwt_claims",
    "make_jwt",
    "pkce_challenge",
    "pkce_pair",
]


class FakeClaudeOAuth(OAuthFake):
    """Claude's token endpoint, ``POST /v1/oauth/token`` with a JSON body.

    >>> oauth = FakeClaudeOAuth()
    >>> creds = oauth.mint_credentials()
    >>> oauth.is_valid_access_token(creds["access_token"])
    True
    """

    token_path = "/v1/oauth/token"  # nosec B105 # a URL path, not a secret
    default_client_ids = (CLAUDE_CLIENT_ID,)
    default_scopes = CLAUDE_SCOPES
    check_state = True

    def __init__(
        self,
        *,
        client_ids: Collection[str] | None = None,
        access_token_ttl: float = 28800.0,
        clock: Callable[[], float] = time.time,
        account_uuid: str = "acct-claude-fake",
        email: str = "fake@example.com",
        subscription_type: str = "max",
    ) -> None:
        self.account_uuid = account_uuid
        self.email = email
        self.subscription_type = subscription_type
        super().__init__(client_ids=client_ids, access_token_ttl=access_token_ttl, clock=clock)

    def _params(self, record: RecordedRequest) -> dict[str, str]:
        if record.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise OAuthError(400, "invalid_request", "the token endpoint expects a JSON body")
        if not isinstance(record.json, dict):
            raise OAuthError(400, "invalid_request", "the body must be a JSON object")
        return {str(k): str(v) for k, v in record.json.items() if v is not None}

    def _grant(
        self, client_id: str, scopes: tuple[str, ...], account_id: str | None
    ) -> dict[str, Any]:
        access, refresh = self._issue(client_id, scopes, self.access_token_ttl)
        return {
            "token_type": "Bearer",  # nosec B105 # the OAuth token type name
            "access_token": access.value,
            "expires_in": int(self.access_token_ttl),
            "refresh_token": refresh.value,
            "scope": " ".join(scopes),
            "organization": {"uuid": "org-claude-fake", "name": "Fake Org"},
            "account": {"uuid": self.account_uuid, "email_address": self.email},
        }

    def _issue(
        self, client_id: str, scopes: tuple[str, ...], expires_in: float
    ) -> tuple[IssuedToken, IssuedToken]:
        access_value = f"sk-ant-oat01-fake-{secrets.token_urlsafe(24)}"
        return self._new_pair(
            client_id, scopes, self.account_uuid, access_value, expires_in, "sk-ant-ort01-fake-"
        )

    def mint_credentials(
        self, expires_in: float = 3600.0, *, scopes: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Fresh valid tokens as a test's starting credentials (no HTTP round trip).

        Keys: ``access_token``, ``refresh_token``, ``expires_in``, ``expires_at_ms``, ``scopes``,
        ``subscription_type``. :meth:`credentials_file` turns them into Claude Code's file.
        """
        scope_tuple = tuple(scopes if scopes is not None else self.default_scopes)
        client_id = next(iter(sorted(self.client_ids)), CLAUDE_CLIENT_ID)
        access, refresh = self._issue(client_id, scope_tuple, expires_in)
        assert access.expires_at is not None
        return {
            "access_token": access.value,
            "refresh_token": refresh.value,
            "expires_in": expires_in,
            "expires_at_ms": int(access.expires_at * 1000),
            "scopes": list(scope_tuple),
            "subscription_type": self.subscription_type,
        }

    @staticmethod
    def credentials_file(credentials: Mapping[str, Any]) -> dict[str, Any]:
        """``~/.claude/.credentials.json`` content for credentials from :meth:`mint_credentials`."""
        return {
            "claudeAiOauth": {
                "accessToken": credentials["access_token"],
                "refreshToken": credentials["refresh_token"],
                "expiresAt": credentials["expires_at_ms"],
                "scopes": list(credentials["scopes"]),
                "subscriptionType": credentials["subscription_type"],
            }
        }


@dataclass
class DeviceAuthorization:
    """One device-code login: pending until the test calls ``approve_device(user_code)``."""

    device_auth_id: str
    user_code: str
    client_id: str
    approved: bool = False
    delivered: bool = False
    authorization_code: str | None = None
    code_verifier: str | None = None


class FakeCodexOAuth(OAuthFake):
    """ChatGPT's auth server for Codex: ``POST /oauth/token`` (form-encoded), device code, revoke.

    Access and id tokens are unsigned JWTs with ``exp`` and the ``https://api.openai.com/auth``
    claim (``chatgpt_account_id``, ``chatgpt_plan_type``). Refresh refusals answer 401 with
    ``{"error": {"code": "refresh_token_reused" | "refresh_token_expired" |
    "refresh_token_invalidated", ...}}`` as the Codex CLI expects; code-exchange refusals use the
    plain OAuth shape ``{"error": ..., "error_description": ...}``.

    Device flow (paths configurable): ``POST {device_prefix}/usercode`` ``{client_id}`` →
    ``{device_auth_id, user_code, interval}``; ``POST {device_prefix}/token``
    ``{device_auth_id, user_code}`` → 403 while pending, then once
    ``{authorization_code, code_challenge, code_verifier}``, exchanged at the token endpoint with
    ``redirect_uri`` = ``https://auth.openai.com/deviceauth/callback``.
    """

    token_path = "/oauth/token"  # nosec B105 # a URL path, not a secret
    default_client_ids = (CODEX_CLIENT_ID,)
    default_scopes = CODEX_SCOPES

    def __init__(
        self,
        *,
        client_ids: Collection[str] | None = None,
        access_token_ttl: float = 864000.0,
        clock: Callable[[], float] = time.time,
        account_id: str = "acct-codex-fake",
        plan_type: str = "pro",
        email: str = "fake@example.com",
        device_prefix: str = "/api/accounts/deviceauth",
        device_interval: int = 5,
        device_redirect_uri: str = CODEX_DEVICE_REDIRECT_URI,
    ) -> None:
        self.account_id = account_id
        self.plan_type = plan_type
        self.email = email
        self.device_prefix = device_prefix.rstrip("/")
        self.device_interval = device_interval
        self.device_redirect_uri = device_redirect_uri
        self.devices: dict[str, DeviceAuthorization] = {}
        #: Every device-token poll received.
        self.device_poll_count = 0
        super().__init__(client_ids=client_ids, access_token_ttl=access_token_ttl, clock=clock)

    def _routes(self) -> list[BaseRoute]:
        return [
            *super()._routes(),
            Route("/oauth/revoke", self._revoke_endpoint, methods=["POST"]),
            Route(f"{self.device_prefix}/usercode", self._device_usercode, methods=["POST"]),
            Route(f"{self.device_prefix}/token", self._device_token, methods=["POST"]),
        ]

    # tokens ----------------------------------------------------------------------------------

    def account_for(self, token: str) -> str | None:
        """The ChatGPT account id of an issued access token (``None`` if not issued here)."""
        issued = self.ledger.tokens.get(token)
        return issued.account_id if issued is not None else None

    def _params(self, record: RecordedRequest) -> dict[str, str]:
        if record.form is None:
            raise OAuthError(
                400, "invalid_request", "the token endpoint expects a form-encoded body"
            )
        return dict(record.form)

    def _error_response(self, exc: OAuthError, *, refresh: bool) -> Response:
        if not refresh:
            return super()._error_response(exc, refresh=refresh)
        error = {
            "message": exc.description,
            "type": "invalid_request_error",
            "param": None,
            "code": exc.error,
        }
        return JSONResponse({"error": error}, status_code=exc.status)

    def _refresh_refusal(self, status: TokenStatus) -> OAuthError:
        codes = {
            "used": (
                "refresh_token_reused",
                "Your refresh token has already been used to generate a new access token. "
                "Please try signing in again.",
            ),
            "expired": ("refresh_token_expired", "Your refresh token has expired."),
        }
        code, message = codes.get(
            status, ("refresh_token_invalidated", "Your refresh token has been invalidated.")
        )
        return OAuthError(401, code, message)

    def _grant(
        self, client_id: str, scopes: tuple[str, ...], account_id: str | None
    ) -> dict[str, Any]:
        tokens = self._issue(
            client_id, scopes, account_id or self.account_id, self.access_token_ttl
        )
        return {
            "id_token": tokens["id_token"],
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_in": int(self.access_token_ttl),
            "token_type": "Bearer",  # nosec B105 # the OAuth token type name
            "scope": " ".join(scopes),
        }

    def _issue(
        self, client_id: str, scopes: tuple[str, ...], account_id: str, expires_in: float
    ) -> dict[str, Any]:
        now = self.clock()
        exp = int(now + expires_in)
        auth = {
            "chatgpt_account_id": account_id,
            "chatgpt_plan_type": self.plan_type,
            "chatgpt_user_id": f"user-{account_id}",
            "user_id": f"user-{account_id}",
        }
        common = {"iss": "https://auth.openai.com", "iat": int(now), "exp": exp, "sub": "fake"}
        access_value = make_jwt(
            {
                **common,
                "aud": ["https://api.openai.com/v1"],
                "client_id": client_id,
                "jti": secrets.token_hex(8),
                "scp": list(scopes),
                AUTH_CLAIM: auth,
            }
        )
        id_token = make_jwt(
            {
                **common,
                "aud": [client_id],
                "email": self.email,
                "email_verified": True,
                "jti": secrets.token_hex(8),
                AUTH_CLAIM: {
                    **auth,
                    "organizations": [{"id": "org-codex-fake", "is_default": True}],
                },
            }
        )
        access, refresh = self._new_pair(client_id, scopes, account_id, access_value, 0, "rt_fake_")
        access.expires_at = float(exp)
        self.ledger.add(IssuedToken(id_token, "id", client_id, scopes, float(exp), account_id))
        return {
            "access_token": access.value,
            "refresh_token": refresh.value,
            "id_token": id_token,
            "expires_at": exp,
        }

    def mint_credentials(
        self, expires_in: float = 3600.0, *, account_id: str | None = None
    ) -> dict[str, Any]:
        """Fresh valid tokens as a test's starting credentials (no HTTP round trip).

        Keys: ``access_token``, ``refresh_token``, ``id_token``, ``account_id``, ``plan_type``,
        ``expires_in``, ``expires_at_ms``. :meth:`auth_json` turns them into Codex's file.
        """
        account = account_id or self.account_id
        client_id = next(iter(sorted(self.client_ids)), CODEX_CLIENT_ID)
        tokens = self._issue(client_id, self.default_scopes, account, expires_in)
        return {
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "id_token": tokens["id_token"],
            "account_id": account,
            "plan_type": self.plan_type,
            "expires_in": expires_in,
            "expires_at_ms": tokens["expires_at"] * 1000,
        }

    @staticmethod
    def auth_json(credentials: Mapping[str, Any]) -> dict[str, Any]:
        """``~/.codex/auth.json`` content for credentials from :meth:`mint_credentials`."""
        return {
            "OPENAI_API_KEY": None,
            "tokens": {
                "id_token": credentials["id_token"],
                "access_token": credentials["access_token"],
                "refresh_token": credentials["refresh_token"],
                "account_id": credentials["account_id"],
            },
            "last_refresh": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }

    async def _revoke_endpoint(self, request: Request) -> Response:
        record = await record_request(request)
        token = (record.form or {}).get("token", "")
        if token in self.ledger.tokens:
            self.revoke(token)
        return self._respond(record, JSONResponse({}))

    # device code -----------------------------------------------------------------------------

    def approve_device(self, user_code: str) -> None:
        """The user entered ``user_code`` and approved: the next poll gets the code."""
        for device in self.devices.values():
            if device.user_code == user_code:
                verifier, challenge = pkce_pair()
                device.approved = True
                device.code_verifier = verifier
                device.authorization_code = self.issue_code(
                    code_challenge=challenge, redirect_uri=self.device_redirect_uri
                )
                return
        raise KeyError(f"no device authorization with user code {user_code!r}")

    @property
    def pending_user_codes(self) -> list[str]:
        """User codes handed out and not approved yet, oldest first."""
        return [d.user_code for d in self.devices.values() if not d.approved]

    def _device_json(self, record: RecordedRequest) -> dict[str, Any]:
        if not isinstance(record.json, dict):
            raise OAuthError(400, "invalid_request", "the body must be a JSON object")
        return record.json

    async def _device_usercode(self, request: Request) -> Response:
        record = await record_request(request)
        try:
            body = self._device_json(record)
            self._check_client({"client_id": str(body.get("client_id") or "")})
        except OAuthError as exc:
            return self._respond(record, self._error_response(exc, refresh=False))
        device_auth_id = f"deviceauth-{secrets.token_hex(8)}"
        letters = secrets.token_hex(4).upper()
        device = DeviceAuthorization(
            device_auth_id, f"{letters[:4]}-{letters[4:]}", body["client_id"]
        )
        self.devices[device_auth_id] = device
        payload = {
            "device_auth_id": device.device_auth_id,
            "user_code": device.user_code,
            "interval": self.device_interval,
        }
        return self._respond(record, JSONResponse(payload))

    async def _device_token(self, request: Request) -> Response:
        record = await record_request(request)
        self.device_poll_count += 1
        try:
            body = self._device_json(record)
        except OAuthError as exc:
            return self._respond(record, self._error_response(exc, refresh=False))
        device = self.devices.get(str(body.get("device_auth_id")))
        if device is None or device.user_code != body.get("user_code"):
            error = {
                "error": "invalid_request",
                "error_description": "unknown device authorization",
            }
            return self._respond(record, JSONResponse(error, status_code=400))
        if device.delivered:
            error = {"error": "invalid_grant", "error_description": "device code already used"}
            return self._respond(record, JSONResponse(error, status_code=400))
        if not device.approved:
            error = {"error": "authorization_pending", "error_description": "not approved yet"}
            return self._respond(record, JSONResponse(error, status_code=403))
        device.delivered = True
        assert device.authorization_code is not None
        assert device.code_verifier is not None
        payload = {
            "authorization_code": device.authorization_code,
            "code_challenge": pkce_challenge(device.code_verifier),
            "code_verifier": device.code_verifier,
        }
        return self._respond(record, JSONResponse(payload))
