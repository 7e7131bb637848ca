"""Configuration of both plugins: ``plugins.oauth_codex.*`` and ``plugins.codex.*``.

Defaults are the upstream facts of WIRE.md ("Codex OAuth", "ChatGPT Codex backend"); each can be
set in the TOML file, the environment (``PLUGINS__OAUTH_CODEX__TOKEN_URL``) or on the command line
(``--set plugins.codex.base_url=...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ccproxy.plugins import HttpUrlStr
from ccproxy.plugins.provider import ProfileOverrides

__all__ = [
    "DEFAULT_CLAUDE_MODEL",
    "DEFAULT_CLAUDE_SMALL_MODEL",
    "CodexConfig",
    "CodexOAuthConfig",
]

#: The Codex model Claude Code's main requests go to (Codex CLI 0.169's "latest workhorse").
DEFAULT_CLAUDE_MODEL = "gpt-6.1-sol"
#: The Codex model Claude Code's background ``*haiku*`` requests go to ("fast and affordable").
DEFAULT_CLAUDE_SMALL_MODEL = "gpt-6-luna"


class CodexOAuthConfig(BaseModel):
    """``plugins.oauth_codex.*``: the ChatGPT OAuth endpoints and the credential file."""

    model_config = ConfigDict(extra="forbid")

    authorize_url: HttpUrlStr = Field(
        "https://auth.openai.com/oauth/authorize", description="Authorization endpoint (PKCE)."
    )
    token_url: HttpUrlStr = Field(
        "https://auth.openai.com/oauth/token",
        description="Token endpoint (form-encoded code exchange and refresh).",
    )
    revoke_url: HttpUrlStr = Field(
        "https://auth.openai.com/oauth/revoke",
        description="Token revocation endpoint, called best-effort by logout.",
    )
    device_base_url: HttpUrlStr = Field(
        "https://auth.openai.com/api/accounts",
        description="Base of the device-code endpoints (not verifiable against the live service).",
    )
    device_usercode_path: str = Field(
        "/deviceauth/usercode", description="Device flow: where a user code is requested."
    )
    device_token_path: str = Field(
        "/deviceauth/token", description="Device flow: where the approval is polled."
    )
    device_verification_url: HttpUrlStr = Field(
        "https://auth.openai.com/codex/device",
        description="Page where the user enters the device code.",
    )
    device_redirect_uri: HttpUrlStr = Field(
        "https://auth.openai.com/deviceauth/callback",
        description="redirect_uri of the code exchange that ends a device login.",
    )
    device_poll_interval_seconds: float | None = Field(
        None,
        ge=0,
        description="Seconds between device polls; unset uses the interval the server sends.",
    )
    device_timeout_seconds: float = Field(
        900.0, gt=0, description="How long a device login waits for the approval."
    )
    client_id: str = Field("app_EMoamEEZ73f0CkXaXp7hrann", description="OAuth client id.")
    scopes: str = Field(
        "openid profile email offline_access api.connectors.read api.connectors.invoke",
        description="Space-separated scopes asked for at login and refresh.",
    )
    callback_port: int = Field(
        1455, ge=0, le=65535, description="Port of the local PKCE callback (registered: 1455)."
    )
    callback_fallback_port: int = Field(
        1457,
        ge=0,
        le=65535,
        description="Port tried when callback_port is busy (must be registered with the client).",
    )
    login_timeout_seconds: float = Field(
        600.0, gt=0, description="How long a browser login waits for the callback."
    )
    originator: str = Field(
        "codex_cli_rs", description="The 'originator' sent with the authorize request."
    )
    credentials_file: Path = Field(
        Path("~/.codex/auth.json"),
        description="The Codex CLI's credential file, read and rewritten in place.",
    )
    refresh_margin_seconds: float = Field(
        300.0, ge=0, description="Refresh this many seconds before the access token expires."
    )


class CodexConfig(BaseModel):
    """``plugins.codex.*``: the Codex backend and how requests are mapped onto it."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrlStr = Field(
        "https://chatgpt.com/backend-api/codex",
        description="The ChatGPT Codex backend; requests go to {base_url}/responses.",
    )
    instructions_file: Path | None = Field(
        None,
        description="Text file prefixed to the 'instructions' of converted (non-Responses) requests.",
    )
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Client model name (exact, or a prefix ending in '*') → Codex model.",
    )
    claude_model: str = Field(
        DEFAULT_CLAUDE_MODEL, description="Codex model for claude-* names no alias matched."
    )
    claude_small_model: str = Field(
        DEFAULT_CLAUDE_SMALL_MODEL,
        description="Codex model for claude-* names containing 'haiku' (background calls).",
    )
    default_model: str | None = Field(
        None, description="Codex model for any other non-GPT name; unset answers 400."
    )
    account_strategy: Literal["round_robin", "fill_first"] = Field(
        "round_robin",
        description="With several accounts ('ccproxy auth login codex --account NAME'): spread "
        "new conversations over the ready accounts (round_robin) or use the first ready one, "
        "default first, until it cools down (fill_first).",
    )
    allow_overage: bool = Field(
        False,
        description="Keep using an account whose answers say they were served from paid extra "
        "usage (overage); false rests it until its window resets.",
    )
    profile: ProfileOverrides = Field(
        default_factory=ProfileOverrides, description="Overrides of the shipped profile.toml."
    )
    response_store_max_entries: int = Field(
        1024, ge=1, description="Responses remembered for previous_response_id."
    )
    response_store_ttl_seconds: float = Field(
        3600.0, gt=0, description="How long a response stays available to previous_response_id."
    )
