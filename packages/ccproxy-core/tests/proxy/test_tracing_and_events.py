"""Request transcripts through the pipeline, and every HookEvent emitted by some code path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from provider_kit import ListTokenSource, Recorder, provider

from ccproxy.app import get_plugin_host
from ccproxy.auth import (
    CredentialFile,
    OAuthTokenClient,
    TokenManager,
)
from ccproxy.config import Settings
from ccproxy.plugins import HookEvent
from ccproxy.testing import (
    FakeAnthropic,
    FakeClaudeOAuth,
    Reply,
    app_client,
    fake_entry_point,
    started_app,
)
from ccproxy.testing.fakes import CLAUDE_CLIENT_ID
from demo_format import DemoFormat

HEADERS = {"anthropic-version": "2023-06-01", "authorization": "Bearer client-secret-key"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


async def test_trace_dir_gets_four_redacted_stages_per_request(tmp_path: Path) -> None:
    fake = FakeAnthropic(accepted_tokens={"upstream-secret-token"})
    settings = Settings(
        plugins_disable_local_discovery=True, logging={"trace_dir": str(tmp_path / "traces")}
    )
    ep = provider(token_source=ListTokenSource("upstream-secret-token"))
    async with started_app(
        settings, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            response = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    [transcript] = list((tmp_path / "traces").iterdir())
    assert transcript.name == f"{response.headers['x-request-id']}.jsonl"
    text = transcript.read_text()
    assert "upstream-secret-token" not in text
    assert "client-secret-key" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [e["stage"] for e in entries] == [
        "client_request",
        "upstream_request",
        "upstream_response",
        "client_response",
    ]
    assert entries[0]["body"]["model"] == "claude-sonnet-4-6"
    assert entries[1]["headers"]["authorization"] == "[redacted]"
    assert entries[1]["body"]["system"][0]["text"].startswith("You are Claude Code")
    assert entries[3]["status_code"] == 200
    assert entries[3]["body"]["content"][0]["type"] == "text"


async def test_every_hook_event_is_emitted_by_some_code_path(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    creds = oauth.mint_credentials()
    credentials_path = tmp_path / ".credentials.json"
    credentials_path.write_text(json.dumps(FakeClaudeOAuth.credentials_file(creds)))
    fake = FakeAnthropic(oauth=oauth)
    fake.enqueue(
        Reply.text("streamed"),
        Reply.error(500, "api_error", message="boom"),
        Reply.text("after refresh"),
    )
    holder: dict[str, Any] = {}

    class LateTokenSource:
        """Delegates to the TokenManager built once the app's hook manager exists."""

        async def access_token(self) -> str:
            return await holder["manager"].access_token()

        async def refresh(self, rejected: str | None) -> str:
            return await holder["manager"].refresh(rejected)

        def account(self) -> Any:
            return holder["manager"].account()

    def broken() -> Any:
        raise ImportError("missing dependency")

    entry_points = [provider(token_source=LateTokenSource()), fake_entry_point("broken", broken)]
    oauth_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=oauth), base_url="http://oauth.test"
    )
    recorder = Recorder()
    settings = Settings(plugins_disable_local_discovery=True)
    async with started_app(
        settings, entry_points=entry_points, http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        host = get_plugin_host(app)
        host.hooks.register(recorder)
        holder["manager"] = TokenManager(
            CredentialFile(credentials_path),
            DemoFormat(),
            OAuthTokenClient(
                oauth_http,
                token_url="http://oauth.test/v1/oauth/token",
                client_id=CLAUDE_CLIENT_ID,
                body="json",
            ),
            provider="testprov",
            hooks=host.hooks,
        )
        async with app_client(app) as client:
            ok = await client.post(
                "/testprov/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS
            )
            failed = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
            oauth.expire_now(
                creds["access_token"]
            )  # the upstream now rejects it: 401 → refresh → retry
            refreshed = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
            current = await holder["manager"].access_token()
            oauth.expire_now(current)
            for token in set(oauth.valid_access_tokens):
                oauth.revoke(token)
            oauth.revoke(json.loads(credentials_path.read_text())["claudeAiOauth"]["refreshToken"])
            refused = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    # The app's startup events fired before the recorder was registered; replay them from a fresh app.
    startup_recorder = Recorder()

    class StartupWatcher:
        name = "startup-watcher"
        priority = 0

        def __init__(self) -> None:
            self.events = list(HookEvent)

        async def __call__(self, ctx: Any) -> None:
            await startup_recorder(ctx)

    from ccproxy.plugins import HookSpec, PluginManifest, SystemPluginFactory

    watcher = SystemPluginFactory(
        PluginManifest(name="aaa_watcher", hooks=[HookSpec(StartupWatcher)])
    )
    async with started_app(
        settings,
        entry_points=[fake_entry_point("aaa_watcher", watcher), fake_entry_point("broken", broken)],
    ):
        pass
    await oauth_http.aclose()
    assert (ok.status_code, failed.status_code, refreshed.status_code, refused.status_code) == (
        200,
        500,
        200,
        401,
    )
    seen = set(recorder.names()) | set(startup_recorder.names())
    assert seen == {event.name for event in HookEvent}
