"""A proxy from the environment that answers nonsense is a 502 in the client's dialect, never 500."""

from __future__ import annotations

import asyncio
import io

import pytest
from provider_kit import ListTokenSource, Recorder, provider
from structlog.testing import capture_logs

from ccproxy.app import get_plugin_host
from ccproxy.config import LoggingSettings, Settings
from ccproxy.logging import configure_logging
from ccproxy.testing import app_client, started_app

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
CHAT = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]}

# What a "SOCKS5 proxy" answers to the greeting (and, once a method is chosen, to CONNECT).
NONSENSE = {
    "an-http-server": [b"HTTP/1.1 400 Bad\r\n\r\n"],
    "no-acceptable-method": [b"\x05\xff"],
    "garbage-connect-reply": [b"\x05\x00", b"\x05\x00\x00\x09garbage"],
    "hangs-up": [],
}


@pytest.mark.parametrize("replies", NONSENSE.values(), ids=NONSENSE.keys())
async def test_a_socks5_proxy_speaking_nonsense_is_a_502_in_each_dialect(
    replies: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def nonsense(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for reply in replies:
                await reader.read(512)
                writer.write(reply)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(nonsense, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{port}")
    settings = Settings(plugins_disable_local_discovery=True)
    try:
        entry = provider(base_url="http://upstream.test", token_source=ListTokenSource("tok"))
        with capture_logs() as events:
            async with started_app(settings, entry_points=[entry]) as app:
                recorder = Recorder()
                get_plugin_host(app).hooks.register(recorder)
                async with app_client(app, timeout=30) as client:
                    anthropic_style = await client.post(
                        "/testprov/v1/messages", json=MESSAGE, headers=HEADERS
                    )
                    openai_style = await client.post("/testprov/v1/chat/completions", json=CHAT)
    finally:
        server.close()
        await server.wait_closed()

    assert anthropic_style.status_code == openai_style.status_code == 502
    assert anthropic_style.json()["type"] == "error"
    assert anthropic_style.json()["error"]["type"] == "api_error"
    assert openai_style.json()["error"]["type"] == "server_error"
    assert "could not be reached" in openai_style.json()["error"]["message"]
    assert {r.error_kind for r in recorder.records()} == {"upstream_unreachable"}
    assert [e for e in events if e["log_level"] == "error" or "exc_info" in e] == []


@pytest.mark.usefixtures("fresh_logging")
async def test_a_socks_proxy_password_never_reaches_the_debug_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpcore's DEBUG trace of the SOCKS5 handshake names the proxy's user and password."""
    password = "s3cretProxyPassw0rd"

    async def refuse_every_method(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(512)
        writer.write(b"\x05\xff")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse_every_method, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("ALL_PROXY", f"socks5://alice:{password}@127.0.0.1:{port}")
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="json"), stream=stream)
    try:
        entry = provider(base_url="http://upstream.test", token_source=ListTokenSource("tok"))
        async with started_app(
            Settings(plugins_disable_local_discovery=True), entry_points=[entry]
        ) as app:
            async with app_client(app, timeout=30) as client:
                response = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    finally:
        server.close()
        await server.wait_closed()

    assert response.status_code == 502
    output = stream.getvalue()
    assert "setup_socks5_connection" in output  # the trace that carries the credentials ran
    assert "alice" in output
    assert password not in output
