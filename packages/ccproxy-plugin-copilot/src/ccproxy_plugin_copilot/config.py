"""``plugins.copilot.*``: the Copilot API and how requests are mapped onto it.

Defaults are the upstream facts of WIRE.md ("GitHub Copilot"); every value can be set in the TOML
file, the environment (``PLUGINS__COPILOT__EDITOR_VERSION``) or on the command line
(``--set plugins.copilot.api_version=2025-05-01``). The version strings drift upstream (an old one
gets a 400 "the specified API version is no longer supported"), which is why they are settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ccproxy.plugins import HeaderValue, HttpUrlStr
from ccproxy.plugins.provider import ProfileOverrides

__all__ = ["DEFAULT_API_BASE", "CopilotConfig"]

#: The Copilot API of individual plans, used when neither the setting nor the credential names one.
DEFAULT_API_BASE = "https://api.githubcopilot.com"


class CopilotConfig(BaseModel):
    """``plugins.copilot.*``."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrlStr | None = Field(
        None,
        description="The Copilot API base. Unset: the one the credential was minted for "
        f"(its endpoints.api; business and enterprise plans have their own), else {DEFAULT_API_BASE}.",
    )
    editor_version: HeaderValue = Field(
        "vscode/1.104.3", description="The 'editor-version' header."
    )
    editor_plugin_version: HeaderValue = Field(
        "copilot-chat/0.32.4", description="The 'editor-plugin-version' header."
    )
    user_agent: HeaderValue = Field(
        "GitHubCopilotChat/0.32.4", description="The 'user-agent' header."
    )
    api_version: HeaderValue = Field("2025-04-01", description="The 'x-github-api-version' header.")
    integration_id: HeaderValue = Field(
        "vscode-chat", description="The 'copilot-integration-id' header."
    )
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Client model name (exact, or a prefix ending in '*') → Copilot model id.",
    )
    default_model: str | None = Field(
        None,
        description="Copilot model for names the catalogue does not know; unset answers 400 "
        "naming the available models.",
    )
    models_ttl_seconds: float = Field(
        3600.0, gt=0, description="How long the fetched model catalogue (GET /models) is used."
    )
    models_miss_refresh_seconds: float = Field(
        60.0,
        ge=0,
        description="An unknown model name refetches the catalogue at most this often.",
    )
    models_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long one catalogue fetch (the token mint and GET /models) may take.",
    )
    account_strategy: Literal["fill_first", "round_robin"] = Field(
        "fill_first",
        description="With several Copilot accounts: use the first ready one, default first, and "
        "another only while it cools down (fill_first); round_robin spreads conversations over "
        "all of them, which GitHub's abuse detection may flag.",
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

    def editor_headers(self) -> dict[str, str]:
        """The fixed headers every Copilot API call carries (WIRE.md)."""
        return {
            "copilot-integration-id": self.integration_id,
            "editor-version": self.editor_version,
            "editor-plugin-version": self.editor_plugin_version,
            "user-agent": self.user_agent,
            "x-github-api-version": self.api_version,
        }
