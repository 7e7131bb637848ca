"""Configuration: the effective profile in ``ccproxy plugins settings``, overrides, bad values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccproxy.cli.main import app as ccproxy_app
from ccproxy_plugin_claude.config import ClaudeConfig, ClaudeOAuthConfig
from claude_kit import IDENTITY, ClaudeWorld, http_client, openai_sdk

HI = [{"role": "user", "content": "Hi"}]


def settings_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(ccproxy_app, ["plugins", "settings", *args, "--json"])
    assert result.exit_code == 0, result.output
    return {field["name"]: field for field in json.loads(result.output)["fields"]}


def test_plugins_settings_shows_the_effective_profile() -> None:
    fields = settings_json("claude", "--set", "plugins.claude.profile.max_cache_control_blocks=3")
    profile = fields["profile"]
    assert profile["type"] == "ProviderProfile"
    assert profile["default"]["max_cache_control_blocks"] == 4
    assert profile["value"] == {
        **profile["default"],
        "max_cache_control_blocks": 3,
    }
    assert profile["value"]["headers"] == {"anthropic-version": "2023-06-01"}
    assert profile["value"]["required_betas"] == ["oauth-2025-04-20"]
    assert profile["value"]["identity_system_prompt"] == IDENTITY
    assert profile["value"]["drop_null_params"] == ["temperature"]
    assert profile["value"]["add_cache_breakpoints"] is True
    assert fields["base_url"]["default"] == "https://api.anthropic.com"
    assert fields["default_model"]["default"] == "claude-sonnet-4-6"
    assert fields["model_aliases"]["value"]["opus"] == "claude-opus-4-8"


def test_plugins_settings_of_the_auth_plugin_masks_the_token(monkeypatch: Any) -> None:
    monkeypatch.setenv("PLUGINS__OAUTH_CLAUDE__OAUTH_TOKEN", "sk-ant-oat01-secret-from-env")
    result = CliRunner().invoke(ccproxy_app, ["plugins", "settings", "oauth_claude", "--json"])
    assert "sk-ant-oat01-secret-from-env" not in result.output
    fields = {f["name"]: f for f in json.loads(result.output)["fields"]}
    assert fields["oauth_token"]["value"] == "***"
    assert fields["authorize_url"]["value"] == "https://claude.com/cai/oauth/authorize"
    assert fields["console_authorize_url"]["value"] == "https://platform.claude.com/oauth/authorize"
    assert fields["token_url"]["value"] == "https://platform.claude.com/v1/oauth/token"
    assert fields["redirect_uri"]["value"] == "https://platform.claude.com/oauth/code/callback"
    assert fields["client_id"]["value"] == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    assert fields["refresh_margin_seconds"]["value"] == 300.0


def test_config_classes_merge_defaults() -> None:
    config = ClaudeConfig.model_validate(
        {
            "default_model": "claude-opus-4-8",
            "model_aliases": {"o3*": "claude-haiku-4-5", "opus": ""},
        }
    )
    assert config.model_aliases["gpt-*"] == "claude-opus-4-8"
    assert config.model_aliases["o3*"] == "claude-haiku-4-5"
    assert "opus" not in config.model_aliases
    assert config.profile.identity_system_prompt == IDENTITY  # untouched profile keys stay
    oauth = ClaudeOAuthConfig.model_validate(
        {"scopes": "user:inference user:profile", "credentials_file": "~/x/creds.json"}
    )
    assert oauth.scopes == ["user:inference", "user:profile"]
    assert not str(oauth.credentials_file).startswith("~")


async def test_profile_overrides_reach_the_upstream_request(world: ClaudeWorld) -> None:
    world.claude = {
        "profile": {"add_cache_breakpoints": False, "headers": {"x-extra": "1"}},
    }
    async with world.app() as app:
        await openai_sdk(app).chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
    request = world.fake.last_request
    assert "cache_control" not in json.dumps(request.json)
    assert request.headers["x-extra"] == "1"
    assert request.headers["anthropic-version"] == "2023-06-01"  # merged, not replaced


async def test_a_bad_profile_key_stops_only_this_plugin(world: ClaudeWorld) -> None:
    world.claude = {"profile": {"max_cache_blocks": 3}}
    async with world.app() as app, http_client(app) as client:
        status = (await client.get("/api/plugins/status")).json()
        response = await client.post(
            "/claude/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": HI},
        )
    plugins = {p["name"]: p for p in status["plugins"]}
    assert plugins["claude"]["status"] == "failed"
    assert "plugins.claude.profile.max_cache_blocks" in plugins["claude"]["error"]
    assert plugins["oauth_claude"]["status"] == "initialized"
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("base_url", "notaurl", "no scheme"),
        ("base_url", "api.anthropic.com", "no scheme"),
        ("base_url", "ws://api.anthropic.com", "scheme 'ws' is not http or https"),
    ],
)
def test_url_settings_must_be_http_urls(key: str, value: str, problem: str) -> None:
    from ccproxy.plugins import PluginConfigError, validate_plugin_config
    from ccproxy_plugin_claude.config import ClaudeConfig, ClaudeOAuthConfig

    with pytest.raises(PluginConfigError, match=f"plugins.claude.{key}: Value error, {problem}"):
        validate_plugin_config("claude", ClaudeConfig, {key: value})
    for oauth_key in ("authorize_url", "console_authorize_url", "token_url", "redirect_uri"):
        with pytest.raises(PluginConfigError, match=f"plugins.oauth_claude.{oauth_key}"):
            validate_plugin_config("oauth_claude", ClaudeOAuthConfig, {oauth_key: value})


def serve_once(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``ccproxy serve`` in ``home`` (its own HOME and working folder) with ``env`` set on top of
    an environment cleared of ccproxy settings; it is expected to stop on its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGINS__", "SECURITY__"))}
    clean.pop("CCPROXY_CONFIG", None)
    clean.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    clean.update(PLUGINS_DISABLE_LOCAL_DISCOVERY="true", **env)
    return subprocess.run(
        [sys.executable, "-m", "ccproxy", "serve", "--port", "0"],
        cwd=home,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_a_bad_base_url_naming_its_source(tmp_path: Path) -> None:
    result = serve_once(tmp_path, PLUGINS__CLAUDE__BASE_URL="notaurl")
    assert result.returncode == 2, result.stderr
    assert (
        "plugins.claude.base_url = 'notaurl' (from env PLUGINS__CLAUDE__BASE_URL): "
        "Value error, no scheme" in result.stderr
    )


def test_serve_refuses_a_profile_header_with_a_line_break_without_showing_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / ".ccproxy.toml"
    config.write_text(
        '[plugins.claude.profile.headers]\n"x-team-key" = "tk-0123456789\\r\\nX-Injected: 1"\n'
    )
    result = serve_once(tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"plugins.claude.profile.headers.x-team-key = *** (from file {config})" in result.stderr
    assert "control character" in result.stderr
    assert "tk-0123456789" not in result.stderr
