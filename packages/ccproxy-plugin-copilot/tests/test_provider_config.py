"""``plugins.copilot.*``: defaults that matter (one account unless configured), and the editor
headers reaching the profile, with the user's profile headers on top."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ccproxy_plugin_copilot.config import CopilotConfig
from ccproxy_plugin_copilot.plugin import load_profile


def test_several_accounts_are_not_rotated_by_default() -> None:
    assert CopilotConfig().account_strategy == "fill_first"
    assert CopilotConfig(account_strategy="round_robin").account_strategy == "round_robin"
    with pytest.raises(ValidationError):
        CopilotConfig(account_strategy="random")  # type: ignore[arg-type]


def test_the_api_base_is_the_credentials_by_default() -> None:
    assert CopilotConfig().base_url is None


def test_editor_headers_come_from_the_settings_and_profile_headers_win() -> None:
    config = CopilotConfig(
        api_version="2025-10-01",
        profile={"headers": {"editor-version": "neovim/0.11.0"}, "drop_params": ["temperature"]},
    )
    profile = load_profile(config)
    assert profile.headers["x-github-api-version"] == "2025-10-01"
    assert profile.headers["copilot-integration-id"] == "vscode-chat"
    assert profile.headers["user-agent"].startswith("GitHubCopilotChat/")
    assert profile.headers["editor-version"] == "neovim/0.11.0"
    assert profile.drop_params == ["temperature"]
