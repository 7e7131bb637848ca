"""The Claude credential: Claude Code's file (or a long-lived token) behind a ``TokenManager``.

The file is Claude Code's own ``~/.claude/.credentials.json``; ccproxy edits only the
``claudeAiOauth`` entry in place, so every other key survives. The one key ccproxy adds inside
that entry is ``ccproxyAccount`` (the account a ``ccproxy auth login`` was for, never a secret),
because the file itself names no account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from ccproxy.auth import (
    ClaudeCodeCredentialFormat,
    ClaudeRefreshClient,
    CredentialFile,
    Credentials,
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
]

#: The key ccproxy adds inside ``claudeAiOauth``: who logged in (an e-mail address or uuid).
ACCOUNT_KEY: Final = "ccproxyAccount"
#: What a client is told when there is no usable credential (``ProviderEndpoint.login_hint``).
LOGIN_HINT: Final = (
    "No usable Claude credentials: run `ccproxy auth login claude` "
    f"(or set {OAUTH_TOKEN_ENV} to a token from `claude setup-token`)."
)


class ClaudeCredentialFormat(ClaudeCodeCredentialFormat):
    """Claude Code's format plus the account ccproxy's login learnt (``ccproxyAccount``)."""

    def load(self, data: dict[str, Any]) -> Credentials | None:
        creds = super().load(data)
        oauth = data.get(self.key)
        if creds is None or not isinstance(oauth, dict):
            return creds
        account = oauth.get(ACCOUNT_KEY)
        return replace(creds, account_id=account) if isinstance(account, str) and account else creds

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        data = super().dump(creds, data)
        if creds.account_id:
            data[self.key][ACCOUNT_KEY] = creds.account_id
        else:
            data[self.key].pop(ACCOUNT_KEY, None)  # a new login for an unnamed account
        return data


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
    scopes: list[str] | None = None,
) -> TokenManager:
    """The ``oauth.claude`` TokenSource for ``config``, refreshing through ``http``.

    Refreshes send no ``scope`` (the grant keeps its scopes); ``scopes`` is only for callers
    that need the refresh client to ask for specific ones.
    """
    token, source = static_token(config, environ)
    refresh_client = ClaudeRefreshClient(
        http, token_url=config.token_url, client_id=config.client_id, scopes=scopes
    )
    return TokenManager(
        CredentialFile(config.credentials_file),
        ClaudeCredentialFormat(),
        refresh_client,
        provider=PROVIDER,
        refresh_margin_seconds=config.refresh_margin_seconds,
        hooks=hooks,
        static_token=token,
        static_source=source or "static",
        logger=logger,
    )
