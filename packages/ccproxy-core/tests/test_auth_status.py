"""``ccproxy.cli.auth_status``: one wording for every provider's status, and finding the server."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ccproxy.cli.auth_status import (
    ServerAnswer,
    credential_lines,
    in_words,
    query_server,
    server_url,
    windows_heading,
)
from ccproxy.config import Settings
from ccproxy.testing import LiveServer, free_port

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
LOGIN = "ccproxy auth login demo"


def facts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "path": "/home/me/.demo/auth.json",
        "has_credentials": True,
        "account_id": "acct-1",
        "plan": "pro",
        "expires_at": "2027-01-15T15:00:00+00:00",
        "expired": False,
        "refreshable": True,
    }
    base.update(overrides)
    return base


def test_logged_in_and_refreshable() -> None:
    assert credential_lines("Demo", facts(), login_command=LOGIN, now=NOW) == [
        "Demo credentials: /home/me/.demo/auth.json",
        "  account: acct-1",
        "  plan:    pro",
        "  expires: in 7 hours (2027-01-15 15:00 UTC)",
        "  refresh: automatic (a refresh token is stored)",
    ]


def test_expired_without_a_refresh_token() -> None:
    lines = credential_lines(
        "Demo",
        facts(expires_at="2027-01-15T07:00:00+00:00", expired=True, refreshable=False),
        login_command=LOGIN,
        extra=[("scopes", "a b")],
        now=NOW,
    )
    assert lines[3:] == [
        "  expires: EXPIRED 1 hour ago (2027-01-15 07:00 UTC)",
        "  refresh: not possible (no refresh token): log in again when it expires",
        "  scopes:  a b",
    ]


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({}, "no credentials stored there"),
        ({"error": "/home/me/.demo/auth.json is not valid JSON"}, "is not valid JSON"),
    ],
)
def test_logged_out_says_why_and_how_to_log_in(state: dict[str, str], reason: str) -> None:
    lines = credential_lines(
        "Demo", {"path": "/p", "has_credentials": False, **state}, login_command=LOGIN
    )
    assert lines[0] == "Demo credentials: /p"
    assert lines[1].startswith("  not logged in: ") and reason in lines[1]
    assert lines[2] == f"  log in with `{LOGIN}`"


def test_in_words() -> None:
    assert [in_words(s) for s in (0.5, 59, 3600 * 7 + 5, -90, 86400 * 2)] == [
        "now",
        "in 59 seconds",
        "in 7 hours",
        "1 minute ago",
        "in 2 days",
    ]


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:8123"),
        ("0.0.0.0", None, "http://127.0.0.1:8123"),
        ("::1", 9000, "http://[::1]:9000"),
        ("localhost", 9001, "http://localhost:9001"),
    ],
)
def test_server_url_from_the_configuration_or_the_port_option(
    host: str, port: int | None, expected: str
) -> None:
    settings = Settings(server={"host": host, "port": 8123})
    assert server_url(settings, port=port) == expected


def status_app() -> FastAPI:
    app = FastAPI()

    @app.get("/oauth/demo/status")
    async def status(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != "Bearer tok":
            return JSONResponse({"error": "no"}, status_code=401)
        return JSONResponse({"windows": {"5h": 12}})

    @app.get("/oauth/text/status")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("hello")

    return app


async def test_query_server_asks_the_configured_server_with_the_token() -> None:
    async with LiveServer(status_app()) as server:
        configured = Settings(server={"port": server.port}, security={"auth_token": "tok"})
        answer = await query_server(configured, "/oauth/demo/status", plugin="oauth_demo")
        by_option = await query_server(
            Settings(server={"port": free_port()}, security={"auth_token": "tok"}),
            "/oauth/demo/status",
            plugin="oauth_demo",
            port=server.port,
        )
        no_token = await query_server(
            Settings(server={"port": server.port}), "/oauth/demo/status", plugin="oauth_demo"
        )
        missing = await query_server(configured, "/oauth/other/status", plugin="oauth_other")
        text = await query_server(configured, "/oauth/text/status", plugin="oauth_text")
    assert answer == ServerAnswer(server.url, status={"windows": {"5h": 12}})
    assert by_option == answer
    assert no_token.problem == (
        f"the server at {server.url} refused the request (check security.auth_token)"
    )
    assert missing.problem == (
        f"the server at {server.url} answered HTTP 404 (is the oauth_other plugin running there?)"
    )
    assert text.problem == f"the server at {server.url} did not answer JSON"
    assert no_token.to_json()["reachable"] is True


async def test_no_server_is_said_with_a_hint() -> None:
    port = free_port()
    answer = await query_server(
        Settings(server={"port": port}), "/x", plugin="oauth_demo", timeout=2
    )
    assert answer.to_json() == {
        "url": f"http://127.0.0.1:{port}",
        "reachable": False,
        "status": None,
        "error": f"no server answered at http://127.0.0.1:{port} (ConnectError)",
    }
    assert windows_heading(answer, seen_at=None, has_windows=False) == (
        f"Rate-limit windows: unknown, no server answered at http://127.0.0.1:{port} "
        "(ConnectError). Start `ccproxy serve` (or pass --port); a running server keeps the "
        "last windows it saw."
    )


def test_windows_heading_of_an_answer() -> None:
    answer = ServerAnswer("http://127.0.0.1:8000", status={})
    assert windows_heading(answer, seen_at=None, has_windows=False) == (
        "Rate-limit windows (server at http://127.0.0.1:8000): none seen yet "
        "(they arrive with the first proxied request)."
    )
    assert windows_heading(
        answer, seen_at="2027-01-15T07:59:00+00:00", has_windows=True, now=NOW
    ) == (
        "Rate-limit windows (server at http://127.0.0.1:8000, last seen 1 minute ago "
        "(2027-01-15 07:59 UTC)):"
    )


@pytest.mark.parametrize(
    ("args", "scope", "label"),
    [
        ((300, "primary"), "", "5-hour window"),
        ((10080, "secondary"), "", "weekly window"),
        ((10080, "7d_opus"), "opus", "weekly window (opus)"),
        ((120, "tertiary"), "", "2 hours window (tertiary)"),
        ((None, "mystery"), "", "mystery window"),
    ],
)
def test_window_labels_are_worded_the_same_for_every_provider(
    args: tuple[int | None, str], scope: str, label: str
) -> None:
    from ccproxy.plugins.cli import window_label

    assert window_label(*args, scope=scope) == label
