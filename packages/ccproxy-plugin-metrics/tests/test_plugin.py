"""The plugin's contract: entry points, manifest, configuration keys and public names."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

import ccproxy_plugin_metrics
from ccproxy.config import load_settings
from ccproxy.plugins import Settings
from ccproxy.plugins.plugin_config import PluginConfigError, validate_plugin_config
from ccproxy.testing import app_client, started_app
from ccproxy_plugin_metrics import cli, plugin
from ccproxy_plugin_metrics.config import MetricsConfig, default_ledger_path
from metrics_kit import metrics_plugin, tiny_provider


def test_installed_entry_points_resolve() -> None:
    [plugin_ep] = metadata.entry_points(group="ccproxy.plugins", name="metrics")
    assert plugin_ep.load() is plugin.factory
    [command_ep] = metadata.entry_points(group="ccproxy.commands", name="usage")
    assert command_ep.load() is cli.app
    dist = metadata.distribution("ccproxy-plugin-metrics")
    assert dist.version == ccproxy_plugin_metrics.__version__


def test_manifest() -> None:
    manifest = plugin.factory.manifest
    assert manifest.name == "metrics"
    assert manifest.version == ccproxy_plugin_metrics.__version__
    assert manifest.optional_requires == ["pricing"]
    assert manifest.requires == []
    assert manifest.config_class is MetricsConfig


def test_public_names_are_pinned() -> None:
    assert ccproxy_plugin_metrics.__all__ == ["__version__"]
    assert plugin.__all__ == ["PLUGIN_NAME", "MetricsFactory", "MetricsRuntime", "factory"]
    assert cli.__all__ == ["app", "render_table"]


def test_default_ledger_path_follows_xdg(tmp_path: Path) -> None:
    assert default_ledger_path({"XDG_STATE_HOME": str(tmp_path)}) == (
        tmp_path / "ccproxy" / "usage.sqlite3"
    )
    home_default = Path.home() / ".local" / "state" / "ccproxy" / "usage.sqlite3"
    assert default_ledger_path({}) == home_default
    assert default_ledger_path({"XDG_STATE_HOME": "relative/dir"}) == home_default


def test_config_defaults() -> None:
    config = MetricsConfig()
    assert config.ledger_enabled is True
    assert config.pushgateway_url is None
    assert config.pushgateway_interval_seconds == 60
    assert config.pushgateway_job == "ccproxy"


def test_config_keys_from_the_environment(tmp_path: Path) -> None:
    env = {
        "PLUGINS__METRICS__LEDGER_PATH": str(tmp_path / "l.sqlite3"),
        "PLUGINS__METRICS__LEDGER_ENABLED": "false",
        "PLUGINS__METRICS__PUSHGATEWAY_URL": "http://127.0.0.1:9091/",
        "PLUGINS__METRICS__PUSHGATEWAY_INTERVAL_SECONDS": "15",
        "PLUGINS__METRICS__PUSHGATEWAY_JOB": "laptop",
    }
    settings = load_settings(env=env, cwd=tmp_path)
    config = validate_plugin_config("metrics", MetricsConfig, settings.plugin_table("metrics"))
    assert config == MetricsConfig(
        ledger_path=tmp_path / "l.sqlite3",
        ledger_enabled=False,
        pushgateway_url="http://127.0.0.1:9091",
        pushgateway_interval_seconds=15,
        pushgateway_job="laptop",
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"pushgateway_url": "ftp://x"}, "plugins.metrics.pushgateway_url"),
        ({"pushgateway_interval_seconds": 0}, "plugins.metrics.pushgateway_interval_seconds"),
        ({"ledger_queue_size": 0}, "plugins.metrics.ledger_queue_size"),
        ({"colour": "blue"}, "plugins.metrics.colour"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], problem: str) -> None:
    with pytest.raises(PluginConfigError, match=problem):
        validate_plugin_config("metrics", MetricsConfig, table)


async def test_a_bad_value_skips_only_the_metrics_plugin() -> None:
    bad = Settings.model_validate(
        {
            "plugins_disable_local_discovery": True,
            "plugins": {"metrics": {"pushgateway_interval_seconds": -1}},
        }
    )
    async with started_app(bad, entry_points=[metrics_plugin(), tiny_provider()]) as app:
        async with app_client(app) as client:
            status = (await client.get("/api/plugins/status")).json()
            assert (await client.post("/tiny/items/1")).status_code == 200
            assert (await client.get("/metrics")).status_code == 404
    states = {p["name"]: (p["status"], p["error"]) for p in status["plugins"]}
    assert states["tiny"][0] == "initialized"
    assert states["metrics"][0] == "failed"
    assert "pushgateway_interval_seconds" in states["metrics"][1]


async def test_status_reports_a_system_plugin_that_optionally_uses_pricing() -> None:
    async with started_app(
        Settings(
            plugins_disable_local_discovery=True, plugins={"metrics": {"ledger_enabled": False}}
        ),
        entry_points=[metrics_plugin()],
    ) as app:
        async with app_client(app) as client:
            status = (await client.get("/api/plugins/status")).json()
    [summary] = status["plugins"]
    assert (summary["name"], summary["type"], summary["status"]) == (
        "metrics",
        "system",
        "initialized",
    )
    assert summary["optional_requires"] == ["pricing"]


# A fresh interpreter: starting the plugin and recording does not load prometheus-client; the
# first exposition does, and shows what was recorded before.
FRESH_PROCESS = """
import asyncio, sys

import httpx

from ccproxy.config import Settings
from ccproxy.testing import started_app

def loaded():
    return "prometheus_client" in sys.modules

async def main():
    settings = Settings.model_validate({
        "plugins_disable_local_discovery": True,
        "enabled_plugins": ["metrics"],
        "plugins": {"metrics": {"ledger_enabled": False}},
    })
    async with started_app(settings, entry_points=None) as app:
        runtime = app.state.plugin_host.registry.get_runtime("metrics")
        assert runtime is not None and runtime.initialized, "plugin not started"
        runtime.collector.count_request("claude", "", "/claude/v1/messages", "m", "2xx")
        assert not loaded(), "prometheus_client loaded before any exposition"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            text = (await c.get("/metrics")).text
        assert loaded()
        assert 'ccproxy_requests_total{' in text and 'provider="claude"' in text, text[:400]
    print("clean exit")

asyncio.run(asyncio.wait_for(main(), 20))
"""


def test_prometheus_client_loads_on_the_first_exposition() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("clean exit")
