"""``plugins.copilot.*``: defaults that matter (one account unless configured), and the editor
headers reaching the profile, with the user's profile headers on top."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ccproxy.plugins import PluginConfigError, validate_plugin_config
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


@pytest.mark.parametrize(
    "setting",
    ["editor_version", "editor_plugin_version", "user_agent", "api_version", "integration_id"],
)
def test_an_editor_header_with_a_control_character_is_refused_at_load(setting: str) -> None:
    table = {setting: "vscode/1.104.3\r\nX-Injected: 1"}
    with pytest.raises(PluginConfigError) as caught:
        validate_plugin_config("copilot", CopilotConfig, table)
    [problem] = caught.value.problems
    assert problem.startswith(f"plugins.copilot.{setting}")
    assert "control character" in problem
    assert "X-Injected" not in problem


def test_serve_refuses_a_bad_editor_header_naming_its_source_but_not_its_value(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGINS__", "SECURITY__"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    env.update(PLUGINS_DISABLE_LOCAL_DISCOVERY="true")
    env["PLUGINS__COPILOT__USER_AGENT"] = "GitHubCopilotChat/0.32.4\r\nX-Team-Key: tk-0123456789"
    env.pop("CCPROXY_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "ccproxy", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert (
        "plugins.copilot.user_agent = *** (from env PLUGINS__COPILOT__USER_AGENT): "
        "header value contains a control character" in result.stderr
    )
    assert "tk-0123456789" not in result.stderr
