"""``plugins.oauth_copilot.*``: the GitHub login, the Copilot token mint and the token files.

Defaults are the upstream facts of WIRE.md ("GitHub Copilot"); each can be set in the TOML file,
the environment (``PLUGINS__OAUTH_COPILOT__GITHUB_API_URL``) or on the command line
(``--set plugins.oauth_copilot.github_url=...``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ccproxy.plugins import HttpUrlStr
from ccproxy_plugin_copilot.credentials import DEFAULT_CLIENT_ID, config_home

__all__ = ["CopilotOAuthConfig"]


class CopilotOAuthConfig(BaseModel):
    """``plugins.oauth_copilot.*``."""

    model_config = ConfigDict(extra="forbid")

    github_url: HttpUrlStr = Field(
        "https://github.com",
        description="GitHub's web origin: the device flow's /login/device/code and "
        "/login/oauth/access_token.",
    )
    github_api_url: HttpUrlStr = Field(
        "https://api.github.com",
        description="GitHub's API: the Copilot token mint (/copilot_internal/v2/token) and the "
        "plan and quota (/copilot_internal/user).",
    )
    client_id: str = Field(
        DEFAULT_CLIENT_ID, description="OAuth client id of the device flow (the editor app's)."
    )
    scope: str = Field("read:user", description="Scope asked for by the device flow.")
    api_version: str = Field(
        "2025-04-01",
        description="x-github-api-version sent to the mint and the quota endpoint.",
    )
    extra_headers: dict[str, str] = Field(
        default_factory=dict,
        description="More headers for the mint and the quota endpoint (e.g. editor-version).",
    )
    editor_login: bool = Field(
        True,
        description="Use an editor's Copilot login (editor_files) as the default account when "
        "ccproxy has none of its own.",
    )
    editor_files: list[Path] | None = Field(
        None,
        description="The editors' token files, first found wins; unset: "
        "$XDG_CONFIG_HOME/github-copilot/apps.json, then hosts.json. Read only, never written.",
    )
    credentials_file: Path | None = Field(
        None,
        description="ccproxy's own GitHub token file (the default account when it exists, and "
        "where `ccproxy auth login copilot` stores it); unset: $XDG_CONFIG_HOME/ccproxy/"
        "copilot.json.",
    )
    device_poll_interval_seconds: float | None = Field(
        None,
        ge=0,
        description="Seconds between device polls; unset uses the interval GitHub sends.",
    )
    device_timeout_seconds: float = Field(
        900.0, gt=0, description="How long a device login waits for the approval."
    )
    refresh_margin_seconds: float = Field(
        180.0,
        ge=0,
        description="Mint a new Copilot token this many seconds before the current one expires "
        "(or after the mint's refresh_in, whichever comes first).",
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="Timeout of the mint and quota requests."
    )
    usage_refresh_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the running server re-reads each account's plan and quota.",
    )

    @property
    def own_credentials_path(self) -> Path:
        """ccproxy's own token file (``~`` expanded)."""
        if self.credentials_file is not None:
            return self.credentials_file.expanduser()
        return config_home() / "ccproxy" / "copilot.json"

    @property
    def editor_paths(self) -> list[Path]:
        """The editors' token files, in the order they are tried."""
        if self.editor_files is not None:
            return [path.expanduser() for path in self.editor_files]
        folder = config_home() / "github-copilot"
        return [folder / "apps.json", folder / "hosts.json"]

    def api(self, path: str) -> str:
        """``github_api_url`` + ``path``."""
        return self.github_api_url.rstrip("/") + path

    def web(self, path: str) -> str:
        """``github_url`` + ``path``."""
        return self.github_url.rstrip("/") + path
