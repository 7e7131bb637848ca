"""GitHub Copilot's OAuth facts for core's toolkit: the ``auth.copilot`` entry point.

Core builds ``ccproxy auth login|status|refresh|logout copilot`` from :data:`oauth_provider`, and
the ``oauth_copilot`` plugin gets its ``oauth.copilot`` token sources from it (WIRE.md "GitHub
Copilot"):

**Accounts.** ``default`` is ccproxy's own token file when it exists, else an editor's existing
login (``apps.json``/``hosts.json`` in ``$XDG_CONFIG_HOME/github-copilot/``, read as is and never
written), else ccproxy's own file (where a login goes). ``--account NAME`` files live in
``$XDG_CONFIG_HOME/ccproxy/accounts/copilot/``.

**Login** is GitHub's device flow (RFC 8628): ``POST {github_url}/login/device/code``, then
``POST {github_url}/login/oauth/access_token`` polled (``authorization_pending``; ``slow_down``
adds 5 s; ``expired_token`` and ``access_denied`` end it) until it answers the GitHub token,
stored 0600. The user's login name is read from ``/copilot_internal/user``.

**Tokens.** The API takes a short-lived Copilot token minted from the GitHub token
(:class:`~ccproxy_plugin_copilot.github_api.CopilotTokenMint`): core's
:class:`~ccproxy.auth.ExchangedTokenSource` keeps it in memory and mints again after
``refresh_in``, before ``expires_at`` and once on a 401.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ccproxy.auth import (
    PENDING,
    SLOW_DOWN,
    AuthorizationCode,
    Credentials,
    DeviceAuthorization,
    LoginError,
    LoginMethod,
    OAuthProvider,
    OAuthTokenClient,
    Pending,
    TokenReply,
)
from ccproxy_plugin_copilot.auth_config import CopilotOAuthConfig
from ccproxy_plugin_copilot.credentials import (
    AUTH_PLUGIN_NAME,
    PROVIDER,
    GitHubTokenFormat,
)
from ccproxy_plugin_copilot.github_api import (
    CopilotTokenMint,
    UsageError,
    fetch_usage,
    usage_lines,
)

__all__ = ["CopilotOAuthProvider", "oauth_provider"]

_DEVICE_CODE_PATH = "/login/device/code"
_TOKEN_PATH = "/login/oauth/access_token"  # nosec B105 # a URL path
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_ACCEPT_JSON = {"accept": "application/json"}
_EDITORS = {"apps.json": "copilot.vim", "hosts.json": "copilot.lua"}


class CopilotOAuthProvider(OAuthProvider[CopilotOAuthConfig]):
    """GitHub Copilot subscriptions through the editor app's GitHub OAuth client."""

    name = PROVIDER
    display_name = "GitHub Copilot"
    plugin = AUTH_PLUGIN_NAME
    config_class = CopilotOAuthConfig
    credentials_key = GitHubTokenFormat.key
    file_owner = "ccproxy"
    login_methods = (LoginMethod.DEVICE,)

    # the files --------------------------------------------------------------------------------

    def credentials_path(self, config: CopilotOAuthConfig) -> Path:
        """ccproxy's own file when it exists, else the first editor login, else ccproxy's."""
        own = config.own_credentials_path
        if own.exists() or not config.editor_login:
            return own
        editor = self.editor_login(config)
        return own if editor is None else editor

    def editor_login(self, config: CopilotOAuthConfig) -> Path | None:
        """The first editor token file holding a github.com token (``None``: none)."""
        for path in config.editor_paths:
            try:
                data = _read_json(path)
            except (OSError, ValueError):
                continue
            if data is not None and self.credential_format().entry(data) is not None:
                return path
        return None

    def read_only(self, config: CopilotOAuthConfig, path: Path) -> bool:
        """An editor's token file is only read."""
        return path in config.editor_paths

    def shared_with(self, config: CopilotOAuthConfig, path: Path) -> str | None:
        """The editor whose login ``path`` is; ccproxy's own files are its alone."""
        if path not in config.editor_paths:
            return None
        return f"the Copilot editor plugin ({_EDITORS.get(path.name, 'an editor')})"

    def credential_format(self) -> GitHubTokenFormat:
        """How every token file is read: the editor app's entry first (``client_id`` is the
        device flow's; core asks for the format without the configuration)."""
        return GitHubTokenFormat()

    def token_client(self, config: CopilotOAuthConfig, http: httpx.AsyncClient) -> OAuthTokenClient:
        """GitHub's token endpoint: asked for a refresh only when GitHub handed out an expiring
        user token with a refresh token (the editor app's tokens usually do not expire)."""
        return OAuthTokenClient(
            http, token_url=config.web(_TOKEN_PATH), client_id=config.client_id, body="form"
        )

    # the minted token -------------------------------------------------------------------------

    def token_exchange(
        self, config: CopilotOAuthConfig, http: httpx.AsyncClient
    ) -> CopilotTokenMint:
        return CopilotTokenMint(config, http)

    def exchange_margin(self, config: CopilotOAuthConfig) -> float:
        return config.refresh_margin_seconds

    # login --------------------------------------------------------------------------------------

    def login_timeout(self, config: CopilotOAuthConfig, method: LoginMethod) -> float:
        return config.device_timeout_seconds

    def account_from_reply(self, reply: TokenReply) -> str | None:
        user = reply.extra.get("user")
        return user if isinstance(user, str) and user else None

    async def start_device_login(
        self, config: CopilotOAuthConfig, http: httpx.AsyncClient
    ) -> DeviceAuthorization:
        url = config.web(_DEVICE_CODE_PATH)
        payload = await _post_form(
            http, url, {"client_id": config.client_id, "scope": config.scope}
        )
        if payload.get("error") is not None:
            raise LoginError(f"GitHub refused the device login ({_error_code(payload['error'])})")
        device_code, user_code = payload.get("device_code"), payload.get("user_code")
        page = payload.get("verification_uri")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, page)):
            raise LoginError("device login: the reply lacks device_code/user_code/verification_uri")
        interval = _seconds(payload.get("interval"), 5.0)
        if config.device_poll_interval_seconds is not None:
            interval = config.device_poll_interval_seconds
        lifetime = _seconds(payload.get("expires_in"), 900.0)
        expires_at = time.monotonic() + (lifetime if lifetime > 0 else 900.0)
        return DeviceAuthorization(
            str(page), str(user_code), interval, handle=(device_code, expires_at)
        )

    async def poll_device_login(
        self, config: CopilotOAuthConfig, http: httpx.AsyncClient, device: DeviceAuthorization
    ) -> AuthorizationCode | TokenReply | Pending:
        device_code, expires_at = device.handle
        if time.monotonic() >= expires_at:
            raise LoginError("the device code expired before it was approved; log in again")
        body = {
            "client_id": config.client_id,
            "device_code": device_code,
            "grant_type": _DEVICE_GRANT,
        }
        payload = await _post_form(http, config.web(_TOKEN_PATH), body)
        error = payload.get("error")
        if error == "authorization_pending":
            return PENDING
        if error == "slow_down":
            return SLOW_DOWN
        if error == "expired_token":
            raise LoginError("the device code expired before it was approved; log in again")
        if error == "access_denied":
            raise LoginError("the login was denied on GitHub")
        if error is not None:
            raise LoginError(f"GitHub refused the device login ({_error_code(error)})")
        reply = TokenReply.from_json(payload)
        user = await _login_name(config, http, reply.access_token)
        # Only the login name is added: an expiring user token's refresh_token and expires_in
        # are kept (a refresh token is never dropped).
        return dataclasses.replace(reply, extra={**reply.extra, **({"user": user} if user else {})})

    # status -------------------------------------------------------------------------------------

    async def account_lines(
        self, config: CopilotOAuthConfig, http: httpx.AsyncClient, credentials: Credentials
    ) -> list[str]:
        """The GitHub user, the Copilot plan and the premium-request quota, asked of GitHub."""
        try:
            usage = await fetch_usage(config, http, credentials.access_token)
        except UsageError as exc:
            return [f"  Copilot plan and quota: unknown ({exc})"]
        return usage_lines(usage)

    def window_lines(self, server_status: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """The quota the running server read last, per account."""
        usage = server_status.get("usage")
        accounts = usage.get("accounts") if isinstance(usage, Mapping) else None
        if not isinstance(accounts, Mapping):
            return [], None
        lines: list[str] = []
        seen: list[str] = []
        for name, entry in sorted(accounts.items()):
            if not isinstance(entry, Mapping):
                continue
            if isinstance(entry.get("seen_at"), str):
                seen.append(entry["seen_at"])
            if entry.get("error"):
                lines.append(f"  {name}: unknown ({entry['error']})")
                continue
            lines.append(f"  {name}:")
            lines += usage_lines(entry, indent="    ")
        return lines, min(seen) if seen else None


async def _login_name(
    config: CopilotOAuthConfig, http: httpx.AsyncClient, github_token: str
) -> str | None:
    """The GitHub login of a fresh token (``None`` when GitHub does not say)."""
    try:
        usage = await fetch_usage(config, http, github_token)
    except UsageError:
        return None
    user = usage.get("user")
    return user if isinstance(user, str) else None


async def _post_form(http: httpx.AsyncClient, url: str, body: dict[str, str]) -> dict[str, Any]:
    """POST ``body`` form-encoded; the answer's JSON object (``LoginError`` otherwise)."""
    try:
        response = await http.post(url, data=body, headers=_ACCEPT_JSON)
    except httpx.HTTPError as exc:
        raise LoginError(
            f"device login: {url} could not be reached ({type(exc).__name__})"
        ) from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise LoginError(f"device login: {url} answered HTTP {response.status_code} without JSON")
    if response.status_code >= 400 and "error" not in payload:
        raise LoginError(f"device login: {url} answered HTTP {response.status_code}")
    return payload


def _error_code(value: object) -> str:
    return value if isinstance(value, str) and value.isidentifier() else "unknown"


def _seconds(value: object, default: float) -> float:
    try:
        return float(value) if value is not None else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


#: The ``auth.copilot`` entry point (``ccproxy.commands``).
oauth_provider = CopilotOAuthProvider()
