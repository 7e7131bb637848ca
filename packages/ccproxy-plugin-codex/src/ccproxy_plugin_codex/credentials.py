"""The Codex CLI's credential file behind a ``TokenManager`` (shared by the plugin and the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccproxy.auth import CodexCredentialFormat, CodexRefreshClient, CredentialFile, TokenManager

if TYPE_CHECKING:
    import httpx
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins import HookManager
    from ccproxy_plugin_codex.config import CodexOAuthConfig

__all__ = [
    "AUTH_PLUGIN_NAME",
    "LOGIN_HINT",
    "PROVIDER",
    "SERVICE_NAME",
    "STATUS_PATH",
    "build_refresh_client",
    "build_token_manager",
]

#: The provider name: the ``oauth.codex`` service, ``ccproxy auth login codex``.
PROVIDER = "codex"
#: The auth provider plugin's name (its configuration lives under ``plugins.oauth_codex``).
AUTH_PLUGIN_NAME = f"oauth_{PROVIDER}"
#: The TokenSource service the auth plugin registers and the provider uses.
SERVICE_NAME = f"oauth.{PROVIDER}"
#: Where the running server reports the account and the last usage windows.
STATUS_PATH = f"/oauth/{PROVIDER}/status"
#: What a person without usable credentials is told.
LOGIN_HINT = "No usable ChatGPT (Codex) credentials: run `ccproxy auth login codex`."


def build_refresh_client(config: CodexOAuthConfig, http: httpx.AsyncClient) -> CodexRefreshClient:
    """The form-encoded client of ``config.token_url`` (code exchange and refresh)."""
    return CodexRefreshClient(
        http, token_url=config.token_url, client_id=config.client_id, scopes=config.scope_list
    )


def build_token_manager(
    config: CodexOAuthConfig,
    http: httpx.AsyncClient,
    *,
    hooks: HookManager | None = None,
    logger: BoundLogger | None = None,
) -> TokenManager:
    """A ``TokenManager`` over ``config.credentials_file`` in the Codex CLI's format.

    Expiry comes from the access token's JWT ``exp``, the account id and plan from the id token's
    ``https://api.openai.com/auth`` claim (``CodexCredentialFormat``).
    """
    return TokenManager(
        CredentialFile(config.credentials_path),
        CodexCredentialFormat(),
        build_refresh_client(config, http),
        provider=PROVIDER,
        refresh_margin_seconds=config.refresh_margin_seconds,
        hooks=hooks,
        logger=logger,
    )
