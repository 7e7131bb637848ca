"""The token-endpoint logic both OAuth fakes share: codes, PKCE, rotation, the ledger."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ccproxy.testing.fakes._base import FakeService
from ccproxy.testing.fakes._tokens import (
    AuthorizationCode,
    IssuedToken,
    TokenLedger,
    TokenStatus,
    pkce_challenge,
    valid_verifier,
)
from ccproxy.testing.fakes.scripting import RecordedRequest, record_request

__all__ = [
    "AUTH_CLAIM",
    "CLAUDE_CLIENT_ID",
    "CLAUDE_SCOPES",
    "CODEX_CLIENT_ID",
    "CODEX_DEVICE_REDIRECT_URI",
    "CODEX_SCOPES",
    "OAuthError",
    "OAuthFake",
]

CLAUDE_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
CLAUDE_SCOPES = (
    "user:profile",
    "user:inference",
    "user:sessions:claude_code",
    "user:mcp_servers",
    "user:file_upload",
)
CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
CODEX_SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "api.connectors.read",
    "api.connectors.invoke",
)
CODEX_DEVICE_REDIRECT_URI = "https://auth.openai.com/deviceauth/callback"
AUTH_CLAIM = "https://api.openai.com/auth"


class OAuthError(Exception):
    """A refusal of the token endpoint: HTTP status and an OAuth ``error`` code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class OAuthFake(FakeService):
    """Token endpoint logic both providers share; subclasses parse bodies and mint tokens."""

    token_path = "/oauth/token"  # nosec B105 # a URL path, not a secret
    default_client_ids: tuple[str, ...] = ()
    default_scopes: tuple[str, ...] = ()
    #: Whether the code exchange must repeat the ``state`` the code was issued with.
    check_state = False

    def __init__(
        self,
        *,
        client_ids: Collection[str] | None = None,
        access_token_ttl: float = 28800.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_ids = frozenset(
            client_ids if client_ids is not None else self.default_client_ids
        )
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.ledger = TokenLedger(clock)
        self.codes: dict[str, AuthorizationCode] = {}
        #: Every ``grant_type=refresh_token`` request received, refused or not.
        self.refresh_count = 0
        #: Successful code exchanges.
        self.exchange_count = 0
        super().__init__()

    def _routes(self) -> list[BaseRoute]:
        return [Route(self.token_path, self._token_endpoint, methods=["POST"])]

    # test-facing API -------------------------------------------------------------------------

    def issue_code(
        self,
        *,
        code_challenge: str,
        state: str | None = None,
        redirect_uri: str | None = None,
        code_challenge_method: str = "S256",
        scopes: Collection[str] | None = None,
        account_id: str | None = None,
    ) -> str:
        """A code the token endpoint will exchange once, if the verifier matches the challenge.

        ``redirect_uri`` (when given) and ``state`` (Claude, when given) must be repeated.
        """
        code = f"code-{secrets.token_urlsafe(18)}"
        self.codes[code] = AuthorizationCode(
            code=code,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            state=state,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes if scopes is not None else self.default_scopes),
            account_id=account_id,
        )
        return code

    def token_status(self, token: str) -> TokenStatus:
        """``valid``, ``expired``, ``revoked``, ``used`` (a rotated refresh token) or ``unknown``."""
        return self.ledger.status(token)

    def is_valid_access_token(self, token: str) -> bool:
        return self.ledger.status(token, "access") == "valid"

    @property
    def valid_access_tokens(self) -> set[str]:
        return self.ledger.valid("access")

    @property
    def issued_tokens(self) -> dict[str, IssuedToken]:
        """Every token issued, by value."""
        return self.ledger.tokens

    def token_info(self, token: str) -> IssuedToken:
        return self.ledger.get(token)

    def expire_now(self, token: str) -> None:
        """Make ``token`` (access or refresh) expired from now on."""
        self.ledger.get(token).expires_at = self.clock() - 1

    def revoke(self, token: str) -> None:
        """Make ``token`` unusable from now on."""
        self.ledger.get(token).revoked = True

    # token endpoint --------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> Response:
        record = await record_request(request)
        is_refresh = False
        try:
            params = self._params(record)
            grant = params.get("grant_type")
            is_refresh = grant == "refresh_token"
            if is_refresh:
                self.refresh_count += 1
            self._check_client(params)
            if grant == "authorization_code":
                payload = self._exchange(params)
                self.exchange_count += 1
            elif is_refresh:
                payload = self._refresh(params)
            else:
                raise OAuthError(400, "unsupported_grant_type", f"unsupported grant_type {grant!r}")
        except OAuthError as exc:
            return self._respond(record, self._error_response(exc, refresh=is_refresh))
        return self._respond(record, JSONResponse(payload))

    def _params(self, record: RecordedRequest) -> dict[str, str]:
        raise NotImplementedError

    def _error_response(self, exc: OAuthError, *, refresh: bool) -> Response:
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description}, status_code=exc.status
        )

    def _check_client(self, params: Mapping[str, str]) -> None:
        client_id = params.get("client_id")
        if not client_id:
            raise OAuthError(400, "invalid_request", "client_id is required")
        if self.client_ids and client_id not in self.client_ids:
            raise OAuthError(401, "invalid_client", f"unknown client_id {client_id!r}")

    def _exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not params.get(name):
                raise OAuthError(400, "invalid_request", f"{name} is required")
        issued = self.codes.get(params["code"])
        if issued is None or issued.used:
            reason = "was already used" if issued is not None else "is unknown"
            raise OAuthError(400, "invalid_grant", f"authorization code {reason}")
        if issued.redirect_uri is not None and params["redirect_uri"] != issued.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization")
        if self.check_state and issued.state is not None and params.get("state") != issued.state:
            raise OAuthError(400, "invalid_grant", "state does not match the authorization")
        verifier = params["code_verifier"]
        if not valid_verifier(verifier):
            raise OAuthError(
                400, "invalid_request", "code_verifier must be 43-128 unreserved chars"
            )
        if (
            issued.code_challenge_method != "S256"
            or pkce_challenge(verifier) != issued.code_challenge
        ):
            raise OAuthError(
                400, "invalid_grant", "code_verifier does not match the code_challenge"
            )
        issued.used = True
        return self._grant(params["client_id"], issued.scopes, issued.account_id)

    def _refresh(self, params: Mapping[str, str]) -> dict[str, Any]:
        value = params.get("refresh_token")
        if not value:
            raise OAuthError(400, "invalid_request", "refresh_token is required")
        status = self.ledger.status(value, "refresh")
        if status != "valid":
            raise self._refresh_refusal(status)
        old = self.ledger.get(value)
        old.used = True
        scopes = tuple(params["scope"].split()) if params.get("scope") else old.scopes
        return self._grant(params["client_id"], scopes, old.account_id)

    def _refresh_refusal(self, status: TokenStatus) -> OAuthError:
        return OAuthError(400, "invalid_grant", f"refresh token is {status}")

    def _grant(
        self, client_id: str, scopes: tuple[str, ...], account_id: str | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _new_pair(
        self,
        client_id: str,
        scopes: tuple[str, ...],
        account_id: str | None,
        access_value: str,
        expires_in: float,
        refresh_prefix: str,
    ) -> tuple[IssuedToken, IssuedToken]:
        now = self.clock()
        access = self.ledger.add(
            IssuedToken(access_value, "access", client_id, scopes, now + expires_in, account_id)
        )
        refresh = self.ledger.add(
            IssuedToken(
                f"{refresh_prefix}{secrets.token_urlsafe(24)}",
                "refresh",
                client_id,
                scopes,
                None,
                account_id,
            )
        )
        return access, refresh
