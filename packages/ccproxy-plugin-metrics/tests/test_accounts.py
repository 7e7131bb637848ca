"""The ``account`` label: a provider's pool of accounts, one series and one set of windows each."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from ccproxy.testing import AccountWindows, FakeAnthropic, Reply, app_client, started_app
from ccproxy_plugin_metrics.labels import OTHER
from ccproxy_plugin_metrics.recorder import ACCOUNT_LIMIT
from metrics_kit import (
    ANTHROPIC_HEADERS,
    SONNET_PRICE,
    label_values,
    metrics_plugin,
    pipeline_provider,
    pricing_plugin,
    scrape,
    settings,
    tiny_provider,
    value,
)

MODEL = "claude-sonnet-4-6"
MESSAGE = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
USAGE = {"input": 100, "output": 50}


async def test_each_account_of_a_pool_has_its_own_series_and_windows() -> None:
    # The 5-hour window of each token: "default" allows 10 requests, "work" 4.
    fake = FakeAnthropic(
        accepted_tokens={"tok-default", "tok-work"},
        require_oauth_beta=False,
        require_claude_code_system=False,
        account_windows=AccountWindows({"tok-default": 10, "tok-work": 4}),
    )
    fake.enqueue(*(Reply.text("Hi", usage=USAGE) for _ in range(4)))
    entry_points = [
        metrics_plugin(),
        pricing_plugin({MODEL: SONNET_PRICE}),
        pipeline_provider(accounts={"default": "tok-default", "work": "tok-work"}),
    ]
    async with started_app(
        settings(), entry_points=entry_points, http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            for _ in range(4):
                response = await client.post(
                    "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
                )
                assert response.status_code == 200, response.text
            families = await scrape(client)

    served = Counter(request.bearer_token for request in fake.requests)
    assert served == {"tok-default": 2, "tok-work": 2}
    route = {"provider": "testprov", "route": "/testprov/v1/messages"}
    for account in ("default", "work"):
        requests = {**route, "account": account, "model": MODEL, "status_class": "2xx"}
        assert value(families, "ccproxy_requests_total", **requests) == 2
        assert (
            value(families, "ccproxy_request_duration_seconds_count", **route, account=account) == 2
        )
        assert (
            value(families, "ccproxy_time_to_first_byte_seconds_count", **route, account=account)
            == 2
        )
        tokens = {"provider": "testprov", "account": account, "model": MODEL}
        assert value(families, "ccproxy_tokens_total", **tokens, type="input") == 200
        assert value(families, "ccproxy_cost_usd_total", **tokens) == pytest.approx(
            2 * (100 * 3 + 50 * 15) / 1e6
        )
    assert label_values(families, "ccproxy_requests", "account") == {"default", "work"}

    # Two requests each: 2/10 of default's window and 2/4 of work's, neither overwriting the other.
    used = {
        (s.labels["account"], s.labels["window"]): s.value
        for s in families["ccproxy_subscription_window_used_ratio"].samples
    }
    assert used[("default", "5h")] == pytest.approx(0.2)
    assert used[("work", "5h")] == pytest.approx(0.5)
    resets = label_values(
        families, "ccproxy_subscription_window_reset_timestamp_seconds", "account"
    )
    assert resets == {"default", "work"}


async def test_accounts_are_capped_per_provider() -> None:
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            for i in range(ACCOUNT_LIMIT + 8):
                response = await client.post(
                    f"/tiny/items/{i}",
                    params={
                        "account": f"acct-{i}",
                        "rl": "x-codex-primary-used-percent=5",
                    },
                )
                assert response.status_code == 200
            # Another provider's accounts have room of their own; no account reads empty.
            for account in ("a", "b", None):
                params = {"provider": "other-tiny", **({"account": account} if account else {})}
                await client.post("/tiny/items/x", params=params)
            families = await scrape(client)

    def accounts(provider: str, family: str) -> set[str]:
        return {
            s.labels["account"]
            for s in families[family].samples
            if s.labels["provider"] == provider
        }

    capped = accounts("tiny", "ccproxy_requests")
    assert len(capped) == ACCOUNT_LIMIT + 1
    assert OTHER in capped
    assert accounts("tiny", "ccproxy_subscription_window_used_ratio") == capped
    assert (
        value(
            families,
            "ccproxy_requests_total",
            provider="tiny",
            account=OTHER,
            route="/tiny/items/{item_id}",
            model=OTHER,
            status_class="2xx",
        )
        == 8
    )
    assert accounts("other-tiny", "ccproxy_requests") == {"a", "b", ""}
