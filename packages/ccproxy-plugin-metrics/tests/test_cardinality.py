"""Label values stay bounded whatever URLs and models clients use."""

from __future__ import annotations

from decimal import Decimal

from ccproxy.testing import app_client, started_app
from ccproxy_plugin_metrics.labels import OTHER, BoundedLabel, status_class
from metrics_kit import (
    SONNET_PRICE,
    FakePricing,
    Price,
    label_values,
    metrics_plugin,
    pricing_plugin,
    scrape,
    series,
    settings,
    tiny_provider,
    value,
)

CHEAP = Price(Decimal(1), Decimal(2), Decimal(0), Decimal(0))


async def test_a_thousand_urls_and_models_make_a_handful_of_series() -> None:
    pricing = FakePricing({"known-a": SONNET_PRICE, "known-b": CHEAP})
    entry_points = [metrics_plugin(), pricing_plugin(pricing), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            for i in range(1000):
                model = ("known-a", "known-b")[(i // 10) % 2] if i % 10 == 0 else f"model-{i}"
                status = 500 if i % 7 == 0 else 200
                response = await client.post(
                    f"/tiny/items/{i}-{i * 31}",
                    params={"model": model, "status": status, "duration": i / 100},
                )
                assert response.status_code == status
            families = await scrape(client)

    assert label_values(families, "ccproxy_requests", "route") == {"/tiny/items/{item_id}"}
    assert label_values(families, "ccproxy_requests", "model") == {"known-a", "known-b", OTHER}
    assert label_values(families, "ccproxy_tokens", "model") == {"known-a", "known-b", OTHER}
    assert sum(s.value for s in families["ccproxy_requests"].samples) == 1000
    # 3 models x 2 status classes; 5 token types x 3 models; 2 priced models; 2 histograms of
    # 14 buckets + sum + count; in flight, build info, plugin info x3, ledger drops.
    assert len(families["ccproxy_requests"].samples) == 6
    assert series(families) == 6 + 15 + 2 + 2 * 16 + 1 + 1 + 3 + 1
    # Only the priced known models carry a cost, and it is exact: 50 requests each.
    assert label_values(families, "ccproxy_cost_usd", "model") == {"known-a", "known-b"}
    assert value(
        families, "ccproxy_cost_usd_total", provider="tiny", account="", model="known-b"
    ) == (50 * (10 * 1 + 5 * 2) / 1_000_000)
    # One price table lookup per request (the model label and the cost both come from it).
    assert pricing.lookups == 1000


def test_bounded_label_caps_distinct_values() -> None:
    label = BoundedLabel(3)
    assert [label(v) for v in ("a", "b", "a", "c", "d", "e", "b")] == [
        "a",
        "b",
        "a",
        "c",
        OTHER,
        OTHER,
        "b",
    ]
    assert len(label) == 3
    assert label(None) == OTHER
    assert label("") == OTHER


def test_status_classes() -> None:
    assert [status_class(c) for c in (200, 204, 301, 400, 429, 500, 529, 0, 600)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
        "5xx",
        OTHER,
        OTHER,
    ]
