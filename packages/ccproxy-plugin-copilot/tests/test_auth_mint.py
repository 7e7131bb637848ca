"""The ``oauth.copilot`` source: Copilot tokens minted from the GitHub token, held in memory."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from auth_kit import Clock, config, http_to, minted_source, own_file, write_own
from ccproxy.auth import CredentialError, ExchangedTokenSource
from ccproxy.testing import FakeCopilot
from ccproxy_plugin_copilot.github_api import CopilotTokenMint
from ccproxy_plugin_copilot.oauth_provider import oauth_provider


def setup(**fake_options: object) -> tuple[FakeCopilot, Clock, str]:
    clock = Clock()
    fake = FakeCopilot(clock=clock, **fake_options)  # type: ignore[arg-type]
    github_token = fake.issue_github_token("octocat")
    write_own(github_token)
    return fake, clock, github_token


async def test_one_mint_serves_many_requests_and_never_reaches_the_disk() -> None:
    fake, clock, github_token = setup()
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        tokens = {await source.access_token() for _ in range(20)}
    assert len(tokens) == 1 and tokens <= fake.copilot_tokens
    assert fake.mint_count == 1
    mint = [r for r in fake.requests if r.path == "/copilot_internal/v2/token"]
    assert mint[0].headers["authorization"] == f"token {github_token}"
    assert mint[0].headers["x-github-api-version"] == "2025-04-01"
    (copilot_token,) = tokens
    assert copilot_token not in own_file().read_text()
    facts = source.status()
    assert copilot_token not in json.dumps(facts) and github_token not in json.dumps(facts)
    assert facts["account_id"] == "octocat" and facts["plan"] == "monthly_subscriber"
    assert facts["exchanged"]["api_base"] == fake.api_url
    info = source.account()
    assert info.expires_at is not None
    assert info.expires_at.timestamp() == pytest.approx(clock() + 1800, abs=1)


async def test_a_new_token_after_refresh_in_and_before_expiry() -> None:
    fake, clock, _ = setup(refresh_in_seconds=1500, token_lifetime_seconds=1800)
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        first = await source.access_token()
        clock.advance(1499)
        assert await source.access_token() == first and fake.mint_count == 1
        clock.advance(1)
        second = await source.access_token()
        assert second != first and fake.mint_count == 2
        # A refresh_in past the margin: minted refresh_margin_seconds before expiry instead.
        fake.refresh_in_seconds = 10_000
        await source.refresh(None)
        clock.advance(1800 - 180 - 1)
        assert fake.mint_count == 3 and await source.access_token() in fake.copilot_tokens
        clock.advance(1)
        await source.access_token()
        assert fake.mint_count == 4


async def test_concurrent_requests_share_one_mint() -> None:
    fake, clock, _ = setup()
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        tokens = await asyncio.gather(*(source.access_token() for _ in range(25)))
        assert len(set(tokens)) == 1 and fake.mint_count == 1
        clock.advance(1500)
        again = await asyncio.gather(*(source.access_token() for _ in range(25)))
    assert len(set(again)) == 1 and again[0] != tokens[0] and fake.mint_count == 2


async def test_a_rejected_token_is_minted_again_once() -> None:
    fake, clock, _ = setup()
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        rejected = await source.access_token()
        fake.expire_copilot_tokens()  # the API answers 401 to it now
        fresh = await asyncio.gather(*(source.refresh(rejected) for _ in range(5)))
        assert len(set(fresh)) == 1 and fresh[0] in fake.copilot_tokens
        assert fake.mint_count == 2
        assert await source.refresh(rejected) == fresh[0] and fake.mint_count == 2
        assert await source.access_token() == fresh[0]


async def test_a_refused_github_token_is_a_lasting_failure() -> None:
    fake, clock, github_token = setup()
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        await source.access_token()
        fake.revoke_github_token(github_token)
        clock.advance(1500)
        with pytest.raises(CredentialError) as refused:
            await source.access_token()
    assert refused.value.lasting is True
    assert "HTTP 401" in str(refused.value) and "ccproxy auth login copilot" in str(refused.value)
    assert github_token not in str(refused.value)
    assert source.status()["exchanged"]["error_lasting"] is True


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_a_failing_mint_is_a_passing_failure(status: int) -> None:
    clock = Clock()
    write_own("gho_whatever")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": "busy"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(CredentialError) as busy:
            await minted_source(FakeCopilot(), http, clock).access_token()
    assert busy.value.lasting is False and f"HTTP {status}" in str(busy.value)


@pytest.mark.parametrize(
    "headers", [{"retry-after": "60"}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}]
)
async def test_a_rate_limiting_403_is_a_passing_failure(headers: dict[str, str]) -> None:
    clock = Clock()
    write_own("gho_whatever")

    def handler(request: httpx.Request) -> httpx.Response:
        message = "You have exceeded a secondary rate limit."
        return httpx.Response(403, headers=headers, json={"message": message})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(CredentialError) as limited:
            await minted_source(FakeCopilot(), http, clock).access_token()
    assert limited.value.lasting is False and "HTTP 403" in str(limited.value)


async def test_a_plain_403_is_a_lasting_failure() -> None:
    clock = Clock()
    write_own("gho_whatever")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, headers={"x-ratelimit-remaining": "4999"}, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(CredentialError) as refused:
            await minted_source(FakeCopilot(), http, clock).access_token()
    assert refused.value.lasting is True and "HTTP 403" in str(refused.value)


async def test_an_unreachable_mint_is_a_passing_failure_and_the_held_token_is_kept() -> None:
    fake, clock, _ = setup()
    reachable = True

    async def handler(request: httpx.Request) -> httpx.Response:
        if not reachable:
            raise httpx.ConnectError("down", request=request)
        async with http_to(fake) as inner:
            return await inner.send(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        source = minted_source(fake, http, clock)
        held = await source.access_token()
        reachable = False
        clock.advance(1500)  # due but still valid for 300 s
        assert await source.access_token() == held
        clock.advance(300)
        with pytest.raises(CredentialError) as down:
            await source.access_token()
    assert down.value.lasting is False and "could not be reached" in str(down.value)


async def test_the_running_servers_source_is_built_by_the_provider() -> None:
    fake, _, _ = setup()
    async with http_to(fake) as http:
        source = oauth_provider.token_source(config(), http)
        assert isinstance(source, ExchangedTokenSource)
        assert isinstance(source.exchange, CopilotTokenMint)
        assert await source.access_token() in fake.copilot_tokens
        assert source.account().api_base == fake.api_url


async def test_no_github_token_says_how_to_log_in() -> None:
    async with http_to(FakeCopilot()) as http:
        source = oauth_provider.token_source(config(), http)
        with pytest.raises(CredentialError, match="ccproxy auth login copilot"):
            await source.access_token()
