"""``GET /metrics``: format, exact values after proxied requests, auth, and not counting itself."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from ccproxy import __version__ as core_version
from ccproxy.testing import FakeAnthropic, Reply, app_client, started_app
from ccproxy_plugin_metrics.collector import DURATION_BUCKETS, METRIC_NAMES, TTFB_BUCKETS
from metrics_kit import (
    ANTHROPIC_HEADERS,
    SONNET_PRICE,
    metrics_plugin,
    pipeline_provider,
    pricing_plugin,
    scrape,
    series,
    settings,
    tiny_provider,
    value,
)

MODEL = "claude-sonnet-4-6"
MESSAGE = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
RESET_5H = 1_767_225_600
USAGE = {"input": 1000, "output": 500, "cache_read": 2000, "cache_write": 300, "reasoning": 0}
# (1000 * 3 + 500 * 15 + 2000 * 0.3 + 300 * 3.75) / 1e6
COST = Decimal("0.012225")


def strict_fake() -> FakeAnthropic:
    return FakeAnthropic(
        accepted_tokens={"tok"},
        require_oauth_beta=False,
        require_claude_code_system=False,
        rate_limit_headers={
            "anthropic-ratelimit-unified-status": "allowed",
            "anthropic-ratelimit-unified-5h-utilization": "0.25",
            "anthropic-ratelimit-unified-5h-reset": str(RESET_5H),
            "anthropic-ratelimit-unified-7d-utilization": "0.5",
        },
    )


async def test_exposition_parses_and_names_every_metric() -> None:
    async with started_app(settings(), entry_points=[metrics_plugin()]) as app:
        async with app_client(app) as client:
            response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    exposed = {f"{n}_total" if f.type == "counter" else n for n, f in families.items()}
    assert exposed == set(METRIC_NAMES)
    # No prometheus-client defaults leak in: no _created companions, no process collectors.
    assert "_created" not in response.text
    assert all(name.startswith("ccproxy_") for name in families)


async def test_build_and_plugin_info_come_from_the_registry_at_start_up() -> None:
    entry_points = [metrics_plugin(), pricing_plugin({}), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            families = await scrape(client)
    assert value(families, "ccproxy_build_info", version=core_version) == 1.0
    plugins = {
        (s.labels["name"], s.labels["version"], s.labels["type"])
        for s in families["ccproxy_plugin_info"].samples
    }
    assert plugins == {
        ("fakepricing", "9.9.9", "system"),
        ("metrics", "0.1.0", "system"),
        ("tiny", "0.0.0", "system"),
    }


async def test_a_proxied_request_moves_counters_and_cost_exactly() -> None:
    fake = strict_fake()
    fake.enqueue(Reply.text("Hello there", usage=USAGE), Reply.text("Streamed", usage=USAGE))
    entry_points = [metrics_plugin(), pricing_plugin({MODEL: SONNET_PRICE}), pipeline_provider()]
    async with started_app(
        settings(), entry_points=entry_points, http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            before = await scrape(client)
            response = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
            assert response.status_code == 200, response.text
            after_one = await scrape(client)
            response = await client.post(
                "/testprov/v1/messages", json={**MESSAGE, "stream": True}, headers=ANTHROPIC_HEADERS
            )
            assert response.status_code == 200
            after_two = await scrape(client)

    # The provider's one credential is account "acct-test" (not pooled: the credential's id).
    route = {"provider": "testprov", "account": "acct-test", "route": "/testprov/v1/messages"}
    requests = {**route, "model": MODEL, "status_class": "2xx"}
    assert value(before, "ccproxy_requests_total", **requests) is None
    assert value(after_one, "ccproxy_requests_total", **requests) == 1.0
    assert value(after_two, "ccproxy_requests_total", **requests) == 2.0

    tokens = {"provider": "testprov", "account": "acct-test", "model": MODEL}
    for families, times in ((after_one, 1), (after_two, 2)):
        assert value(families, "ccproxy_tokens_total", **tokens, type="input") == 1000 * times
        assert value(families, "ccproxy_tokens_total", **tokens, type="output") == 500 * times
        assert value(families, "ccproxy_tokens_total", **tokens, type="cache_read") == 2000 * times
        assert value(families, "ccproxy_tokens_total", **tokens, type="cache_write") == 300 * times
        assert value(families, "ccproxy_tokens_total", **tokens, type="reasoning") == 0
        assert value(families, "ccproxy_cost_usd_total", **tokens) == pytest.approx(
            float(COST * times), rel=1e-12
        )
        assert value(families, "ccproxy_request_duration_seconds_count", **route) == times
        assert value(families, "ccproxy_time_to_first_byte_seconds_count", **route) == times
        assert value(families, "ccproxy_in_flight_requests") == 0

    # Histogram buckets are cumulative, end at +Inf, and are the documented LLM-scale ones.
    buckets = [
        s
        for s in after_two["ccproxy_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert [s.labels["le"] for s in buckets] == [*(repr(b) for b in DURATION_BUCKETS), "+Inf"]
    assert buckets[-1].value == 2
    assert max(TTFB_BUCKETS) >= 120 and max(DURATION_BUCKETS) >= 600

    window = {"provider": "testprov", "account": "acct-test"}
    assert value(after_two, "ccproxy_subscription_window_used_ratio", **window, window="5h") == 0.25
    assert value(after_two, "ccproxy_subscription_window_used_ratio", **window, window="7d") == 0.5
    assert (
        value(
            after_two, "ccproxy_subscription_window_reset_timestamp_seconds", **window, window="5h"
        )
        == RESET_5H
    )
    assert value(after_two, "ccproxy_upstream_errors_total", provider="testprov") is None


async def test_upstream_errors_are_counted_by_kind_and_status_class() -> None:
    fake = strict_fake()
    fake.enqueue(Reply.error(429), Reply.error(529))
    entry_points = [metrics_plugin(), pipeline_provider()]
    async with started_app(
        settings(), entry_points=entry_points, http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            for expected in (429, 529):
                response = await client.post(
                    "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
                )
                assert response.status_code == expected
            # A request refused before it reaches the upstream is no upstream error.
            response = await client.post(
                "/testprov/v1/messages", json={"max_tokens": 1}, headers=ANTHROPIC_HEADERS
            )
            assert response.status_code == 400
            families = await scrape(client)
    errors = {s.labels["kind"]: s.value for s in families["ccproxy_upstream_errors"].samples}
    assert errors == {"upstream_429": 1.0, "upstream_529": 1.0}
    classes = {
        (s.labels["account"], s.labels["status_class"]): s.value
        for s in families["ccproxy_requests"].samples
    }
    # The request refused before any account was chosen belongs to no account.
    assert classes == {("acct-test", "4xx"): 1.0, ("acct-test", "5xx"): 1.0, ("", "4xx"): 1.0}
    # Without a pricing service every model reads "other" and nothing is priced.
    assert {s.labels["model"] for s in families["ccproxy_requests"].samples} == {"other"}
    assert families["ccproxy_cost_usd"].samples == []


async def test_in_flight_rises_on_start_and_falls_on_completion() -> None:
    gate = asyncio.Event()
    async with started_app(settings(), entry_points=[metrics_plugin(), tiny_provider(gate)]) as app:
        async with app_client(app) as client:
            pending = [
                asyncio.create_task(client.post(f"/tiny/items/{i}?model=m")) for i in range(3)
            ]
            in_flight: list[float | None] = []

            async def three_in_flight() -> bool:
                in_flight.append(value(await scrape(client), "ccproxy_in_flight_requests"))
                return in_flight[-1] == 3

            for _ in range(200):
                if await three_in_flight():
                    break
                await asyncio.sleep(0.01)
            assert in_flight[-1] == 3
            gate.set()
            await asyncio.gather(*pending)
            families = await scrape(client)
    assert value(families, "ccproxy_in_flight_requests") == 0
    assert (
        value(
            families,
            "ccproxy_requests_total",
            provider="tiny",
            account="",
            route="/tiny/items/{item_id}",
            model="other",
            status_class="2xx",
        )
        == 3
    )


async def test_codex_windows_become_ratios_and_absolute_resets() -> None:
    async with started_app(settings(), entry_points=[metrics_plugin(), tiny_provider()]) as app:
        async with app_client(app) as client:
            before = time.time()
            response = await client.post(
                "/tiny/items/1",
                params={
                    "rl": [
                        "x-codex-primary-used-percent=42.5",
                        "x-codex-primary-reset-after-seconds=600",
                        "x-codex-secondary-used-percent=7",
                    ]
                },
            )
            assert response.status_code == 200
            families = await scrape(client)
    used = {
        s.labels["window"]: s.value
        for s in families["ccproxy_subscription_window_used_ratio"].samples
    }
    assert used == {"primary": pytest.approx(0.425), "secondary": pytest.approx(0.07)}
    reset = value(
        families,
        "ccproxy_subscription_window_reset_timestamp_seconds",
        provider="tiny",
        account="",
        window="primary",
    )
    assert reset is not None
    assert before + 600 <= reset <= before + 600 + 30


async def test_metrics_does_not_count_itself() -> None:
    async with started_app(settings(), entry_points=[metrics_plugin(), tiny_provider()]) as app:
        async with app_client(app) as client:
            for _ in range(3):
                families = await scrape(client)
            assert (await client.get("/metrics/usage")).status_code == 404  # ledger disabled
            families = await scrape(client)
    assert families["ccproxy_requests"].samples == []
    assert families["ccproxy_request_duration_seconds"].samples == []
    assert value(families, "ccproxy_in_flight_requests") == 0
    # Only the always-present series: in flight, build info, two plugin infos, ledger drops.
    assert series(families) == 5


async def test_metrics_sits_behind_the_auth_token() -> None:
    async with started_app(
        settings(token="s3cret"), entry_points=[metrics_plugin(), tiny_provider()]
    ) as app:
        async with app_client(app) as client:
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.get("/metrics/usage")).status_code == 401
            assert (await client.get("/health")).status_code == 200
            wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            families = await scrape(client, headers={"authorization": "Bearer s3cret"})
            by_api_key = await client.get("/metrics", headers={"x-api-key": "s3cret"})
    assert by_api_key.status_code == 200
    assert value(families, "ccproxy_build_info", version=core_version) == 1.0


async def test_each_app_has_its_own_registry() -> None:
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as first:
        async with started_app(settings(), entry_points=entry_points) as second:
            async with app_client(first) as a, app_client(second) as b:
                await a.post("/tiny/items/1?model=m")
                await a.post("/tiny/items/2?model=m")
                await b.post("/tiny/items/3?model=m")
                first_families, second_families = await scrape(a), await scrape(b)
    labels = {
        "provider": "tiny",
        "account": "",
        "route": "/tiny/items/{item_id}",
        "model": "other",
        "status_class": "2xx",
    }
    assert value(first_families, "ccproxy_requests_total", **labels) == 2
    assert value(second_families, "ccproxy_requests_total", **labels) == 1


async def test_openmetrics_is_served_when_asked_for() -> None:
    async with started_app(settings(), entry_points=[metrics_plugin(), tiny_provider()]) as app:
        async with app_client(app) as client:
            await client.post("/tiny/items/1?model=m")
            response = await client.get(
                "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
            )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(response.text)}
    [sample] = [s for s in families["ccproxy_requests"].samples if s.name.endswith("_total")]
    assert sample.value == 1
