"""A Claude client that leaves mid-request: during a token refresh, and during the 429 failover.

Both the proxy and the fakes run on real uvicorn on 127.0.0.1, so the client's disconnect is a
real one and the proxy talks to its upstream over real sockets. ``Held`` keeps one kind of
upstream answer back until the test has made the client leave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.testing import capture_logs

from ccproxy.app import get_plugin_host
from ccproxy.plugins import AuthTokenRefreshed, HookEvent, HookPayload, RequestRecord
from ccproxy.testing import AccountWindows, FakeAnthropic, LiveServer, started_app
from claude_kit import ClaudeWorld, Recorder, by_path, entry_points, write_account

pytestmark = pytest.mark.timeout(60)

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Hi"}],
}
HEADERS = {"anthropic-version": "2023-06-01"}


class Held:
    """In front of ``app``: the first ``hold`` message of a request ``matches`` picks waits for
    :attr:`release`; :attr:`arrived` is set when one is being held."""

    def __init__(self, app: ASGIApp, matches: Callable[[Scope], bool], hold: str) -> None:
        self.app = app
        self.matches = matches
        self.hold = hold
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.matches(scope):
            await self.app(scope, receive, send)
            return

        async def held_send(message: Message) -> None:
            if message["type"] == self.hold and not self.arrived.is_set():
                self.arrived.set()
                await self.release.wait()
            await send(message)

        await self.app(scope, receive, held_send)


def bearer(scope: Scope) -> str:
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    return headers.get("authorization", "").removeprefix("Bearer ")


def live_settings(world: ClaudeWorld, upstream: LiveServer, **claude: Any) -> None:
    world.claude = {"base_url": upstream.url, **claude}
    world.oauth_settings = {"token_url": f"{upstream.url}/v1/oauth/token"}


class Watching(Recorder):
    """Completed requests and token refreshes, each of which a test can wait for."""

    def __init__(self) -> None:
        super().__init__()
        self.events.append(HookEvent.AUTH_TOKEN_REFRESHED)
        self.refreshed = asyncio.Event()
        self.changed = asyncio.Condition()

    async def __call__(self, event: HookPayload) -> None:
        await super().__call__(event)
        if isinstance(event, AuthTokenRefreshed):
            self.refreshed.set()
        async with self.changed:
            self.changed.notify_all()

    async def until_recorded(self, count: int, seconds: float = 15) -> None:
        """Wait (generously) for ``count`` records; the test fails if they never come."""
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(lambda: len(self.records) >= count)


def watch(app: FastAPI) -> Watching:
    hook = Watching()
    get_plugin_host(app).hooks.register(hook)
    return hook


async def leave_when(arrived: asyncio.Event, request: asyncio.Task[Any], hook: Watching) -> None:
    """Disconnect the client once ``arrived`` is set; wait for the request's record."""
    await asyncio.wait_for(arrived.wait(), 15)
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    await hook.until_recorded(1)


def gone_quietly(record: RequestRecord, events: list[dict[str, Any]]) -> None:
    assert (record.status_code, record.error_kind) == (499, "client_disconnect")
    # A client leaving is no error of the proxy's: no error line, no traceback.
    assert [e for e in events if e["log_level"] == "error" or "exc_info" in e] == []


async def test_a_refresh_the_gone_client_started_is_saved_and_serves_the_next_request(
    world: ClaudeWorld,
) -> None:
    old = world.write_credentials(expires_in=-60)  # expired: the request must refresh first
    token_reply = Held(
        by_path(world.fake, world.oauth),
        lambda scope: scope["path"].startswith("/v1/oauth/"),
        hold="http.response.start",  # the endpoint has rotated the tokens; its reply waits
    )
    async with LiveServer(token_reply) as upstream:
        live_settings(world, upstream)
        async with started_app(world.settings(), entry_points=entry_points()) as app:
            hook = watch(app)
            with capture_logs() as events:
                async with (
                    LiveServer(app) as server,
                    httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                ):
                    request = asyncio.create_task(
                        client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
                    )
                    await leave_when(token_reply.arrived, request, hook)
                    token_reply.release.set()
                    await asyncio.wait_for(hook.refreshed.wait(), 15)  # after the file is saved
                    assert world.fake.requests == []  # nothing sent for the gone client
                    nxt = await client.post("/claude/v1/messages", json=BODY, headers=HEADERS)

    gone_quietly(hook.records[0], events)
    stored = world.read_credentials()["claudeAiOauth"]
    assert world.oauth.token_status(old["refresh_token"]) == "used"
    assert world.oauth.token_status(stored["refreshToken"]) == "valid"
    assert world.oauth.is_valid_access_token(stored["accessToken"])
    # The next request uses the saved token, with no second refresh.
    assert nxt.status_code == 200
    assert world.oauth.refresh_count == 1
    assert [r.bearer_token for r in world.fake.requests] == [stored["accessToken"]]


async def test_a_client_gone_during_the_429_failover_cools_the_account_and_sends_nothing_more(
    world: ClaudeWorld,
) -> None:
    default = world.write_credentials()
    work = write_account(world, "work")
    windows = AccountWindows({default["access_token"]: 0})  # the default's window is used up
    world.anthropic = FakeAnthropic(oauth=world.oauth, account_windows=windows)
    refusal = Held(
        by_path(world.fake, world.oauth),
        lambda scope: bearer(scope) == default["access_token"],
        hold="http.response.body",  # the 429's status and headers are out; its body waits
    )
    async with LiveServer(refusal) as upstream:
        live_settings(world, upstream, account_strategy="fill_first")
        async with started_app(world.settings(), entry_points=entry_points()) as app:
            hook = watch(app)
            with capture_logs() as events:
                async with (
                    LiveServer(app) as server,
                    httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                ):
                    request = asyncio.create_task(
                        client.post("/claude/v1/messages", json=BODY, headers=HEADERS)
                    )
                    await leave_when(refusal.arrived, request, hook)
                    refusal.release.set()
                    accounts = (await client.get("/api/accounts")).json()["claude"]

    gone_quietly(hook.records[0], events)
    states = {row["name"]: row["state"] for row in accounts}
    assert states == {"default": "cooling_down", "work": "ready"}
    # One upstream call in all: the refused one, never repeated, and none for the other account.
    assert windows.refused == {default["access_token"]: 1}
    assert windows.served == {}
    assert [r.bearer_token for r in world.fake.requests] == [default["access_token"]]
    assert work["access_token"] not in {r.bearer_token for r in world.fake.requests}
