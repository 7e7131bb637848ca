"""The plugins as packaged: entry points, routes, configuration, model names, usage parsing."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from ccproxy.plugins.provider import UnknownModelError
from ccproxy.testing import Reply, app_client
from ccproxy_plugin_codex import __version__
from ccproxy_plugin_codex.models import CodexModelAliases, is_native_model
from ccproxy_plugin_codex.oauth import auth_factory
from ccproxy_plugin_codex.oauth_provider import oauth_provider
from ccproxy_plugin_codex.plugin import load_profile, provider_factory
from ccproxy_plugin_codex.usage import parse_windows
from codex_kit import Setup, codex_app, openai_sdk, upstream_bodies


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ready = Setup(tmp_path)
    ready.write_credentials()
    return ready


def test_entry_points_are_declared_by_the_distribution() -> None:
    dist = metadata.distribution("ccproxy-plugin-codex")
    assert dist.version == __version__
    plugins = {ep.name: ep for ep in dist.entry_points if ep.group == "ccproxy.plugins"}
    assert plugins["codex"].load() is provider_factory
    assert plugins["oauth_codex"].load() is auth_factory
    [command] = [ep for ep in dist.entry_points if ep.group == "ccproxy.commands"]
    assert command.name == "auth.codex"
    assert command.load() is oauth_provider
    requires = [r for r in dist.requires or [] if r.startswith("ccproxy-core")]
    assert requires == ["ccproxy-core<2,>=1.0"]


def test_manifests() -> None:
    assert provider_factory.manifest.name == "codex"
    assert provider_factory.manifest.optional_requires == ["oauth.codex"]
    assert auth_factory.manifest.name == "oauth_codex"
    assert auth_factory.manifest.provides == ["oauth.codex"]
    assert provider_factory.plugin_type == "provider"
    assert auth_factory.plugin_type == "auth_provider"


async def test_models_and_root_routes(setup: Setup) -> None:
    async with codex_app(setup, codex={"model_aliases": {"fast": "gpt-6-luna"}}) as app:
        listed = await openai_sdk(app).models.list()
        async with app_client(app) as client:
            anthropic_listing = await client.get(
                "/codex/v1/models", headers={"anthropic-version": "2023-06-01"}
            )
            head = await client.head("/codex/")
            bare_head = await client.head("/codex")
            root = await client.get("/codex/")
    names = [model.id for model in listed.data]
    assert names == sorted(names)
    assert {"fast", "gpt-6-luna", "gpt-6.1-sol"} <= set(names)
    assert anthropic_listing.json()["data"][0]["type"] == "model"
    assert head.status_code == bare_head.status_code == 200
    assert root.json() == {"provider": "codex", "status": "ok"}


async def test_profile_overrides_from_configuration(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("ok"))
    drops = [*load_profile().drop_params, "top_logprobs"]  # a list replaces the shipped one
    profile = {"headers": {"x-extra": "1"}, "drop_params": drops}
    async with codex_app(setup, codex={"profile": profile}) as app:
        await openai_sdk(app).responses.create(
            model="gpt-5", input="hi", temperature=0.1, top_logprobs=2
        )
    [body] = upstream_bodies(setup.fake)
    assert "top_logprobs" not in body
    assert "temperature" not in body
    headers = setup.fake.requests[0].headers
    assert headers["x-extra"] == "1"
    assert headers["openai-beta"] == "responses=experimental"  # tables merge


def test_shipped_profile() -> None:
    profile = load_profile()
    assert profile.force_params == {"stream": True, "store": False}
    assert {"max_output_tokens", "max_completion_tokens", "temperature", "metadata"} <= set(
        profile.drop_params
    )
    assert profile.session_header == "session_id"
    assert profile.originator == "codex_cli_rs"
    assert profile.headers["openai-beta"] == "responses=experimental"


async def test_an_unreadable_instructions_file_stops_only_the_provider(setup: Setup) -> None:
    missing = setup.home / "nope.md"
    async with codex_app(setup, codex={"instructions_file": str(missing)}) as app:
        async with app_client(app) as client:
            status = (await client.get("/api/plugins/status")).json()
            health = await client.get("/health")
            answer = await client.post(
                "/codex/v1/responses", json={"model": "gpt-5", "input": "hi"}
            )
    plugins = {p["name"]: p for p in status["plugins"]}
    assert plugins["codex"]["status"] == "failed"
    assert "instructions_file" in plugins["codex"]["error"]
    assert plugins["oauth_codex"]["status"] == "initialized"
    assert health.status_code == 200
    assert answer.status_code == 503
    assert "codex provider is not running" in answer.json()["error"]["message"]


async def test_a_bad_plugin_value_skips_only_that_plugin(setup: Setup) -> None:
    async with codex_app(setup, codex={"response_store_max_entries": 0}) as app:
        async with app_client(app) as client:
            status = (await client.get("/api/plugins/status")).json()
    plugins = {p["name"]: p for p in status["plugins"]}
    assert plugins["codex"]["status"] == "failed"
    assert "plugins.codex.response_store_max_entries" in plugins["codex"]["error"]
    assert plugins["oauth_codex"]["status"] == "initialized"


@pytest.mark.parametrize(
    ("client", "upstream", "rule"),
    [
        ("gpt-5", "gpt-5", None),
        ("o3", "o3", None),
        ("codex-mini-latest", "codex-mini-latest", None),
        ("claude-opus-4-8", "big", "claude-opus*"),
        ("claude-sonnet-4-6", "gpt-6.1-sol", "claude_model"),
        ("claude-haiku-4-5-20251001", "gpt-6-luna", "claude_small_model"),
        ("claude-3-5-haiku-20241022", "gpt-6-luna", "claude_small_model"),
        ("claude-opus-4-8[1m]", "big", "claude-opus*"),
        ("exact", "gpt-5.5", "exact"),
    ],
)
def test_model_resolution(client: str, upstream: str, rule: str | None) -> None:
    aliases = CodexModelAliases(
        {"exact": "gpt-5.5", "claude-opus*": "big"},
        claude_model="gpt-6.1-sol",
        claude_small_model="gpt-6-luna",
    )
    resolution = aliases.resolve(client)
    assert (resolution.upstream_model, resolution.rule) == (upstream, rule)


def test_other_families_need_a_default_model() -> None:
    aliases = CodexModelAliases({}, claude_model="a", claude_small_model="b")
    with pytest.raises(UnknownModelError, match=r"plugins\.codex\.default_model"):
        aliases.resolve("gemini-2.5-pro")
    with_default = CodexModelAliases(
        {}, claude_model="a", claude_small_model="b", default_model="gpt-5"
    )
    assert with_default.resolve("gemini-2.5-pro").upstream_model == "gpt-5"
    assert not is_native_model("gemini-2.5-pro")
    assert is_native_model("o4-mini")


def test_usage_windows_parse_the_codex_headers() -> None:
    headers: dict[str, Any] = {
        "x-codex-primary-used-percent": "12.5",
        "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-after-seconds": "17.0",
        "x-codex-secondary-used-percent": "not a number",
        "x-codex-other": "kept raw only",
    }
    assert parse_windows(headers) == {
        "primary": {"used_percent": 12.5, "window_minutes": 300, "reset_after_seconds": 17}
    }
