"""``GET /metrics/dashboard/data`` and the page's routes, through the app in-process."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ccproxy.plugins import TOKEN_COOKIE
from ccproxy.testing import app_client, started_app
from dashboard_kit import CLAUDE_MODEL, CODEX_MODEL, live_proxy, send_traffic
from metrics_kit import metrics_plugin, settings

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
            ]
            answers = [await client.get("/metrics/dashboard/data", params=q) for q in queries]
            usage = await client.get("/metrics/usage", params={"since": "99999999999d"})
            empty = await client.get(
                "/metrics/dashboard/data",
                params={"range": "custom", "since": "2025-01-01", "until": "2025-01-31"},
            )
    assert [a.status_code for a in answers] == [400] * 5
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
