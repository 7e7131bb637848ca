"""``GET /metrics/dashboard/data`` and the page's routes, through the app in-process."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy.plugins import TOKEN_COOKIE
from ccproxy.testing import app_client, started_app
from ccproxy_plugin_metrics.timeline import OTHER_GROUP, SERIES_GROUPS
from dashboard_kit import CLAUDE_MODEL, CODEX_MODEL, live_proxy, send_traffic
from metrics_kit import Price, metrics_plugin, pricing_plugin, settings, tiny_provider

pytestmark = pytest.mark.timeout(30)
BUCKET_FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


async def test_data_matches_usage_and_splits_the_range_into_buckets(tmp_path: Path) -> None:
    async with live_proxy(tmp_path / "usage.sqlite3") as proxy:
        sent = await send_traffic(proxy.upstreams, proxy.url)
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            data = (await client.get("/metrics/dashboard/data", params={"range": "24h"})).json()
            usage = (await client.get("/metrics/usage", params={"since": "24h"})).json()
            by_route = (
                await client.get("/metrics/dashboard/data", params={"group_by": "route"})
            ).json()
            schema = (await client.get("/openapi.json")).json()

    assert {g["key"]: g["requests"] for g in data["groups"]} == sent
    assert data["groups"] == usage["groups"]
    assert data["total"] == usage["total"]
    claude = next(g for g in data["groups"] if g["key"] == CLAUDE_MODEL)
    assert claude["errors"] == 1
    codex = next(g for g in data["groups"] if g["key"] == CODEX_MODEL)
    assert codex["reasoning_tokens"] == 24
    # 24 hours in half-hour buckets; their sums are the totals, to the last decimal.
    assert data["bucket_seconds"] == 1800
    assert 48 <= len(data["buckets"]) <= 49
    for name in BUCKET_FIELDS:
        assert sum(b[name] for b in data["buckets"]) == data["total"][name]
    assert sum(Decimal(b["cost_usd"]) for b in data["buckets"]) == Decimal(
        data["total"]["cost_usd"]
    )
    assert [f["status_code"] for f in data["failing"]] == [529]
    assert data["failing"][0]["route"] == "/claude/v1/messages"
    assert len(data["slowest"]) == 5
    durations = [r["duration_s"] for r in data["slowest"]]
    assert durations == sorted(durations, reverse=True)
    assert set(data["slowest"][0]) == {
        "at", "provider", "route", "model", "status_code", "error_kind", "duration_s",
        "ttfb_s", "streaming",
    }  # fmt: skip
    windows = {(w["provider"], w["window"]): w for w in data["windows"]}
    assert windows[("claude", "5h")]["used_ratio"] == 0.25
    assert windows[("claude", "5h")]["resets_in_s"] > 0
    assert windows[("codex", "primary")]["used_ratio"] == pytest.approx(0.12)
    assert {g["key"] for g in by_route["groups"]} == {
        "/claude/v1/messages",
        "/codex/v1/responses",
    }
    assert "/metrics/dashboard/data" in schema["paths"]
    documented = schema["paths"]["/metrics/dashboard/data"]["get"]["responses"]["200"]
    body_schema = documented["content"]["application/json"]["schema"]["properties"]
    assert "bucket_groups" in body_schema
    assert "groups" in body_schema["buckets"]["items"]["properties"]
    assert "account" in body_schema["windows"]["items"]["properties"]

    # Each bucket is split by group: the series are the groups (most cost first); within a
    # bucket they add up to it, and over the range to each group's totals, to the last decimal.
    assert data["bucket_groups"] == [CLAUDE_MODEL, CODEX_MODEL]
    assert by_route["bucket_groups"] == ["/claude/v1/messages", "/codex/v1/responses"]
    for body in (data, by_route):
        assert_buckets_add_up_per_group(body)


def assert_buckets_add_up_per_group(body: dict[str, Any]) -> None:
    """Groups within a bucket sum to the bucket; a series over all buckets sums to its groups."""
    for bucket in body["buckets"]:
        assert set(bucket["groups"]) <= set(body["bucket_groups"])
        for name in BUCKET_FIELDS:
            assert sum(g[name] for g in bucket["groups"].values()) == bucket[name]
        assert sum(Decimal(g["cost_usd"]) for g in bucket["groups"].values()) == Decimal(
            bucket["cost_usd"]
        )
    shown = set(body["bucket_groups"]) - {OTHER_GROUP}
    for series in body["bucket_groups"]:
        members = [
            g for g in body["groups"] if (g["key"] if g["key"] in shown else OTHER_GROUP) == series
        ]
        assert members, series
        in_buckets = [b["groups"][series] for b in body["buckets"] if series in b["groups"]]
        for name in BUCKET_FIELDS:
            assert sum(g[name] for g in in_buckets) == sum(g[name] for g in members), series
        assert sum(Decimal(g["cost_usd"]) for g in in_buckets) == sum(
            Decimal(g["cost_usd"]) for g in members
        )


async def test_groups_past_the_first_few_share_one_series(tmp_path: Path) -> None:
    # Seven models, each dearer than the last: the five dearest get a series each.
    models = [f"m{i}" for i in range(SERIES_GROUPS + 2)]
    prices = {
        model: Price(Decimal(i + 1), Decimal("0.7"), Decimal(0), Decimal(0))
        for i, model in enumerate(models)
    }
    entry_points = [metrics_plugin(), pricing_plugin(prices), tiny_provider()]
    async with started_app(settings(tmp_path / "usage.sqlite3"), entry_points=entry_points) as app:
        async with app_client(app) as client:
            for i, model in enumerate(models):
                for j in range(i + 1):
                    response = await client.post(f"/tiny/items/{i}-{j}", params={"model": model})
                    assert response.status_code == 200
            data = (await client.get("/metrics/dashboard/data")).json()

    assert data["bucket_groups"] == [*reversed(models[2:]), OTHER_GROUP]
    assert_buckets_add_up_per_group(data)
    other = [b["groups"][OTHER_GROUP] for b in data["buckets"] if OTHER_GROUP in b["groups"]]
    assert sum(g["requests"] for g in other) == 1 + 2
    # m0 once, m1 twice: 10 input tokens at $1 or $2, 5 output at $0.7, per million.
    per_request = [Decimal(10 * (i + 1)) + 5 * Decimal("0.7") for i in range(2)]
    expected = (per_request[0] + 2 * per_request[1]) / 1_000_000
    assert sum(Decimal(g["cost_usd"]) for g in other) == expected


async def test_bad_ranges_and_groupings_are_refused(tmp_path: Path) -> None:
    async with started_app(
        settings(tmp_path / "usage.sqlite3"), entry_points=[metrics_plugin()]
    ) as app:
        async with app_client(app) as client:
            queries = [
                {"range": "1y"},
                {"group_by": "day"},
                {"range": "custom", "since": "2025-02-01", "until": "2025-01-01"},
                {"range": "custom", "since": "yesterday"},
                {"range": "custom", "since": "99999999999d"},
                {"range": "custom", "since": "0001-01-01T00:00:00+14:00"},
                {"range": "custom", "until": "9999-12-31T23:59:59-14:00"},
            ]
            answers = [await client.get("/metrics/dashboard/data", params=q) for q in queries]
            usage = await client.get("/metrics/usage", params={"since": "99999999999d"})
            empty = await client.get(
                "/metrics/dashboard/data",
                params={"range": "custom", "since": "2025-01-01", "until": "2025-01-31"},
            )
    assert [a.status_code for a in answers] == [400] * 7
    assert usage.status_code == 400
    assert empty.status_code == 200
    body = empty.json()
    assert body["total"]["requests"] == 0
    assert body["bucket_seconds"] == 86400
    assert len(body["buckets"]) == 31
    assert body["windows"] == []


async def test_without_the_ledger_the_data_route_says_why() -> None:
    async with started_app(settings(None), entry_points=[metrics_plugin()]) as app:
        async with app_client(app) as client:
            answer = await client.get("/metrics/dashboard/data")
    assert answer.status_code == 404
    assert "ledger_enabled" in answer.text


async def test_with_a_token_the_page_signs_in_and_keeps_the_token_in_a_cookie(
    tmp_path: Path,
) -> None:
    async with started_app(
        settings(tmp_path / "usage.sqlite3", token="dash-token"), entry_points=[metrics_plugin()]
    ) as app:
        async with app_client(app) as client:
            login = await client.get("/metrics/dashboard")
            login_js = await client.get("/metrics/dashboard/login.js")
            refused = await client.get("/metrics/dashboard/data")
            script = await client.get("/metrics/dashboard/dashboard.js")
            wrong = await client.post(
                "/metrics/dashboard/session", json={}, headers={"authorization": "Bearer nope"}
            )
            session = await client.post(
                "/metrics/dashboard/session",
                json={},
                headers={"authorization": "Bearer dash-token"},
            )
            page = await client.get("/metrics/dashboard")
            data = await client.get("/metrics/dashboard/data")
    assert login.status_code == 200
    assert 'id="login"' in login.text
    assert "totals" not in login.text
    assert login_js.status_code == 200
    assert refused.status_code == 401
    assert script.status_code == 401
    assert wrong.status_code == 401
    assert session.status_code == 200
    cookie = session.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=dash-token")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert 'id="totals"' in page.text
    assert data.status_code == 200


async def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    async with started_app(
        settings(tmp_path / "usage.sqlite3"), entry_points=[metrics_plugin()]
    ) as app:
        async with app_client(app) as client:
            page = await client.get("/metrics/dashboard")
            assets = [
                await client.get(f"/metrics/dashboard/{name}")
                for name in ("dashboard.js", "dashboard.css", "login.js")
            ]
            missing = await client.get("/metrics/dashboard/other.js")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    for response in (page, *assets):
        assert response.status_code == 200
        assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in response.text
    assert missing.status_code == 404
