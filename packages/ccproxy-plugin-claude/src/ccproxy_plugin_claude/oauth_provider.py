"""Claude's OAuth facts for core's toolkit: the ``auth.claude`` entry point.

Core builds ``ccproxy auth login|status|refresh|logout claude`` from :data:`oauth_provider`, and
the ``oauth_claude`` plugin gets its ``oauth.claude`` token source from it. The facts are Claude
Code's (WIRE.md "Claude OAuth"): a pasted ``CODE#STATE`` login by default, ``--callback`` for a
localhost redirect, ``--console`` for Console accounts, JSON token requests, and a long-lived
``CLAUDE_CODE_OAUTH_TOKEN`` that wins over the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccproxy.auth import (
    AuthorizeRequest,
    CallbackSpec,
    LoginMethod,
    LoginOption,
    OAuthProvider,
    OAuthTokenClient,
    TokenReply,
    build_authorize_url,
)
from ccproxy_plugin_claude.config import CONSOLE_SCOPE, OAUTH_TOKEN_ENV, PROVIDER, ClaudeOAuthConfig
from ccproxy_plugin_claude.credentials import ClaudeCredentialFormat
from ccproxy_plugin_claude.rate_limits import rate_limit_lines

if TYPE_CHECKING:
    import httpx

__all__ = ["ClaudeOAuthProvider", "oauth_provider"]


class ClaudeOAuthProvider(OAuthProvider[ClaudeOAuthConfig]):
    """Claude subscriptions (and Console accounts) through Claude Code's OAuth client."""

    name = PROVIDER
    display_name = "Claude"
    plugin = "oauth_claude"
    config_class = ClaudeOAuthConfig
    credentials_key = ClaudeCredentialFormat.key
    file_owner = "Claude Code"
    login_methods = (LoginMethod.PASTE, LoginMethod.CALLBACK)
    login_options = (
        LoginOption("console", "Log in with a Claude Console account instead of a subscription."),
    )
    static_token_hint = "make a new one with `claude setup-token`"  # nosec B105 # advice, not a token

    def credentials_path(self, config: ClaudeOAuthConfig) -> Path:
        return config.credentials_file

    def credential_format(self) -> ClaudeCredentialFormat:
        return ClaudeCredentialFormat()

    def token_client(self, config: ClaudeOAuthConfig, http: httpx.AsyncClient) -> OAuthTokenClient:
        """JSON bodies, ``state`` repeated in the code exchange, no ``scope`` on refresh (the
        grant keeps its scopes)."""
        return OAuthTokenClient(
            http,
            token_url=config.token_url,
            client_id=config.client_id,
            body="json",
            send_state=True,
        )

    def authorize_url(self, config: ClaudeOAuthConfig, request: AuthorizeRequest) -> str:
        console = "console" in request.options
        scopes = list(config.scopes)
        if console and CONSOLE_SCOPE not in scopes:
            scopes.append(CONSOLE_SCOPE)
        return build_authorize_url(
            config.console_authorize_url if console else config.authorize_url,
            {
                "code": "true",
                "client_id": config.client_id,
                "response_type": "code",
                "redirect_uri": request.redirect_uri,
                "scope": " ".join(scopes),
                "state": request.state,
                "code_challenge": request.pkce.challenge,
                "code_challenge_method": request.pkce.method,
            },
        )

    def refresh_margin(self, config: ClaudeOAuthConfig) -> float:
        return config.refresh_margin_seconds

    def static_token(self, config: ClaudeOAuthConfig) -> tuple[str | None, str]:
        """``plugins.oauth_claude.oauth_token``, else ``$CLAUDE_CODE_OAUTH_TOKEN``."""
        token = config.oauth_token.get_secret_value().strip() if config.oauth_token else ""
        if token:
            return token, "config:plugins.oauth_claude.oauth_token"
        value = os.environ.get(OAUTH_TOKEN_ENV, "").strip()
        return (value, f"env:{OAUTH_TOKEN_ENV}") if value else (None, "")

    def redirect_uri(self, config: ClaudeOAuthConfig) -> str:
        return config.redirect_uri

    def callback(self, config: ClaudeOAuthConfig) -> CallbackSpec:
        # A redirect of another login ends this one: Claude's page never retries.
        return CallbackSpec(path="/callback", foreign_state="deliver")

    def account_from_reply(self, reply: TokenReply) -> str | None:
        """The reply's ``account``: its e-mail address, else its uuid (the file names none)."""
        account = reply.extra.get("account")
        if not isinstance(account, dict):
            return None
        for key in ("email_address", "email", "uuid"):
            value = account.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def window_lines(self, server_status: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """The ``anthropic-ratelimit-unified-*`` windows the server saw last."""
        seen_at = server_status.get("rate_limits_seen_at")
        lines = rate_limit_lines(server_status.get("rate_limits") or {})
        return lines, seen_at if isinstance(seen_at, str) else None


#: The ``auth.claude`` entry point (``ccproxy.commands``).
oauth_provider = ClaudeOAuthProvider()
