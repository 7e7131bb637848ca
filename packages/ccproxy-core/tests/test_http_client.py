"""The shared upstream client: injected transport, timeouts, limits, no redirects, no env proxies."""

from __future__ import annotations

import httpx
import pytest

from ccproxy import __version__
from ccproxy.config import HttpSettings
from ccproxy.http import (
    DEFAULT_USER_AGENT,
    UpstreamClient,
    build_http_client,
    http_limits,
    send_upstream,
)


async def test_injected_transport_serves_every_request_even_with_proxy_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An ambient proxy variable must never route a test around its fake upstream.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        response = await client.post("https://api.anthropic.com/v1/messages", json={"a": 1})
        assert client.trust_env is False

    assert response.json() == {"ok": True}
    assert [str(r.url) for r in seen] == ["https://api.anthropic.com/v1/messages"]
    assert seen[0].headers["user-agent"] == DEFAULT_USER_AGENT == f"ccproxy/{__version__}"


async def test_redirects_are_relayed_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "https://elsewhere.example/"})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        response = await client.get("https://chatgpt.com/backend-api/codex/responses")
    assert response.status_code == 307
    assert response.headers["location"] == "https://elsewhere.example/"


async def test_timeouts_and_limits_come_from_settings() -> None:
    settings = HttpSettings(
        connect_timeout_seconds=3,
        read_timeout_seconds=42,
        max_connections=7,
        max_keepalive_connections=2,
        backend="httpx",
    )
    async with build_http_client(settings) as client:
        assert client.timeout == httpx.Timeout(connect=3, read=42, write=42, pool=3)
        assert client.trust_env is True  # proxies and CA bundle from the environment
        # httpx does not expose the pool publicly; read it to prove the limits reached it.
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert (pool._max_connections, pool._max_keepalive_connections) == (7, 2)
    assert http_limits(settings) == httpx.Limits(max_connections=7, max_keepalive_connections=2)


async def test_lean_send_puts_the_same_request_on_the_wire_as_httpx_send() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"n": len(seen)})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        assert isinstance(client, UpstreamClient)
        url = "https://api.anthropic.com/v1/messages?beta=true"
        headers = {"x-api-key": "k", "content-type": "application/json"}
        lean = await send_upstream(client, "POST", httpx.URL(url), headers, b'{"a":1}')
        await lean.aread()
        full = await client.post(url, headers=headers, content=b'{"a":1}')

    assert lean.json() == {"n": 1} and full.json() == {"n": 2}
    assert lean.request is seen[0]
    assert [str(r.url) for r in seen] == [url, url]
    assert seen[0].headers.multi_items() == seen[1].headers.multi_items()
    assert seen[0].content == seen[1].content == b'{"a":1}'
    assert seen[0].extensions["timeout"] == seen[1].extensions["timeout"]


async def test_lean_send_keeps_and_replays_upstream_cookies() -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        url = httpx.URL("https://chatgpt.com/backend-api/codex/responses")
        for _ in range(2):
            response = await send_upstream(client, "POST", url, {}, b"{}")
            await response.aclose()
    assert cookies == [None, "session=abc"]


async def test_a_plain_httpx_client_still_works_as_the_upstream_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=request.headers["x-h"])

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await send_upstream(
            client, "GET", httpx.URL("http://up.test/"), {"x-h": "1"}, b""
        )
        await response.aread()
    assert response.text == "1"


async def test_lean_send_replaces_a_default_header_where_httpx_would() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        url = "https://api.anthropic.com/v1/messages"
        headers = {"User-Agent": "claude-cli/2.1.197", "x-app": "cli"}
        await (await send_upstream(client, "POST", httpx.URL(url), headers, b"{}")).aclose()
        await client.post(url, headers=headers, content=b"{}")
    lean, full = seen
    assert lean.headers["user-agent"] == "claude-cli/2.1.197"
    assert lean.headers.raw == full.headers.raw  # names, their case and their order
