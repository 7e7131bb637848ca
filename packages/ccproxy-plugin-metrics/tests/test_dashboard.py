"""The Grafana dashboard ships in the package and queries only metrics ``/metrics`` exposes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from ccproxy.testing import app_client, started_app
from metrics_kit import (
    SONNET_PRICE,
    exposed_names,
    metrics_plugin,
    pricing_plugin,
    scrape,
    settings,
    tiny_provider,
)

_METRIC = re.compile(r"\bccproxy_[a-z0-9_]+")
_SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard() -> dict[str, Any]:
    text = (resources.files("ccproxy_plugin_metrics") / "dashboards" / "ccproxy.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL string in the dashboard: panel targets and template variable queries."""
    if isinstance(node, dict):
        for key, item in node.items():
            promql = key in ("expr", "definition") or (key == "query" and "ccproxy_" in str(item))
            if promql and isinstance(item, str):
                yield item
            else:
                yield from expressions(item)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def metric_names(expression: str) -> set[str]:
    names = set()
    for name in _METRIC.findall(expression):
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        names.add(name)
    return names


async def test_every_metric_the_dashboard_queries_is_exposed() -> None:
    exprs = list(expressions(dashboard()))
    used = set().union(*(metric_names(e) for e in exprs))
    entry_points = [metrics_plugin(), pricing_plugin({"m": SONNET_PRICE}), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            await client.post(
                "/tiny/items/1", params={"model": "m", "rl": "x-codex-primary-used-percent=5"}
            )
            families = await scrape(client)
    exposed = exposed_names(families.values())
    assert used - exposed == set()
    # Sanity: the parser found the metrics the dashboard is about.
    assert {
        "ccproxy_requests_total",
        "ccproxy_request_duration_seconds",
        "ccproxy_time_to_first_byte_seconds",
        "ccproxy_tokens_total",
        "ccproxy_cost_usd_total",
        "ccproxy_in_flight_requests",
        "ccproxy_upstream_errors_total",
        "ccproxy_subscription_window_used_ratio",
        "ccproxy_subscription_window_reset_timestamp_seconds",
    } <= used


def test_dashboard_has_the_promised_panels() -> None:
    board = dashboard()
    titles = [p["title"] for p in board["panels"] if p["type"] != "row"]
    for wanted in (
        "Requests/s",
        "Error rate",
        "Request duration p50 / p95",
        "Time to first byte p50 / p95",
        "Tokens/s by type",
        "Cost per hour by model",
        "In flight",
        "Window used",
    ):
        assert wanted in titles
    assert board["uid"] == "ccproxy"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    # Every panel queries through the selectable data source.
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
    quantiles = [e for e in expressions(board) if "histogram_quantile" in e]
    assert {e.split(",")[0] for e in quantiles} == {
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
    }


def test_an_account_variable_filters_the_panels_and_windows_are_per_account() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["account"]["definition"].endswith(", account)")
    panels = [e for e in expressions(board) if not e.startswith("label_values")]
    filtered = [e for e in panels if 'provider=~"$provider"' in e]
    assert filtered
    assert all('account=~"$account"' in e for e in filtered)
    windows = [e for e in panels if "subscription_window" in e]
    assert len(windows) == 2
    assert all("by (provider, account, window)" in e for e in windows)
