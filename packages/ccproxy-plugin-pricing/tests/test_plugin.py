"""The plugin as ccproxy finds it: entry points, manifest, configuration, per-app state, API."""

from __future__ import annotations

from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pytest
import typer

import ccproxy_plugin_pricing
from ccproxy.app import get_plugin_host
from ccproxy.config import load_settings
from ccproxy.plugins import SystemPluginFactory, Usage
from ccproxy.testing import started_app
from ccproxy_plugin_pricing.config import DEFAULT_SOURCE_URL, PricingConfig
from ccproxy_plugin_pricing.plugin import PricingFactory, factory
from ccproxy_plugin_pricing.runtime import PricingRuntime
from pricing_kit import PROBE, PriceSource, litellm_document, pricing_entry_points, pricing_settings


def test_entry_points_are_installed() -> None:
    (plugin,) = [
        ep for ep in metadata.entry_points(group="ccproxy.plugins") if ep.name == "pricing"
    ]
    assert plugin.load() is factory
    (command,) = [
        ep for ep in metadata.entry_points(group="ccproxy.commands") if ep.name == "pricing"
    ]
    assert isinstance(command.load(), typer.Typer)
    assert plugin.dist is not None and plugin.dist.name == "ccproxy-plugin-pricing"


def test_manifest() -> None:
    assert isinstance(factory, SystemPluginFactory)
    manifest = factory.manifest
    assert manifest.name == "pricing"
    assert (
        manifest.version
        == ccproxy_plugin_pricing.__version__
        == metadata.version("ccproxy-plugin-pricing")
    )
    assert manifest.provides == ["pricing"]
    assert manifest.requires == []
    assert manifest.config_class is PricingConfig
    assert [route.prefix for route in manifest.routes] == ["/pricing"]
    assert factory.runtime_class is PricingRuntime


def test_configuration_defaults(tmp_path: Path) -> None:
    config = PricingConfig()
    assert config.source_url == DEFAULT_SOURCE_URL
    assert DEFAULT_SOURCE_URL.endswith("/model_prices_and_context_window.json")
    assert config.refresh_interval_hours == 24
    assert config.aliases == {}
    assert config.cache_file == tmp_path / "cache" / "ccproxy" / "litellm-prices.json"


def test_the_factory_is_stateless_and_each_app_has_its_own_table() -> None:
    assert set(vars(factory)) == {"manifest"}
    assert set(vars(PricingFactory())) == {"manifest"}


async def test_two_apps_in_one_process_do_not_share_prices() -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    refreshed = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with (
        started_app(pricing_settings(), **refreshed) as first,
        started_app(pricing_settings(), entry_points=pricing_entry_points()) as second,
    ):
        runtimes = [get_plugin_host(app).registry.get_runtime("pricing") for app in (first, second)]
        assert isinstance(runtimes[0], PricingRuntime) and isinstance(runtimes[1], PricingRuntime)
        assert runtimes[0] is not runtimes[1]
        assert (await runtimes[0].refresher.refresh()).ok
        assert runtimes[0].book.cost(PROBE, Usage(input=1_000_000)) == Decimal("7")
        assert runtimes[1].book.cost(PROBE, Usage(input=1_000_000)) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PLUGINS__PRICING__REFRESH_INTERVAL_HOURS": "0"}, {"refresh_interval_hours": 0.0}),
        (
            {"PLUGINS__PRICING__SOURCE_URL": "http://127.0.0.1:9/p.json"},
            {"source_url": "http://127.0.0.1:9/p.json"},
        ),
        ({"PLUGINS__PRICING__ALIASES": '{"a": "gpt-5"}'}, {"aliases": {"a": "gpt-5"}}),
    ],
)
async def test_keys_work_from_the_environment(
    env: dict[str, str], expected: dict[str, object]
) -> None:
    env = {"PLUGINS__PRICING__SOURCE_URL": "http://127.0.0.1:9/p.json", **env}
    settings = load_settings(env=env)
    settings.plugins_disable_local_discovery = True
    async with started_app(settings, entry_points=pricing_entry_points()) as app:
        runtime = get_plugin_host(app).registry.get_runtime("pricing")
        assert isinstance(runtime, PricingRuntime)
        for key, value in expected.items():
            assert getattr(runtime.config, key) == value


def test_unknown_configuration_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="refresh_hours"):
        PricingConfig.model_validate({"refresh_hours": 1})


@pytest.mark.parametrize("url", ["notaurl", "raw.githubusercontent.com/x.json", "file:///tmp/x"])
def test_source_url_must_be_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="source_url"):
        PricingConfig.model_validate({"source_url": url})


def test_public_api() -> None:
    assert ccproxy_plugin_pricing.__all__ == [
        "DEFAULT_SOURCE_URL",
        "PRICE_KINDS",
        "PriceBook",
        "PriceTable",
        "PricingConfig",
        "RefreshOutcome",
        "Refresher",
        "Resolution",
        "TableError",
        "UnitPrices",
        "__version__",
        "load_snapshot",
        "resolve",
        "select_models",
        "unit_prices",
        "usage_cost",
    ]
    for name in ccproxy_plugin_pricing.__all__:
        assert getattr(ccproxy_plugin_pricing, name) is not None
