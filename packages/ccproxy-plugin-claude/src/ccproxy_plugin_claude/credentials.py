"""The Claude credential: Claude Code's file (or a long-lived token) behind a ``TokenManager``.

The file is Claude Code's own ``~/.claude/.credentials.json``; ccproxy edits only the
``claudeAiOauth`` entry in place, so every other key survives. The one key ccproxy adds inside
that entry is ``ccproxyAccount`` (the account a ``ccproxy auth login`` was for, never a secret),
because the file itself names no account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ccproxy.auth import (
    CredentialFile,
    Credentials,
    OAuthTokenClient,
    TokenManager,
    TokenReply,
)
from ccproxy_plugin_claude.config import OAUTH_TOKEN_ENV, PROVIDER, ClaudeOAuthConfig

if TYPE_CHECKING:
    import httpx
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins import HookManager

__all__ = [
    "ACCOUNT_KEY",
    "LOGIN_HINT",
    "ClaudeCredentialFormat",
    "account_from_reply",
    "build_token_manager",
    "static_token",
    "token_client",
]

#: The key ccproxy adds inside ``claudeAiOauth``: who logged in (an e-mail address or uuid).
ACCOUNT_KEY: Final = "ccproxyAccount"
#: What a client is told when there is no usable credential (``ProviderEndpoint.login_hint``).
LOGIN_HINT: Final = (
    "No usable Claude credentials: run `ccproxy auth login claude` "
    f"(or set {OAUTH_TOKEN_ENV} to a token from `claude setup-token`)."
)


class ClaudeCredentialFormat:
    """Claude Code's ``~/.claude/.credentials.json``::

        {"claudeAiOauth": {"accessToken": "...", "refreshToken": "...",
                           "expiresAt": <epoch ms>, "scopes": [...], "subscriptionType": "max"}}

    ``plan`` is ``subscriptionType``; the account is ``ccproxyAccount`` (what ccproxy's login
    learnt: the file itself names none). Only these keys are written; all others are kept.
    """

    key: Final = "claudeAiOauth"

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """Credentials from ``claudeAiOauth``; ``None`` when there is no access token."""
        oauth = data.get(self.key)
        if not isinstance(oauth, dict):
            return None
        access = _text(oauth.get("accessToken"))
        if access is None:
            return None
        scopes = oauth.get("scopes")
        return Credentials(
            access_token=access,
            refresh_token=_text(oauth.get("refreshToken")),
            expires_at=_from_epoch_ms(oauth.get("expiresAt")),
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
            account_id=_text(oauth.get(ACCOUNT_KEY)),
            plan=_text(oauth.get("subscriptionType")),
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """Write into ``claudeAiOauth``, keeping its other keys (and the file's)."""
        oauth = data.get(self.key)
        if not isinstance(oauth, dict):
            oauth = data[self.key] = {}
        oauth["accessToken"] = creds.access_token
        if creds.refresh_token is not None:
            oauth["refreshToken"] = creds.refresh_token
        oauth["expiresAt"] = (
            int(creds.expires_at.timestamp() * 1000) if creds.expires_at is not None else None
        )
        oauth["scopes"] = list(creds.scopes)
        if creds.plan is not None:
            oauth["subscriptionType"] = creds.plan
        if creds.account_id:
            oauth[ACCOUNT_KEY] = creds.account_id
        else:
            oauth.pop(ACCOUNT_KEY, None)  # a new login for an unnamed account
        return data


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _from_epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def token_client(config: ClaudeOAuthConfig, http: httpx.AsyncClient) -> OAuthTokenClient:
    """Claude's token endpoint: JSON bodies, ``state`` repeated in the code exchange, and no
    ``scope`` on refresh (the grant keeps its scopes)."""
    return OAuthTokenClient(
        http, token_url=config.token_url, client_id=config.client_id, body="json", send_state=True
    )


def static_token(
    config: ClaudeOAuthConfig, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str]:
    """The long-lived token and where it came from: ``plugins.oauth_claude.oauth_token``, else
    ``$CLAUDE_CODE_OAUTH_TOKEN``; ``(None, "")`` when neither is set."""
    if config.oauth_token is not None and config.oauth_token.get_secret_value().strip():
        return (
            config.oauth_token.get_secret_value().strip(),
            "config:plugins.oauth_claude.oauth_token",
        )
    environ = os.environ if environ is None else environ
    value = environ.get(OAUTH_TOKEN_ENV, "").strip()
    return (value, f"env:{OAUTH_TOKEN_ENV}") if value else (None, "")


def account_from_reply(reply: TokenReply) -> str | None:
    """The account a token reply names: its e-mail address, else its uuid."""
    account = reply.extra.get("account")
    if not isinstance(account, dict):
        return None
    for key in ("email_address", "email", "uuid"):
        value = account.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def build_token_manager(
    config: ClaudeOAuthConfig,
    http: httpx.AsyncClient,
    *,
    hooks: HookManager | None = None,
    logger: BoundLogger | None = None,
    environ: Mapping[str, str] | None = None,
) -> TokenManager:
    """The ``oauth.claude`` TokenSource for ``config``, refreshing through ``http``."""
    token, source = static_token(config, environ)
    return TokenManager(
        CredentialFile(config.credentials_file),
        ClaudeCredentialFormat(),
        token_client(config, http),
        provider=PROVIDER,
        refresh_margin_seconds=config.refresh_margin_seconds,
        hooks=hooks,
        static_token=token,
        static_source=source or "static",
        logger=logger,
    )
