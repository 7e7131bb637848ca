"""An access token that expired at the provider, then 20 concurrent requests: one refresh.

The proxy must refresh once (single flight), retry every request with the new token, and
persist the rotated refresh token to Claude Code's credentials file; the provider refuses the
old refresh token from then on.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from ccproxy.testing import Reply
from integration_kit import CLAUDE_MODEL, Stack, provider_stack

CONCURRENCY = 20


async def post_message(client: httpx.AsyncClient, index: int) -> httpx.Response:
    return await client.post(
        "/claude/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={
            "model": CLAUDE_MODEL,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": f"request {index}"}],
        },
    )


async def refresh_at_fake(stack: Stack, refresh_token: str) -> httpx.Response:
    """A refresh grant sent straight to the fake OAuth server (not through the proxy)."""
    token_url = stack.extra["claude_token_url"]
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            token_url,
            json={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
            },
        )


@pytest.mark.parametrize(
    "how",
    ["expired-at-provider-only", "expired-in-file-too"],
)
async def test_twenty_concurrent_requests_share_one_refresh(tmp_path: Path, how: str) -> None:
    expires_in = 3600.0 if how == "expired-at-provider-only" else -60.0
    async with provider_stack(tmp_path, claude_expires_in=expires_in) as stack:
        old_access = stack.claude_creds["access_token"]
        old_refresh = stack.claude_creds["refresh_token"]
        stack.claude_oauth.expire_now(old_access)
        stack.anthropic.default_reply = Reply.text("ok", usage={"input": 5, "output": 1})
        async with httpx.AsyncClient(
            base_url=stack.url,
            timeout=30,
            limits=httpx.Limits(max_connections=CONCURRENCY),
        ) as client:
            async with asyncio.timeout(45):
                responses = await asyncio.gather(
                    *(post_message(client, i) for i in range(CONCURRENCY))
                )
        statuses = [r.status_code for r in responses]
        assert statuses == [200] * CONCURRENCY, [r.text for r in responses if r.status_code != 200]
        assert all(r.json()["content"][0]["text"] == "ok" for r in responses)
        assert stack.claude_oauth.refresh_count == 1, stack.log()

        # Every answered upstream call used the new token; refusals (if any) used the old one.
        answered = [r for r in stack.anthropic.requests_to("/v1/messages") if r.status == 200]
        assert len(answered) == CONCURRENCY
        new_tokens = {r.bearer_token for r in answered}
        assert len(new_tokens) == 1
        [new_access] = new_tokens
        assert new_access != old_access
        assert stack.claude_oauth.is_valid_access_token(new_access)
        refused = [r for r in stack.anthropic.requests_to("/v1/messages") if r.status != 200]
        assert all(r.status == 401 and r.bearer_token == old_access for r in refused)
        if how == "expired-at-provider-only":
            assert refused, "the proxy should only learn of the expiry from a 401"
        else:
            assert not refused, "an expired token in the file is refreshed before use"

        # The rotated tokens are in Claude Code's file.
        saved = json.loads(stack.claude_credentials_path.read_text())["claudeAiOauth"]
        assert saved["accessToken"] == new_access
        assert saved["refreshToken"] != old_refresh
        assert stack.claude_oauth.token_status(saved["refreshToken"]) == "valid"
        assert saved["expiresAt"] > 0
        assert stack.claude_oauth.token_status(old_refresh) == "used"

        # The provider refuses the old refresh token from now on.
        stale = await refresh_at_fake(stack, old_refresh)
        assert stale.status_code == 400
        assert stale.json()["error"] == "invalid_grant"
