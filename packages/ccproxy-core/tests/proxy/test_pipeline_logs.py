"""What the pipeline logs: expected failures without tracebacks, and at DEBUG one useful line per
step of a request (route, mode, models, upstream status, timings) with no secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from provider_kit import ListTokenSource, Recorder, provider
from structlog.testing import capture_logs

from ccproxy.app import get_plugin_host
from ccproxy.config import Settings
from ccproxy.testing import FakeAnthropic, app_client, started_app

SETTINGS = Settings(plugins_disable_local_discovery=True)
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
TOKEN = "sk-ant-oat01-SECRETSECRETSECRET"
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "Hi"}],
}


def errors_and_tracebacks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["log_level"] in ("error", "critical") or "exc_info" in e]


async def test_a_client_that_disconnects_mid_body_is_logged_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Pipeline events below the stdlib level are skipped before structlog sees them.
    caplog.set_level(logging.DEBUG)
    async with started_app(
        SETTINGS, entry_points=[provider(token_source=ListTokenSource(TOKEN))]
    ) as app:
        recorder = Recorder()
        get_plugin_host(app).hooks.register(recorder)
        messages = iter(
            [
                {"type": "http.request", "body": b'{"model": "claude-', "more_body": True},
                {"type": "http.disconnect"},
            ]
        )
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/testprov/v1/messages",
            "raw_path": b"/testprov/v1/messages",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", b"500"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        with capture_logs() as events:
            await app(scope, receive, send)
    assert errors_and_tracebacks(events) == []
    [record] = recorder.records()
    assert record.error_kind == "client_disconnect"
    completed = [e for e in events if e["event"] == "request_completed"]
    assert completed[0]["error_kind"] == "client_disconnect"
    assert completed[0]["log_level"] == "info"


async def test_a_chunked_body_over_the_limit_is_a_413_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Pipeline events below the stdlib level are skipped before structlog sees them.
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        plugins_disable_local_discovery=True, server={"max_request_body_bytes": 1024}
    )
    async with started_app(
        settings, entry_points=[provider(token_source=ListTokenSource(TOKEN))]
    ) as app:
        recorder = Recorder()
        get_plugin_host(app).hooks.register(recorder)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "'
            for _ in range(8):
                yield b"x" * 512
            yield b'"}]}'

        with capture_logs() as events:
            async with app_client(app) as client:
                response = await client.post(
                    "/testprov/v1/messages", content=chunks(), headers=HEADERS
                )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert errors_and_tracebacks(events) == []
    # The request's record says what the client got, not a body the app failed to read.
    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (413, "body_too_large")


async def test_debug_logs_say_route_mode_models_status_and_timings_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Pipeline events below the stdlib level are skipped before structlog sees them.
    caplog.set_level(logging.DEBUG)
    fake = FakeAnthropic(accepted_tokens={TOKEN})
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource(TOKEN))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        with capture_logs() as events:
            async with app_client(app) as client:
                passthrough = await client.post(
                    "/testprov/v1/messages",
                    json=MESSAGE,
                    headers={**HEADERS, "authorization": f"Bearer {TOKEN}"},
                )
                converted = await client.post(
                    "/testprov/v1/chat/completions",
                    json={
                        "model": "claude-sonnet-4-6",
                        "messages": [{"role": "user", "content": "Hi"}],
                    },
                    headers={"x-api-key": TOKEN},
                )
    assert (passthrough.status_code, converted.status_code) == (200, 200)
    requests = [e for e in events if e["event"] == "upstream_request"]
    assert [(e["route"], e["mode"]) for e in requests] == [
        ("/testprov/v1/messages", "passthrough"),
        ("/testprov/v1/chat/completions", "converted"),
    ]
    assert all(e["log_level"] == "debug" for e in requests)
    assert requests[1]["client_format"] == "chat"
    assert requests[1]["upstream_model"] == "claude-sonnet-4-6"
    answers = [e for e in events if e["event"] == "upstream_response"]
    assert [e["status_code"] for e in answers] == [200, 200]
    assert all(isinstance(e["ttfb_s"], float) for e in answers)
    completed = [e for e in events if e["event"] == "request_completed"]
    assert all(e["duration_s"] >= e["ttfb_s"] for e in completed)
    assert TOKEN not in json.dumps(events, default=str)
