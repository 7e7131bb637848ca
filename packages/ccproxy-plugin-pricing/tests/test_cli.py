"""``ccproxy pricing show`` (local table, no server) and ``ccproxy pricing refresh`` (live server)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from typer.testing import CliRunner, Result

from ccproxy.app import create_app, get_plugin_host
from ccproxy.cli.main import app as ccproxy_app
from ccproxy.testing import LiveServer, free_port
from ccproxy_plugin_pricing.cli import app
from ccproxy_plugin_pricing.runtime import PricingRuntime
from ccproxy_plugin_pricing.table import table_from_litellm, write_cache
from pricing_kit import (
    PROBE,
    PriceSource,
    cache_file,
    litellm_document,
    pricing_entry_points,
    pricing_settings,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_show_prints_prices_per_million_tokens() -> None:
    result = run("show", "claude-sonnet-4-5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("claude-sonnet-4-5  (anthropic, chat)\n")
    assert "resolved by exact" in out
    assert "bundled snapshot (litellm 1.110.2)" in out
    assert "USD per million tokens" in out
    for label, price in [
        ("input", "3"),
        (r"output \(incl. reasoning\)", "15"),
        ("cache read", "0.3"),
        ("cache write 5m", "3.75"),
        ("cache write 1h", "6"),
    ]:
        assert re.search(rf"^  {label} +{re.escape(price)}$", out, re.MULTILINE), label
    assert "limits: 200,000 input tokens, 64,000 output tokens" in out


def test_show_prints_tiers_and_resolution() -> None:
    result = run("show", "openai/gpt-5.4-2026-03-05")
    assert result.exit_code == 0, result.output
    assert "gpt-5.4-2026-03-05  (openai, chat)" in result.stdout
    assert "resolved by provider_prefix" in result.stdout
    tier = result.stdout.split("above 272,000 prompt tokens\n", 1)[1]
    assert re.search(r"^  input +5$", tier, re.MULTILINE)
    assert re.search(r"^  output \(incl. reasoning\) +22.5$", tier, re.MULTILINE)


def test_show_json() -> None:
    result = run("show", "o3-2025-04-16", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["model"] == "o3-2025-04-16"
    assert body["prices_per_million"]["input"] == 2.0
    assert body["source"]["litellm_version"] == "1.110.2"


def test_show_unknown_model_exits_1() -> None:
    result = run("show", "llama-3-70b")
    assert result.exit_code == 1
    assert "no price known for model 'llama-3-70b'" in result.stderr


def test_show_uses_aliases_from_the_configuration(tmp_path: Path) -> None:
    aliases = '{"house-model": "claude-opus-4-8"}'
    result = run("show", "house-model", "--set", f"plugins.pricing.aliases={aliases}")
    assert result.exit_code == 0, result.output
    assert "resolved by alias 'house-model'" in result.stdout
    config = tmp_path / "ccproxy.toml"
    config.write_text('[plugins.pricing.aliases]\n"team-*" = "gpt-5"\n')
    result = run("show", "team-x", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("gpt-5  (openai, chat)")


def test_show_reads_a_newer_cache_without_any_server(tmp_path: Path) -> None:
    table = table_from_litellm(
        litellm_document(probe_input=7e-06),
        source_url="http://127.0.0.1/prices.json",
        fetched_at=datetime.now(UTC),
        min_models=1,
    )
    write_cache(cache_file(tmp_path), table)
    result = run("show", PROBE)
    assert result.exit_code == 0, result.output
    assert "cache of http://127.0.0.1/prices.json" in result.stdout
    assert re.search(r"^  input +7$", result.stdout, re.MULTILINE)


def test_show_refuses_a_bad_configuration() -> None:
    result = run("show", "gpt-5", "--set", "plugins.pricing.refresh_interval_hours=-1")
    assert result.exit_code == 2
    assert "plugins.pricing.refresh_interval_hours" in result.stderr


def test_the_ccproxy_cli_dispatches_to_the_installed_command() -> None:
    result = CliRunner().invoke(ccproxy_app, ["pricing", "show", "gpt-4o"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("gpt-4o  (openai, chat)")


def server_config(tmp_path: Path, port: int, token: str | None = "s3cret") -> Path:
    config = tmp_path / "client.toml"
    text = f"[server]\nport = {port}\n"
    if token is not None:
        text += f'[security]\nauth_token = "{token}"\n'
    config.write_text(text)
    return config


def proxy_app(source: PriceSource, **pricing: object) -> FastAPI:
    settings = pricing_settings(security={"auth_token": "s3cret"}, **pricing)
    return create_app(
        settings, entry_points=pricing_entry_points(), http_transport=source.transport
    )


async def run_in_thread(*args: str) -> Result:
    # The live server runs on this event loop: the blocking CLI must run elsewhere.
    return await asyncio.to_thread(run, *args)


async def test_refresh_calls_the_running_server_with_the_token(tmp_path: Path) -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    app = proxy_app(source, refresh_interval_hours=0)
    async with LiveServer(app) as server:
        config = server_config(tmp_path, server.port)
        result = await run_in_thread("refresh", "--config", str(config))
        runtime = get_plugin_host(app).registry.get_runtime("pricing")
        assert isinstance(runtime, PricingRuntime)
        assert runtime.book.table.origin == "remote"
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("refreshed: 25 models from http://127.0.0.1:9/")
    assert source.hits == 1


async def test_refresh_without_the_token_is_refused(tmp_path: Path) -> None:
    source = PriceSource()
    async with LiveServer(proxy_app(source)) as server:
        config = server_config(tmp_path, server.port, token=None)
        result = await run_in_thread("refresh", "--config", str(config))
    assert result.exit_code == 1
    assert "refresh failed: HTTP 401" in result.stderr
    assert source.hits == 0


async def test_refresh_reports_a_failed_refresh(tmp_path: Path) -> None:
    source = PriceSource()
    source.serve_bytes(b"{}")
    async with LiveServer(proxy_app(source)) as server:
        config = server_config(tmp_path, server.port)
        result = await run_in_thread("refresh", "--config", str(config))
    assert result.exit_code == 1
    assert "refresh failed: HTTP 502: Price refresh from" in result.stderr
    assert "fewer than the 20 required" in result.stderr


def test_refresh_without_a_server_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("refresh", "--url", url, "--timeout", "5")
    assert result.exit_code == 1
    assert f"could not reach ccproxy at {url}" in result.stderr
