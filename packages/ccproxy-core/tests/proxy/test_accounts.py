"""Several accounts per provider, end to end: affinity, spread, cooldown, failover, overage.

A test provider in front of the strict fakes, whose accounts (bearer tokens) have
request-limited windows: the fake refuses the request after the last one allowed with 429 and
its upstream's window headers, as the real upstreams do.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from provider_kit import Accounts, FailingTokenSource, ListTokenSource, provider

from ccproxy.auth import CredentialError
from ccproxy.config import Settings
from ccproxy.proxy.accounts import AccountPool, AllAccountsCoolingDown, affinity_key
from ccproxy.proxy.rate_windows import (
    DEFAULT_COOLDOWN_SECONDS,
    cooldown_seconds,
    served_from_overage,
)
from ccproxy.state import LocalState
from ccproxy.testing import (
    AccountWindows,
    FakeAnthropic,
    FakeCodex,
    Reply,
    app_client,
    started_app,
)

pytestmark = pytest.mark.timeout(60)

SETTINGS = Settings(plugins_disable_local_discovery=True)
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


def message(session: str, text: str = "Hi") -> tuple[dict[str, Any], dict[str, str]]:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }
    return body, {**HEADERS, "x-claude-code-session-id": session}


def served_tokens(fake: FakeAnthropic | FakeCodex) -> list[str | None]:
    return [record.bearer_token for record in fake.requests]


async def post(client: httpx.AsyncClient, session: str) -> httpx.Response:
    body, headers = message(session)
    return await client.post("/testprov/v1/messages", json=body, headers=headers)


def two_accounts() -> Accounts:
    return Accounts(default=ListTokenSource("tok-a"), work=ListTokenSource("tok-b"))


async def test_a_conversation_stays_on_its_account_and_new_ones_spread() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"})
    entry = provider(token_source=two_accounts())
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            for session in ("s1", "s2", "s1", "s2", "s1"):
                assert (await post(client, session)).status_code == 200
    first, second, *rest = served_tokens(fake)
    assert {first, second} == {"tok-a", "tok-b"}  # two conversations, two accounts
    assert rest == [first, second, first]  # each conversation kept its account


async def test_fill_first_uses_one_account_until_it_cools_down() -> None:
    windows = AccountWindows({"tok-a": 2})
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"}, account_windows=windows)
    entry = provider(token_source=two_accounts(), account_strategy="fill_first")
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            statuses = [(await post(client, f"s{n}")).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 200]
    # Two on the default account, its third try refused (429) and served by "work" instead,
    # then "work" only: the cooling account is not tried again.
    assert served_tokens(fake) == ["tok-a", "tok-a", "tok-a", "tok-b", "tok-b"]
    assert windows.refused["tok-a"] == 1


async def test_a_429_cools_the_account_until_its_window_resets_and_the_client_never_sees_it() -> (
    None
):
    windows = AccountWindows({"tok-a": 1}, window_seconds=600)
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"}, account_windows=windows)
    entry = provider(token_source=two_accounts(), account_strategy="fill_first")
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            first = await post(client, "s1")
            moved = await post(client, "s1")  # default refuses: failover to "work"
            stays = await post(client, "s1")  # default is cooling: straight to "work"
            accounts = (await client.get("/api/accounts")).json()
    assert [first.status_code, moved.status_code, stays.status_code] == [200, 200, 200]
    assert served_tokens(fake) == ["tok-a", "tok-a", "tok-b", "tok-b"]
    default, work = accounts["testprov"]
    assert default["name"] == "default" and default["state"] == "cooling_down"
    until = time.mktime(time.strptime(default["cooldown_until"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 500 < until - time.mktime(time.gmtime()) <= 601  # the fake window's reset
    assert work["state"] == "ready" and work["cooldown_until"] is None
    assert work["windows"]["anthropic-ratelimit-unified-status"] == "allowed"


async def test_when_every_account_cools_down_the_client_gets_429_without_an_upstream_call() -> None:
    windows = AccountWindows({"tok-a": 0, "tok-b": 0}, window_seconds=120)
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"}, account_windows=windows)
    entry = provider(token_source=two_accounts())
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            relayed = await post(client, "s1")  # both tried once, both refuse
            calls = len(fake.requests)
            refused = await post(client, "s2")
    assert relayed.status_code == 429 and calls == 2
    assert relayed.json()["error"]["type"] == "rate_limit_error"
    assert refused.status_code == 429 and len(fake.requests) == calls  # upstream not called
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "cooling down" in refused.json()["error"]["message"]
    assert 100 <= int(refused.headers["retry-after"]) <= 120


async def test_an_unusable_credential_is_skipped_as_invalid_until_it_is_re_read() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"})
    accounts = Accounts(default=FailingTokenSource("tok-x"), work=ListTokenSource("tok-b"))
    entry = provider(token_source=accounts, account_strategy="fill_first")
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            assert (await post(client, "s1")).status_code == 200
            invalid = (await client.get("/api/accounts")).json()["testprov"][0]
            accounts.sources["default"] = ListTokenSource("tok-a")  # the file changed
            assert (await post(client, "s2")).status_code == 200
            ready = (await client.get("/api/accounts")).json()["testprov"][0]
    assert invalid["state"] == "invalid" and "revoked" not in str(invalid["windows"])
    assert ready["state"] == "ready"
    assert served_tokens(fake) == ["tok-b", "tok-a"]


class UnreachableTokenEndpoint(ListTokenSource):
    """A credential whose refresh cannot reach the token endpoint just now."""

    async def access_token(self) -> str:
        raise CredentialError("token endpoint unreachable", lasting=False)


async def test_a_refresh_that_fails_for_now_rests_the_account_instead_of_invalidating_it() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok-b"})
    accounts = Accounts(default=UnreachableTokenEndpoint("tok-a"), work=ListTokenSource("tok-b"))
    alone = Accounts(default=UnreachableTokenEndpoint("tok-a"))
    transport = httpx.ASGITransport(app=fake)
    pooled = provider(token_source=accounts, account_strategy="fill_first")
    async with started_app(SETTINGS, entry_points=[pooled], http_transport=transport) as app:
        async with app_client(app) as client:
            served = await post(client, "s1")
            [resting, work] = (await client.get("/api/accounts")).json()["testprov"]
    single = provider(token_source=alone)
    async with started_app(SETTINGS, entry_points=[single], http_transport=transport) as app:
        async with app_client(app) as client:
            unavailable = await post(client, "s1")
    assert served.status_code == 200 and served_tokens(fake) == ["tok-b"]
    assert (resting["name"], resting["state"]) == ("default", "cooling_down")
    assert "could not be refreshed" in resting["reason"] and work["state"] == "ready"
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "30"
    assert unavailable.json()["type"] == "error"  # Anthropic's error envelope
    assert "try again in 30 seconds" in unavailable.json()["error"]["message"]
    assert served_tokens(fake) == ["tok-b"]  # the upstream never saw the resting account


async def test_answers_paid_from_overage_retire_the_account_unless_allowed() -> None:
    overage = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(int(time.time()) + 900),
        "anthropic-ratelimit-unified-overage-status": "allowed",
        "anthropic-ratelimit-unified-overage-in-use": "true",
    }
    for allow, expected in ((False, ["tok-a", "tok-b"]), (True, ["tok-a", "tok-a"])):
        fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"})
        fake.enqueue(Reply.text("paid", headers=overage), Reply.text("next"))
        entry = provider(
            token_source=two_accounts(), account_strategy="fill_first", allow_overage=allow
        )
        transport = httpx.ASGITransport(app=fake)
        async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
            async with app_client(app) as client:
                assert (await post(client, "s1")).status_code == 200
                assert (await post(client, "s2")).status_code == 200
        assert served_tokens(fake) == expected, allow


async def test_previous_response_id_goes_to_the_account_that_produced_it() -> None:
    fake = FakeCodex(accepted_tokens={"tok-a": "acct-a", "tok-b": "acct-b"})
    accounts = Accounts(
        default=ListTokenSource("tok-a", account_id="acct-a"),
        work=ListTokenSource("tok-b", account_id="acct-b"),
    )
    entry = provider(upstream_format="responses", token_source=accounts, native_prefix="gpt-")
    transport = httpx.ASGITransport(app=fake)
    async with started_app(SETTINGS, entry_points=[entry], http_transport=transport) as app:
        async with app_client(app) as client:
            url = "/testprov/v1/responses"
            first = (await client.post(url, json={"model": "gpt-5", "input": "one"})).json()
            for _ in range(3):
                follow = await client.post(
                    url,
                    json={"model": "gpt-5", "input": "more", "previous_response_id": first["id"]},
                )
                assert follow.status_code == 200
    owner, *followers = served_tokens(fake)
    assert followers == [owner] * 3


class TestCooldownSeconds:
    def test_claude_rejected_windows_give_the_latest_reset(self) -> None:
        now = 1_000_000.0
        headers = {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(int(now) + 300),
            "anthropic-ratelimit-unified-7d-status": "rejected",
            "anthropic-ratelimit-unified-7d-reset": str(int(now) + 7200),
            "anthropic-ratelimit-unified-5h-status": "allowed",
            "anthropic-ratelimit-unified-5h-reset": str(int(now) + 99999),
        }
        assert cooldown_seconds(headers, now=now) == 7200

    def test_codex_exhausted_windows_and_error_bodies(self) -> None:
        headers = {
            "x-codex-primary-used-percent": "100",
            "x-codex-primary-reset-after-seconds": "1800",
            "x-codex-secondary-used-percent": "40",
            "x-codex-secondary-reset-after-seconds": "90000",
        }
        assert cooldown_seconds(headers) == 1800
        body = b'{"error": {"type": "usage_limit_reached", "resets_in_seconds": 2400}}'
        assert cooldown_seconds({}, body) == 2400
        assert cooldown_seconds({}, b'{"error": {"resets_at": 1000600}}', now=1_000_000) == 600

    def test_retry_after_then_the_default_and_nonsense_is_ignored(self) -> None:
        assert cooldown_seconds({"Retry-After": "42"}) == 42
        when = "Wed, 21 Oct 2015 07:28:00 GMT"
        assert cooldown_seconds({"retry-after": when}, now=1445412480.0 - 120) == 120
        assert cooldown_seconds({"retry-after": "soon"}, b"not json") == DEFAULT_COOLDOWN_SECONDS
        assert cooldown_seconds({"retry-after": "-5"}) == 1  # never less than a second

    def test_overage(self) -> None:
        assert served_from_overage({"anthropic-ratelimit-unified-overage-in-use": "true"})
        assert not served_from_overage({"anthropic-ratelimit-unified-status": "allowed"})
        assert not served_from_overage(
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-overage-status": "rejected",
            }
        )


async def test_the_pool_reports_the_earliest_reset_when_all_cool_down() -> None:
    now = [1000.0]
    pool = AccountPool("p", LocalState(clock=lambda: now[0]), clock=lambda: now[0])
    sources: dict[str, Any] = {"default": ListTokenSource("a"), "b": ListTokenSource("b")}
    await pool.cool_down("default", 300, "429")
    await pool.cool_down("b", 60, "429")
    with pytest.raises(AllAccountsCoolingDown) as info:
        await pool.choose(sources)
    assert info.value.retry_after == 60
    now[0] += 61
    assert (await pool.choose(sources)).name == "b"


def test_affinity_keys_per_dialect() -> None:
    user_id = "user_abc_account_1111_session_2222"
    assert affinity_key("anthropic", {"metadata": {"user_id": user_id}}, {}) == "session:2222"
    assert affinity_key("anthropic", {}, {"x-claude-code-session-id": "s9"}) == "session:s9"
    assert affinity_key("responses", {"prompt_cache_key": "k1"}, {"session_id": "x"}) == "k1"
    assert affinity_key("responses", {}, {"session_id": "sess"}) == "sess"
    assert affinity_key("anthropic", {}, {}) is None


async def test_two_instances_share_cooldowns_and_pins_through_redis(redis_url: str) -> None:
    """Behind a load balancer: what one instance learned, the other acts on."""
    state = {"redis_url": redis_url, "key_prefix": f"accounts-{time.monotonic_ns()}:"}
    settings = Settings.model_validate({"plugins_disable_local_discovery": True, "state": state})
    windows = AccountWindows({"tok-a": 1}, window_seconds=900)
    fake = FakeAnthropic(accepted_tokens={"tok-a", "tok-b"}, account_windows=windows)
    transport = httpx.ASGITransport(app=fake)

    def instance() -> Any:
        entry = provider(token_source=two_accounts(), account_strategy="fill_first")
        return started_app(settings, entry_points=[entry], http_transport=transport)

    async with instance() as one, instance() as two:
        async with app_client(one) as first, app_client(two) as second:
            assert (await post(first, "s1")).status_code == 200  # default serves
            assert (await post(first, "s1")).status_code == 200  # default 429s: moved to work
            assert (await post(second, "s2")).status_code == 200  # default is cooling for both
            accounts = (await second.get("/api/accounts")).json()["testprov"]
    assert served_tokens(fake) == ["tok-a", "tok-a", "tok-b", "tok-b"]
    assert windows.refused["tok-a"] == 1  # the second instance never tried the cooling account
    assert [row["state"] for row in accounts] == ["cooling_down", "ready"]
