"""Refreshing from a loopback source: success, every kind of failure, the schedule, the cache."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ccproxy.app import get_plugin_host
from ccproxy.plugins import Usage
from ccproxy.testing import LiveServer, free_port, started_app
from ccproxy_plugin_pricing.runtime import REFRESH_TASK, PricingRuntime
from ccproxy_plugin_pricing.table import load_snapshot, table_from_litellm, write_cache
from pricing_kit import (
    PROBE,
    PriceSource,
    cache_file,
    litellm_document,
    pricing_entry_points,
    pricing_settings,
    url_of,
)

MILLION = Usage(input=1_000_000)


def runtime_of(app: FastAPI) -> PricingRuntime:
    runtime = get_plugin_host(app).registry.get_runtime("pricing")
    assert isinstance(runtime, PricingRuntime)
    return runtime


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_refresh_swaps_the_table_and_writes_the_cache_atomically(tmp_path: Path) -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    async with LiveServer(source.app) as server:
        settings = pricing_settings(source_url=url_of(server.url))
        async with started_app(settings, entry_points=pricing_entry_points()) as app:
            runtime = runtime_of(app)
            book = runtime.book
            snapshot = book.table
            assert snapshot.origin == "snapshot"
            assert book.cost(PROBE, MILLION) is None  # the snapshot has no such model

            outcome = await runtime.refresher.refresh()

            assert outcome.ok, outcome.error
            assert outcome.models == 25
            assert book.table is not snapshot
            assert book.table.origin == "remote"
            assert book.table.source_url == url_of(server.url)
            assert book.cost(PROBE, MILLION) == Decimal("7")
            assert book.cost("claude-opus-4-8", MILLION) is None  # the old table is gone whole
            health = await runtime.health_check()
            assert health["status"] == "pass"
            assert "download from" in health["output"]
    assert source.hits == 1

    path = cache_file(tmp_path)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    document = json.loads(path.read_text())
    assert document["source_url"] == url_of(server.url)
    assert document["models"][PROBE]["input_cost_per_token"] == 7e-06
    assert "bedrock/claude-probe-1" not in document["models"]
    datetime.fromisoformat(document["fetched_at"])


async def test_cached_table_is_served_on_the_next_start(tmp_path: Path) -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    settings = pricing_settings()
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(settings, **kwargs) as app:
        assert (await runtime_of(app).refresher.refresh()).ok
    async with started_app(settings, entry_points=pricing_entry_points()) as app:
        book = runtime_of(app).book
        assert book.table.origin == "cache"
        assert book.cost(PROBE, MILLION) == Decimal("7")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"<html>rate limited</html>", 200, "not JSON"),
        (b"[]", 200, "must be a JSON object"),
        (b"{}", 200, "fewer than the 20 required"),
        (json.dumps(litellm_document(extra_models=5)).encode(), 200, "6 Anthropic/OpenAI"),
        (json.dumps(litellm_document(probe_input="cheap")).encode(), 200, "non-negative number"),
        (json.dumps(litellm_document()).encode()[:-40], 200, "not JSON"),  # truncated
        (b'{"error": "boom"}', 500, "answered HTTP 500"),
    ],
)
async def test_a_bad_download_keeps_the_current_table_and_health_warns(
    tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(pricing_settings(), **kwargs) as app:
        runtime = runtime_of(app)
        assert (await runtime.refresher.refresh()).ok
        good = runtime.book.table
        cached = cache_file(tmp_path).read_bytes()

        source.serve_bytes(body, status)
        outcome = await runtime.refresher.refresh()

        assert not outcome.ok
        assert reason in (outcome.error or "")
        assert runtime.book.table is good
        assert runtime.book.cost(PROBE, MILLION) == Decimal("7")
        assert cache_file(tmp_path).read_bytes() == cached
        health = await runtime.health_check()
        assert health["status"] == "warn"
        assert reason in health["output"]
        assert "serving 25 models from the download from" in health["output"]
        assert "days old" in health["output"]
        assert health["details"]["last_refresh"]["ok"] is False


async def test_a_redirected_source_is_followed() -> None:
    body = json.dumps(litellm_document(probe_input=7e-06)).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved.json":
            return httpx.Response(200, content=body)
        return httpx.Response(302, headers={"location": "http://127.0.0.1:9/moved.json"})

    kwargs = {"entry_points": pricing_entry_points(), "http_transport": httpx.MockTransport(handle)}
    async with started_app(pricing_settings(), **kwargs) as app:
        runtime = runtime_of(app)
        assert (await runtime.refresher.refresh()).ok
        assert runtime.book.cost(PROBE, MILLION) == Decimal("7")


async def test_a_refused_connection_keeps_the_snapshot_and_health_warns(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/model_prices_and_context_window.json"
    async with started_app(
        pricing_settings(source_url=dead), entry_points=pricing_entry_points()
    ) as app:
        runtime = runtime_of(app)
        snapshot = runtime.book.table
        outcome = await runtime.refresher.refresh()
        assert not outcome.ok
        assert outcome.error is not None and "Connect" in outcome.error
        assert runtime.book.table is snapshot
        assert runtime.book.cost("claude-opus-4-8", MILLION) == Decimal("5")
        health = await runtime.health_check()
        assert health["status"] == "warn"
        assert f"price refresh from {dead} failed" in health["output"]
        assert "bundled snapshot (litellm 1.110.2)" in health["output"]
        assert health["details"]["table"]["origin"] == "snapshot"
        assert health["details"]["table"]["age_seconds"] >= 0
    assert not cache_file(tmp_path).exists()


async def test_a_download_that_takes_too_long_fails_and_keeps_the_table() -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    settings = pricing_settings(fetch_timeout_seconds=0.1)
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": httpx.MockTransport(stall)}
    async with started_app(settings, **kwargs) as app:
        runtime = runtime_of(app)
        outcome = await runtime.refresher.refresh()
        assert not outcome.ok
        assert outcome.error == "TimeoutError: timed out"
        assert runtime.book.table.origin == "snapshot"


async def test_an_oversized_download_is_refused() -> None:
    source = PriceSource()
    settings = pricing_settings(max_download_bytes=1000)
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(settings, **kwargs) as app:
        outcome = await runtime_of(app).refresher.refresh()
        assert not outcome.ok
        assert "more than 1000 bytes" in (outcome.error or "")


async def test_an_unwritable_cache_still_swaps_but_warns(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    source = PriceSource(litellm_document(probe_input=7e-06))
    settings = pricing_settings(cache_dir=str(blocker / "ccproxy"))
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(settings, **kwargs) as app:
        runtime = runtime_of(app)
        outcome = await runtime.refresher.refresh()
        assert outcome.ok
        assert outcome.cache_error is not None
        assert runtime.book.cost(PROBE, MILLION) == Decimal("7")
        health = await runtime.health_check()
        assert health["status"] == "warn"
        assert "cache file was not written" in health["output"]


async def test_interval_zero_never_fetches() -> None:
    source = PriceSource()
    async with LiveServer(source.app) as server:
        settings = pricing_settings(
            source_url=url_of(server.url),
            refresh_interval_hours=0,
            initial_refresh_delay_seconds=0,
        )
        async with started_app(settings, entry_points=pricing_entry_points()) as app:
            runtime = runtime_of(app)
            await asyncio.sleep(0.3)
            assert not runtime.refresher.is_due()
            await runtime.refresher.refresh_if_due()
            tasks = [t.spec.name for t in get_plugin_host(app).scheduler.tasks()]
            assert REFRESH_TASK not in tasks
            assert runtime.book.table.origin == "snapshot"
            assert (await runtime.health_check())["status"] == "pass"
    assert source.hits == 0


async def test_the_scheduled_task_refreshes_a_snapshot_in_the_background() -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    async with LiveServer(source.app) as server:
        settings = pricing_settings(source_url=url_of(server.url), initial_refresh_delay_seconds=0)
        async with started_app(settings, entry_points=pricing_entry_points()) as app:
            runtime = runtime_of(app)
            (task,) = [t for t in get_plugin_host(app).scheduler.tasks() if t.plugin == "pricing"]
            assert task.spec.name == REFRESH_TASK
            assert task.spec.interval_seconds == 3600
            await wait_for(lambda: runtime.book.table.origin == "remote")
            assert runtime.book.cost(PROBE, MILLION) == Decimal("7")
    assert source.hits == 1


async def test_the_scheduled_task_leaves_a_fresh_cache_alone(tmp_path: Path) -> None:
    fresh = table_from_litellm(
        litellm_document(probe_input=3e-06),
        source_url="http://127.0.0.1/elsewhere.json",
        fetched_at=datetime.now(UTC),
        min_models=1,
    )
    write_cache(cache_file(tmp_path), fresh)
    source = PriceSource()
    async with LiveServer(source.app) as server:
        settings = pricing_settings(source_url=url_of(server.url), initial_refresh_delay_seconds=0)
        async with started_app(settings, entry_points=pricing_entry_points()) as app:
            runtime = runtime_of(app)
            assert runtime.book.table.origin == "cache"
            (task,) = [t for t in get_plugin_host(app).scheduler.tasks() if t.plugin == "pricing"]
            await wait_for(lambda: task.runs >= 1)
            assert not runtime.refresher.is_due()
            old = datetime.now(UTC) + timedelta(hours=25)
            assert runtime.refresher.is_due(now=old)
            assert runtime.book.cost(PROBE, MILLION) == Decimal("3")
    assert source.hits == 0


async def test_start_up_serves_at_once_and_never_waits_on_the_network() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200)

    settings = pricing_settings(initial_refresh_delay_seconds=0)
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": httpx.MockTransport(hang)}
    started = time.monotonic()
    async with started_app(settings, **kwargs) as app:
        assert time.monotonic() - started < 5
        assert runtime_of(app).book.cost("claude-opus-4-8", MILLION) == Decimal("5")


def write_cache_document(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


async def test_start_up_prefers_a_cache_newer_than_the_snapshot_only(tmp_path: Path) -> None:
    snapshot_time = load_snapshot().as_of
    older = table_from_litellm(
        litellm_document(probe_input=3e-06),
        source_url="http://127.0.0.1/old.json",
        fetched_at=snapshot_time - timedelta(days=1),
        min_models=1,
    )
    write_cache(cache_file(tmp_path), older)
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        runtime = runtime_of(app)
        assert runtime.book.table.origin == "snapshot"
        assert (await runtime.health_check())["status"] == "pass"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"fetched_at": "2999-01-01T00:00:00+00:00", "models": {}}), "fewer than"),
        (json.dumps({"models": litellm_document()}), "no valid generated_at or fetched_at"),
    ],
)
async def test_an_unusable_cache_is_ignored_with_a_warning(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        runtime = runtime_of(app)
        assert runtime.book.table.origin == "snapshot"
        health = await runtime.health_check()
        assert health["status"] == "warn"
        assert f"cache file {path} ignored" in health["output"]
        assert reason in health["output"]
