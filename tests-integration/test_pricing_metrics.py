"""The real pricing and metrics plugins with the Claude provider: cost appears for a known model."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, LiveServer, Reply
from support import running_proxy

MODEL = "claude-sonnet-4-5"  # $3 / $15 per million input / output tokens in the bundled snapshot


async def test_a_proxied_request_moves_metrics_cost_and_the_ledger(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    creds = oauth.mint_credentials()
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text(
        json.dumps(FakeClaudeOAuth.credentials_file(creds))
    )
    fake = FakeAnthropic(oauth=oauth)
    fake.enqueue(Reply.text("Paris.", usage={"input": 1000, "output": 500}))
    async with LiveServer(fake) as upstream, LiveServer(oauth) as oauth_server:
        with running_proxy(
            tmp_path,
            f"plugins.claude.base_url={upstream.url}",
            f"plugins.oauth_claude.token_url={oauth_server.url}/v1/oauth/token",
            "plugins.pricing.refresh_interval_hours=0",
            f"plugins.metrics.ledger_path={tmp_path / 'usage.sqlite3'}",
        ) as proxy:
            async with httpx.AsyncClient(base_url=proxy, timeout=30) as client:
                response = await client.post(
                    "/claude/v1/messages",
                    headers={"anthropic-version": "2023-06-01"},
                    json={
                        "model": MODEL,
                        "max_tokens": 100,
                        "messages": [{"role": "user", "content": "Capital of France?"}],
                    },
                )
                assert response.status_code == 200, response.text
                price = (await client.get(f"/pricing/models/{MODEL}")).json()
                exposition = (await client.get("/metrics")).text
                usage = (
                    await client.get("/metrics/usage", params={"group_by": "model", "since": "1d"})
                ).json()
    assert response.json()["content"][0]["text"] == "Paris."
    assert price["prices_per_million"]["input"] == 3.0
    expected_cost = Decimal("0.0105")  # 1000 × $3e-6 + 500 × $15e-6
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }
    account = ("account", "default")  # the pool's name for Claude Code's own credential
    cost = samples[("ccproxy_cost_usd_total", (account, ("model", MODEL), ("provider", "claude")))]
    assert Decimal(str(cost)).quantize(Decimal("0.000001")) == expected_cost
    assert (
        samples[
            (
                "ccproxy_tokens_total",
                (account, ("model", MODEL), ("provider", "claude"), ("type", "input")),
            )
        ]
        == 1000
    )
    assert (
        samples[
            (
                "ccproxy_tokens_total",
                (account, ("model", MODEL), ("provider", "claude"), ("type", "output")),
            )
        ]
        == 500
    )
    requests = samples[
        (
            "ccproxy_requests_total",
            (
                account,
                ("model", MODEL),
                ("provider", "claude"),
                ("route", "/claude/v1/messages"),
                ("status_class", "2xx"),
            ),
        )
    ]
    assert requests == 1
    text = json.dumps(usage)
    assert MODEL in text
    assert "0.0105" in text
