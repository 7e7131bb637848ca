"""ChatGPT's OAuth facts for core's toolkit: the ``auth.codex`` entry point.

Core builds ``ccproxy auth login|status|refresh|logout codex`` from :data:`oauth_provider`, and
the ``oauth_codex`` plugin gets its ``oauth.codex`` token source from it. The facts are the
Codex CLI's (WIRE.md "Codex OAuth"):

**Browser login** (the default): a loopback callback on ``callback_port`` (1455, else
``callback_fallback_port``) at ``/auth/callback``; the authorize URL carries PKCE S256,
``state``, the scopes and Codex's own parameters; the code is exchanged at ``token_url``
(form-encoded).

**Device login** (``--device``, for machines without a browser). The paths were read from the
Codex CLI binary but the field names are reconstructed from the open-source CLI and could not be
verified against the live service, so every piece is configuration: ``POST
{device_base_url}{device_usercode_path}`` ``{client_id}`` → ``{device_auth_id, user_code,
interval}``; the user enters the code at ``device_verification_url``; ``POST
{device_base_url}{device_token_path}`` ``{device_auth_id, user_code}`` is polled (403/404 while
pending) until it answers ``{authorization_code, code_verifier}``, exchanged with
``redirect_uri = device_redirect_uri``.

**Logout** revokes both tokens at ``revoke_url``, best effort.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ccproxy.auth import (
    PENDING,
    AuthorizationCode,
    AuthorizeRequest,
    CallbackSpec,
    Credentials,
    DeviceAuthorization,
    LoginError,
    LoginMethod,
    OAuthProvider,
    OAuthTokenClient,
    Pending,
    build_authorize_url,
)
from ccproxy.plugins.cli import in_words, window_label
from ccproxy_plugin_codex.config import CodexOAuthConfig
from ccproxy_plugin_codex.credentials import PROVIDER, CodexCredentialFormat

__all__ = ["CodexOAuthProvider", "oauth_provider"]

_PENDING_STATUSES = frozenset({403, 404})
_ACCEPT_JSON = {"accept": "application/json"}


class CodexOAuthProvider(OAuthProvider[CodexOAuthConfig]):
    """ChatGPT subscriptions through the Codex CLI's OAuth client."""

    name = PROVIDER
    display_name = "Codex (ChatGPT)"
    plugin = "oauth_codex"
    config_class = CodexOAuthConfig
    credentials_key = CodexCredentialFormat.key
    file_owner = "the Codex CLI"
    login_methods = (LoginMethod.CALLBACK, LoginMethod.DEVICE)

    def credentials_path(self, config: CodexOAuthConfig) -> Path:
        return config.credentials_file.expanduser()

    def credential_format(self) -> CodexCredentialFormat:
        return CodexCredentialFormat()

    def token_client(self, config: CodexOAuthConfig, http: httpx.AsyncClient) -> OAuthTokenClient:
        """Form-encoded bodies; a refresh asks for the configured scopes."""
        return OAuthTokenClient(
            http,
            token_url=config.token_url,
            client_id=config.client_id,
            body="form",
            scopes=config.scopes.split(),
        )

    def authorize_url(self, config: CodexOAuthConfig, request: AuthorizeRequest) -> str:
        """The parameters as the Codex CLI sends them."""
        return build_authorize_url(
            config.authorize_url,
            {
                "response_type": "code",
                "client_id": config.client_id,
                "redirect_uri": request.redirect_uri,
                "scope": " ".join(config.scopes.split()),
                "code_challenge": request.pkce.challenge,
                "code_challenge_method": request.pkce.method,
                "id_token_add_organizations": "true",  # nosec B105 # an authorize URL flag
                "codex_cli_simplified_flow": "true",
                "state": request.state,
                "originator": config.originator,
            },
        )

    def refresh_margin(self, config: CodexOAuthConfig) -> float:
        return config.refresh_margin_seconds

    def callback(self, config: CodexOAuthConfig) -> CallbackSpec:
        # Both ports are registered with the client id; a stale tab's redirect is ignored.
        ports = (config.callback_port, config.callback_fallback_port)
        return CallbackSpec(ports=ports, path="/auth/callback", foreign_state="ignore")

    def login_timeout(self, config: CodexOAuthConfig, method: LoginMethod) -> float:
        if method is LoginMethod.DEVICE:
            return config.device_timeout_seconds
        return config.login_timeout_seconds

    async def start_device_login(
        self, config: CodexOAuthConfig, http: httpx.AsyncClient
    ) -> DeviceAuthorization:
        url = config.device_base_url.rstrip("/") + config.device_usercode_path
        payload = await _post_json(http, url, {"client_id": config.client_id}) or {}
        device_auth_id, user_code = payload.get("device_auth_id"), payload.get("user_code")
        if not isinstance(device_auth_id, str) or not isinstance(user_code, str):
            raise LoginError("device login: the reply lacks device_auth_id/user_code")
        try:
            interval = float(payload.get("interval") or 5)
        except (TypeError, ValueError):
            interval = 5.0
        if config.device_poll_interval_seconds is not None:
            interval = config.device_poll_interval_seconds
        return DeviceAuthorization(
            config.device_verification_url, user_code, interval, handle=device_auth_id
        )

    async def poll_device_login(
        self, config: CodexOAuthConfig, http: httpx.AsyncClient, device: DeviceAuthorization
    ) -> AuthorizationCode | Pending:
        url = config.device_base_url.rstrip("/") + config.device_token_path
        body = {"device_auth_id": device.handle, "user_code": device.user_code}
        payload = await _post_json(http, url, body, pending=_PENDING_STATUSES)
        if payload is None:
            return PENDING
        code, verifier = payload.get("authorization_code"), payload.get("code_verifier")
        if not isinstance(code, str) or not isinstance(verifier, str):
            raise LoginError("device login: the approval lacks authorization_code/code_verifier")
        return AuthorizationCode(code, verifier, config.device_redirect_uri)

    async def revoke(
        self, config: CodexOAuthConfig, http: httpx.AsyncClient, credentials: Credentials
    ) -> list[str]:
        """Revoke the refresh token, then the access token; one line per outcome."""
        lines = []
        for hint, token in (
            ("refresh_token", credentials.refresh_token),
            ("access_token", credentials.access_token),
        ):
            if not token:
                continue
            try:
                response = await http.post(
                    config.revoke_url,
                    data={"token": token, "token_type_hint": hint, "client_id": config.client_id},
                    headers=_ACCEPT_JSON,
                )
                status = response.status_code
                outcome = "revoked" if status < 400 else f"not revoked (HTTP {status})"
            except httpx.HTTPError as exc:
                outcome = f"not revoked ({type(exc).__name__})"
            lines.append(f"{hint.replace('_', ' ')}: {outcome} at {config.revoke_url}")
        return lines

    def window_lines(self, server_status: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """The ``x-codex-*`` usage windows the server saw last (5-hour, weekly, ...)."""
        usage = server_status.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        lines = []
        for name, window in sorted((usage.get("windows") or {}).items()):
            if not isinstance(window, dict):
                continue
            used, reset = window.get("used_percent"), window.get("reset_after_seconds")
            used_text = f"{used:g}% used" if isinstance(used, int | float) else "usage unknown"
            reset_text = f", resets {in_words(reset)}" if isinstance(reset, int | float) else ""
            minutes = window.get("window_minutes")
            label = window_label(minutes if isinstance(minutes, int) else None, name)
            lines.append(f"  {label}: {used_text}{reset_text}")
        if not lines:
            lines = [f"  {k}: {v}" for k, v in sorted((usage.get("headers") or {}).items())]
        seen_at = usage.get("seen_at")
        return lines, seen_at if isinstance(seen_at, str) else None


async def _post_json(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    pending: frozenset[int] = frozenset(),
) -> dict[str, Any] | None:
    """POST ``body`` as JSON; the answer's object, or ``None`` for a ``pending`` status."""
    try:
        response = await http.post(url, json=body, headers=_ACCEPT_JSON)
    except httpx.HTTPError as exc:
        raise LoginError(
            f"device login: {url} could not be reached ({type(exc).__name__})"
        ) from None
    if response.status_code in pending:
        return None
    if response.status_code >= 400:
        raise LoginError(f"device login: {url} answered HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise LoginError(f"the server answered HTTP {response.status_code} without JSON") from None
    if not isinstance(payload, dict):
        raise LoginError("the server's answer is not a JSON object")
    return payload


#: The ``auth.codex`` entry point (``ccproxy.commands``).
oauth_provider = CodexOAuthProvider()
