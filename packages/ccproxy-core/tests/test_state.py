"""Shared state: in one process, and in a real Redis shared by several apps (state.redis_url)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from ccproxy.config import Settings
from ccproxy.proxy.response_store import ResponseStore
from ccproxy.state import LocalState, RedisState, StateUnavailable, build_shared_state, redacted_url
from ccproxy.testing import app_client, started_app
from ccproxy.testing.network import free_port

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def redis_state(redis_url: str) -> AsyncIterator[RedisState]:
    state = RedisState(redis_url, key_prefix=f"test-{secrets.token_hex(4)}:")
    yield state
    await state.aclose()


class TestLocalState:
    async def test_values_expire_and_the_map_is_bounded(self) -> None:
        now = [0.0]
        state = LocalState(max_entries=2, clock=lambda: now[0])
        await state.set("a", b"1", ttl_seconds=10)
        await state.set("b", b"2", ttl_seconds=20)
        assert await state.get("a") == b"1"
        await state.set("c", b"3", ttl_seconds=20)  # "a" was written first: evicted
        assert await state.get("a") is None
        now[0] = 15.0
        assert await state.get("b") == b"2"
        now[0] = 20.0
        assert await state.get("b") is None
        await state.delete("c")
        assert await state.get("c") is None
        assert state.shared is False

    async def test_a_lock_excludes_and_a_waiter_gives_up_in_time(self) -> None:
        state = LocalState()
        async with state.lock("refresh", lease_seconds=5, wait_seconds=1):
            with pytest.raises(StateUnavailable, match=r"not acquired within 0\.05s"):
                async with state.lock("refresh", lease_seconds=5, wait_seconds=0.05):
                    pass
            async with state.lock("other", lease_seconds=5, wait_seconds=0.05):
                pass
        async with state.lock("refresh", lease_seconds=5, wait_seconds=0.05):
            pass


class TestRedisState:
    async def test_values_round_trip_and_expire(self, redis_state: RedisState) -> None:
        await redis_state.ping()
        await redis_state.set("k", b"\x00value\xff", ttl_seconds=60)
        assert await redis_state.get("k") == b"\x00value\xff"
        await redis_state.delete("k")
        assert await redis_state.get("k") is None
        await redis_state.set("short", b"x", ttl_seconds=0.05)
        for _ in range(250):  # Redis expires it server-side after 50 ms; wait up to 5 s
            if await redis_state.get("short") is None:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the key outlived its 50 ms time to live by 5 s")
        assert redis_state.shared is True

    async def test_two_clients_see_the_same_keys_and_exclude_each_other(
        self, redis_url: str
    ) -> None:
        prefix = f"test-{secrets.token_hex(4)}:"
        first, second = (RedisState(redis_url, key_prefix=prefix) for _ in range(2))
        try:
            await first.set("pin", b"work", ttl_seconds=60)
            assert await second.get("pin") == b"work"
            async with first.lock("refresh:claude", lease_seconds=10, wait_seconds=1):
                with pytest.raises(StateUnavailable, match="not acquired"):
                    async with second.lock("refresh:claude", lease_seconds=10, wait_seconds=0.1):
                        pass
            async with second.lock("refresh:claude", lease_seconds=10, wait_seconds=1):
                pass
        finally:
            await first.aclose()
            await second.aclose()

    async def test_an_unreachable_server_is_a_clear_error_without_the_password(self) -> None:
        url = f"redis://user:s3cret-pass@127.0.0.1:{free_port()}/0"
        state = RedisState(url, timeout_seconds=1)
        try:
            with pytest.raises(StateUnavailable) as info:
                await state.get("k")
        finally:
            await state.aclose()
        message = str(info.value)
        assert "127.0.0.1" in message and "ConnectionError" in message
        assert "s3cret-pass" not in message and "s3cret-pass" not in repr(state)


def test_redacted_url_hides_only_the_password() -> None:
    assert redacted_url("redis://u:pw@h:6380/1") == "redis://u:***@h:6380/1"
    assert redacted_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redacted_url("rediss://:pw@h/0") == "rediss://:***@h/0"


def test_build_shared_state_picks_redis_only_with_a_url() -> None:
    assert isinstance(build_shared_state(None), LocalState)
    assert isinstance(build_shared_state("redis://127.0.0.1:1/0"), RedisState)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://127.0.0.1:6379", "must start with redis://"),
        ("redis://", "needs a host"),
        ("unix://", "needs the socket's path"),
    ],
)
def test_bad_redis_urls_are_refused(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings.model_validate({"state": {"redis_url": value}})


def test_the_redis_url_is_a_secret_in_settings() -> None:
    settings = Settings.model_validate({"state": {"redis_url": "redis://:pw@127.0.0.1:6379/0"}})
    assert "pw" not in repr(settings.state)
    assert settings.model_dump(mode="json")["state"]["redis_url"] == "**********"


async def test_two_apps_share_the_response_store_through_redis(redis_url: str) -> None:
    settings = Settings.model_validate(
        {
            "plugins_disable_local_discovery": True,
            "state": {"redis_url": redis_url, "key_prefix": f"test-{secrets.token_hex(4)}:"},
        }
    )
    async with started_app(settings) as first, started_app(settings) as second:
        writer = first.state.plugin_host.shared_state
        reader = second.state.plugin_host.shared_state
        await ResponseStore(state=writer).put("resp_1", [{"n": 1}], [{"o": 1}])
        assert await ResponseStore(state=reader).history("resp_1") == [{"n": 1}, {"o": 1}]
        async with app_client(second) as client:
            health = (await client.get("/health")).json()
    [check] = health["checks"]["state:redis"]
    assert check["status"] == "pass" and check["componentType"] == "datastore"


async def test_health_warns_when_redis_is_down() -> None:
    settings = Settings.model_validate(
        {
            "plugins_disable_local_discovery": True,
            "state": {"redis_url": f"redis://:hidden@127.0.0.1:{free_port()}/0"},
        }
    )
    async with started_app(settings) as app, app_client(app) as client:
        response = await client.get("/health")
    body = response.json()
    [check] = body["checks"]["state:redis"]
    assert check["status"] == "warn" and "ConnectionError" in check["output"]
    assert body["status"] == "warn" and "hidden" not in response.text
