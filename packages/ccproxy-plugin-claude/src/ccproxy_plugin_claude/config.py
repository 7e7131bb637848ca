"""Settings of the two plugins: ``plugins.oauth_claude.*`` and ``plugins.claude.*``.

Every default is a fact from WIRE.md ("Anthropic Messages API", "Claude OAuth"); each one is
configuration so that a moved endpoint needs no release.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ccproxy.plugins import HttpUrlStr
from ccproxy.plugins.provider import ProviderProfile

__all__ = [
    "AUTHORIZE_URL",
    "CLAUDE_CODE_DEFAULT_MODEL",
    "CLIENT_ID",
    "CONSOLE_AUTHORIZE_URL",
    "CONSOLE_SCOPE",
    "CREDENTIALS_FILE",
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_ALIASES",
    "GPT_STYLE_PREFIXES",
    "OAUTH_TOKEN_ENV",
    "PROVIDER",
    "REDIRECT_URI",
    "SCOPES",
    "TOKEN_URL",
    "ClaudeConfig",
    "ClaudeOAuthConfig",
    "load_profile",
]

#: The provider's name: its routes live under ``/claude`` and its credential is ``oauth.claude``.
PROVIDER: Final = "claude"

AUTHORIZE_URL: Final = "https://claude.com/cai/oauth/authorize"
CONSOLE_AUTHORIZE_URL: Final = "https://platform.claude.com/oauth/authorize"
TOKEN_URL: Final = "https://platform.claude.com/v1/oauth/token"
REDIRECT_URI: Final = "https://platform.claude.com/oauth/code/callback"
CLIENT_ID: Final = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
SCOPES: Final = (
    "user:profile",
    "user:inference",
    "user:sessions:claude_code",
    "user:mcp_servers",
    "user:file_upload",
)
#: The extra scope a Console (``--console``) login asks for.
CONSOLE_SCOPE: Final = "org:create_api_key"
CREDENTIALS_FILE: Final = "~/.claude/.credentials.json"
#: Claude Code's own variable for a long-lived token from ``claude setup-token``.
OAUTH_TOKEN_ENV: Final = "CLAUDE_CODE_OAUTH_TOKEN"

#: Where GPT-style names go unless configured otherwise.
DEFAULT_MODEL: Final = "claude-sonnet-4-6"
#: What Claude Code asks for when the user picks nothing.
CLAUDE_CODE_DEFAULT_MODEL: Final = "claude-opus-4-8"
#: OpenAI model-name prefixes sent to ``default_model`` unless an alias says otherwise.
GPT_STYLE_PREFIXES: Final = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*", "codex-*")
#: Short names Claude Code and people use.
DEFAULT_MODEL_ALIASES: Final[Mapping[str, str]] = {
    "opus": CLAUDE_CODE_DEFAULT_MODEL,
    "sonnet": DEFAULT_MODEL,
    "haiku": "claude-haiku-4-5",
}


def load_profile(overrides: Mapping[str, Any] | None = None) -> ProviderProfile:
    """The shipped ``profile.toml`` with ``overrides`` (``plugins.claude.profile.*``) applied."""
    return ProviderProfile.load("ccproxy_plugin_claude", overrides)


class ClaudeOAuthConfig(BaseModel):
    """``plugins.oauth_claude.*``: how to log in to Claude and where the credential lives."""

    model_config = ConfigDict(extra="forbid")

    authorize_url: HttpUrlStr = Field(
        AUTHORIZE_URL, description="Authorize page for Claude subscriptions (Pro/Max)."
    )
    console_authorize_url: HttpUrlStr = Field(
        CONSOLE_AUTHORIZE_URL,
        description="Authorize page for Console accounts ('ccproxy auth login claude --console').",
    )
    token_url: HttpUrlStr = Field(TOKEN_URL, description="OAuth token endpoint (JSON bodies).")
    redirect_uri: HttpUrlStr = Field(
        REDIRECT_URI,
        description="Redirect of the paste-the-code login; --callback uses http://localhost:<port>/callback.",
    )
    client_id: str = Field(CLIENT_ID, description="Claude Code's public OAuth client id.")
    scopes: list[str] = Field(
        default_factory=lambda: list(SCOPES),
        description=f"Scopes of a subscription login (space-separated text or a list); --console adds {CONSOLE_SCOPE}.",
    )
    credentials_file: Path = Field(
        Path(CREDENTIALS_FILE),
        description="Claude Code's credential file, read and rewritten in place ('~' expanded).",
    )
    oauth_token: SecretStr | None = Field(
        None,
        description=f"A long-lived token (claude setup-token), used as is and never refreshed; "
        f"when unset, ${OAUTH_TOKEN_ENV} is used if set.",
    )
    refresh_margin_seconds: float = Field(
        300.0, ge=0, description="Refresh the access token this long before it expires."
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("credentials_file", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()


class ClaudeConfig(BaseModel):
    """``plugins.claude.*``: the upstream, model names and the request profile."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrlStr = Field(
        "https://api.anthropic.com", description="The Messages API upstream."
    )
    default_model: str | None = Field(
        DEFAULT_MODEL,
        description="The Claude model for names of other families (gpt-*, o3, ...) that no alias "
        "matches; unset: such names get a 400.",
    )
    model_aliases: dict[str, str] = Field(
        default_factory=lambda: {
            **dict.fromkeys(GPT_STYLE_PREFIXES, DEFAULT_MODEL),
            **DEFAULT_MODEL_ALIASES,
        },
        description="Client model name (exact, or a prefix ending in '*') -> Claude model. Merged "
        "over the defaults; an empty value removes a default. GPT-style prefixes follow "
        "default_model unless set here.",
    )
    account_strategy: Literal["round_robin", "fill_first"] = Field(
        "round_robin",
        description="With several accounts ('ccproxy auth login claude --account NAME'): spread "
        "new conversations over the ready accounts (round_robin) or use the first ready one, "
        "default first, until it cools down (fill_first).",
    )
    allow_overage: bool = Field(
        False,
        description="Keep using an account whose answers say they were served from paid extra "
        "usage (overage); false rests it until its window resets.",
    )
    profile: ProviderProfile = Field(
        default_factory=load_profile,
        description="What every upstream request gets (profile.toml); tables here override it key by key.",
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        default_model = data.get("default_model", DEFAULT_MODEL)
        given = data.get("model_aliases")
        if given is None or isinstance(given, Mapping):
            aliases: dict[str, Any] = dict(DEFAULT_MODEL_ALIASES)
            if default_model:
                aliases = {**dict.fromkeys(GPT_STYLE_PREFIXES, default_model), **aliases}
            aliases.update(given or {})
            data["model_aliases"] = {k: v for k, v in aliases.items() if v != ""}
        profile = data.get("profile")
        if profile is None or isinstance(profile, Mapping):
            # Validated as the field (errors then name plugins.claude.profile.<key>).
            data["profile"] = _merged(load_profile().model_dump(), profile or {})
        return data


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top: tables merge key by key, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = _merged(current, value)
        else:
            merged[key] = value
    return merged
