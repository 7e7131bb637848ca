"""Profile headers with CR, LF or NUL are refused when the configuration is loaded."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from ccproxy.plugins import PluginConfigError, validate_plugin_config
from ccproxy.plugins.provider import ProfileOverrides, ProviderProfile

SECRET = "sk-live-0123456789abcdef"


class TypedProfileConfig(BaseModel):
    """A plugin whose profile setting is the whole profile (as the claude plugin's is)."""

    profile: ProviderProfile = Field(default_factory=ProviderProfile)


class OverridesConfig(BaseModel):
    """A plugin whose profile setting holds overrides (as the codex and copilot plugins' do)."""

    profile: ProfileOverrides = Field(default_factory=ProfileOverrides)


@pytest.mark.parametrize("config_class", [TypedProfileConfig, OverridesConfig])
@pytest.mark.parametrize("bad", ["\r\nX-Injected: 1", "\n", "\x00", "\r", "\x7f"])
def test_a_control_character_in_a_header_value_is_refused_without_showing_the_value(
    config_class: type[BaseModel], bad: str
) -> None:
    table = {"profile": {"headers": {"x-extra": f"{SECRET}{bad}"}}}
    with pytest.raises(PluginConfigError) as caught:
        validate_plugin_config("prov", config_class, table)
    [problem] = caught.value.problems
    assert problem.startswith("plugins.prov.profile.headers.x-extra")
    assert "control character" in problem
    assert SECRET not in problem


@pytest.mark.parametrize("config_class", [TypedProfileConfig, OverridesConfig])
@pytest.mark.parametrize("name", ["x-bad\r\nname", "x bad", "x:bad", ""])
def test_a_header_name_that_is_not_an_http_token_is_refused(
    config_class: type[BaseModel], name: str
) -> None:
    with pytest.raises(PluginConfigError, match=r"plugins\.prov\.profile\.headers"):
        validate_plugin_config("prov", config_class, {"profile": {"headers": {name: "v"}}})


def test_valid_headers_and_other_overrides_are_kept_as_given() -> None:
    table = {"profile": {"headers": {"x-extra": "a\tb c"}, "drop_params": ["metadata"]}}
    typed = validate_plugin_config("prov", OverridesConfig, table)
    assert isinstance(typed, OverridesConfig)
    assert typed.profile == table["profile"]
