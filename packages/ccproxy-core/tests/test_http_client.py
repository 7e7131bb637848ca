"""The shared upstream client: injected transport, timeouts, limits, trust, no redirects, no cookies."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trustme
import truststore

from ccproxy import __version__
from ccproxy.config import HttpSettings
from ccproxy.http import DEFAULT_USER_AGENT, build_http_client, http_limits, send_upstream
from ccproxy.http_proxies import proxy_url
from ccproxy.http_tls import client_ssl_context


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
        url = httpx.URL("https://chatgpt.com/backend-api/codex/responses")
        response = await send_upstream(client, "POST", url, {}, b"{}")
        await response.aclose()
    assert response.status_code == 307
    assert response.headers["location"] == "https://elsewhere.example/"


async def test_timeouts_and_limits_come_from_settings() -> None:
    settings = HttpSettings(
        connect_timeout_seconds=3,
        read_timeout_seconds=42,
        pool_timeout_seconds=7,
        max_connections=7,
        max_keepalive_connections=2,
    )
    async with build_http_client(settings) as client:
        assert client.timeout == httpx.Timeout(connect=3, read=42, write=42, pool=7)
    assert http_limits(settings) == httpx.Limits(max_connections=7, max_keepalive_connections=2)


async def test_send_upstream_puts_the_same_request_on_the_wire_as_httpx() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={"n": len(seen)})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        url = "https://api.anthropic.com/v1/messages?beta=true"
        headers = {"x-api-key": "k", "content-type": "application/json"}
        ours = await send_upstream(client, "POST", httpx.URL(url), headers, b'{"a":1}')
        await ours.aread()
        plain = await client.post(url, headers=headers, content=b'{"a":1}')

    assert ours.json() == {"n": 1} and plain.json() == {"n": 2}
    assert [str(r.url) for r in seen] == [url, url]
    assert seen[0].headers.raw == seen[1].headers.raw  # names, their case and their order
    assert seen[0].content == seen[1].content == b'{"a":1}'
    assert seen[0].extensions["timeout"] == seen[1].extensions["timeout"]


async def test_request_headers_replace_the_client_defaults() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        url = httpx.URL("https://api.anthropic.com/v1/messages")
        headers = {"User-Agent": "claude-cli/2.1.197", "content-length": "999"}
        await (await send_upstream(client, "POST", url, headers, b"{}")).aclose()
    assert seen[0].headers.get_list("user-agent") == ["claude-cli/2.1.197"]
    assert seen[0].headers.get_list("content-length") == ["2"]  # always the body's own


async def test_upstream_cookies_are_never_kept_nor_replayed() -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=account-a; Path=/"})

    async with build_http_client(HttpSettings(), transport=httpx.MockTransport(handler)) as client:
        url = httpx.URL("https://chatgpt.com/backend-api/codex/responses")
        for _ in range(2):
            await (await send_upstream(client, "POST", url, {}, b"{}")).aclose()
        await client.get(url)
        client.cookies.set("planted", "1", domain="chatgpt.com")  # even set by hand
        await client.get(url)
        client.cookies = {"assigned": "1"}
        await client.get(url)
        assert not client.cookies
    assert cookies == [None, None, None, None, None]


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


async def test_a_request_body_cannot_be_sent_twice() -> None:
    attempts: list[bytes] = []

    class RetryingTransport(httpx.AsyncBaseTransport):
        """What a transport that retries would do: read the request body a second time."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            for _ in range(2):
                attempts.append(b"".join([part async for part in request.stream]))  # type: ignore[union-attr]
            return httpx.Response(200)

    async with build_http_client(HttpSettings(), transport=RetryingTransport()) as client:
        with pytest.raises(httpx.StreamConsumed):
            await send_upstream(client, "POST", httpx.URL("https://up.test/"), {}, b"once")
    assert attempts == [b"once"]


@pytest.fixture
def no_ssl_cert_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.mark.usefixtures("no_ssl_cert_variables")
@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_tls_verifies_with_truststore_on_macos_and_windows(platform: str) -> None:
    context = client_ssl_context(platform)
    assert isinstance(context, truststore.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


@pytest.mark.usefixtures("no_ssl_cert_variables")
def test_tls_loads_the_openssl_store_once_elsewhere() -> None:
    context = client_ssl_context("linux")
    assert not isinstance(context, truststore.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    defaults = ssl.get_default_verify_paths()
    assert context.cert_store_stats()["x509_ca"] > 0 or defaults.capath


@pytest.mark.parametrize("platform", ["darwin", "linux"])
def test_tls_trusts_only_ssl_cert_file_when_set(
    platform: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = client_ssl_context(platform)
    assert not isinstance(context, truststore.SSLContext)
    assert context.cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:3128", "http://127.0.0.1:3128"),
        ("proxy.corp:8080", "http://proxy.corp:8080"),
        (" http://proxy.corp:8080 ", "http://proxy.corp:8080"),
        ("https://proxy.corp", "https://proxy.corp"),
        ("socks5h://127.0.0.1:1080", "socks5h://127.0.0.1:1080"),
        ("socks4://127.0.0.1:1080", None),
        ("http://", None),
    ],
)
def test_proxy_variables_are_normalised_or_ignored(value: str, expected: str | None) -> None:
    url = proxy_url(value)
    assert (None if url is None else str(url).rstrip("/")) == expected
