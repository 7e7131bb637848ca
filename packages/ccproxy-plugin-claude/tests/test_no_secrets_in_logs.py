"""No token appears in any log line: a proxied request, a 401, a refresh and a retry."""

from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from claude_kit import ClaudeWorld, anthropic_sdk, openai_sdk

HI = [{"role": "user", "content": "Hi"}]


def tokens_seen(world: ClaudeWorld) -> set[str]:
    """Every token the OAuth fake issued (the minted ones and the refreshed ones)."""
    return set(world.oauth.issued_tokens)


async def run_traffic(world: ClaudeWorld) -> None:
    world.oauth.expire_now(world.access_token)  # 401 -> refresh -> retry
    async with world.app() as app:
        await anthropic_sdk(app).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16,
            messages=HI,  # type: ignore[arg-type]
        )
        stream = await anthropic_sdk(app).messages.create(
            model="sonnet",
            max_tokens=16,
            messages=HI,
            stream=True,  # type: ignore[arg-type]
        )
        async for _ in stream:
            pass
        await openai_sdk(app).chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]


async def test_no_token_in_stdlib_logs(
    world: ClaudeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await run_traffic(world)
    assert world.oauth.refresh_count == 1
    lines = [record.getMessage() for record in caplog.records]
    assert any("request_completed" in line for line in lines)
    assert any("token_refreshed" in line for line in lines)
    text = "\n".join([caplog.text, *lines, *(repr(r.args) for r in caplog.records)])
    for token in tokens_seen(world):
        assert token not in text


async def test_no_token_in_structlog_events_before_masking(
    world: ClaudeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # events below the level are skipped before structlog
    with capture_logs() as events:
        await run_traffic(world)
    assert world.oauth.refresh_count == 1
    names = [event["event"] for event in events]
    assert "request_completed" in names
    assert "token_refreshed" in names
    dumped = repr(events)
    for token in tokens_seen(world):
        assert token not in dumped
