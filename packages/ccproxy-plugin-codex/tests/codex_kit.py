"""Shared set-up for the Codex plugin tests: the fakes, the app with both plugins, SDK clients.

The app reaches the fakes in-process: one ASGI app routes ``codex.test`` to ``FakeCodex`` and
``auth.test`` to ``FakeCodexOAuth`` (tied together, so the backend accepts exactly the tokens the
OAuth fake considers valid right now).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from ccproxy.app import get_plugin_host
from ccproxy.plugins import HookEvent, HookPayload, RequestCompleted, RequestRecord, Settings
from ccproxy.testing import FakeCodex, FakeCodexOAuth, fake_entry_point, started_app
from ccproxy_plugin_codex.oauth import auth_factory
from ccproxy_plugin_codex.plugin import provider_factory

CODEX_BASE = "http://codex.test/backend-api/codex"
AUTH_BASE = "http://auth.test"
LOCAL = "http://127.0.0.1"


def entry_points() -> list[Any]:
    """The package's two plugins as discovery sees them."""
    return [
        fake_entry_point("oauth_codex", auth_factory, distribution="ccproxy-plugin-codex"),
        fake_entry_point("codex", provider_factory, distribution="ccproxy-plugin-codex"),
    ]


def plugin_tables(
    auth_file: Path,
    *,
    codex_base: str = CODEX_BASE,
    auth_base: str = AUTH_BASE,
    codex: Mapping[str, Any] | None = None,
    oauth: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """``plugins.codex`` and ``plugins.oauth_codex`` pointing at the fakes."""
    return {
        "codex": {"base_url": codex_base, **(codex or {})},
        "oauth_codex": {
            "token_url": f"{auth_base}/oauth/token",
            "revoke_url": f"{auth_base}/oauth/revoke",
            "authorize_url": f"{auth_base}/oauth/authorize",
            "device_base_url": f"{auth_base}/api/accounts",
            "credentials_file": str(auth_file),
            **(oauth or {}),
        },
    }


def route_by_host(apps: Mapping[str, Any]) -> Any:
    """One ASGI app dispatching on the Host header (``codex.test``, ``auth.test``)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode().split(":")[0]
        await apps[host](scope, receive, send)

    return app


@dataclass
class Setup:
    """Fakes, the credential file and the tokens it started with."""

    home: Path
    oauth: FakeCodexOAuth = field(default_factory=FakeCodexOAuth)
    fake: FakeCodex = field(init=False)
    creds: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fake = FakeCodex(oauth=self.oauth)

    @property
    def auth_file(self) -> Path:
        return self.home / ".codex" / "auth.json"

    def write_credentials(self, expires_in: float = 3600.0, **extra: Any) -> dict[str, Any]:
        """Mint valid tokens and write them as the Codex CLI's auth.json (plus ``extra`` keys)."""
        self.creds = self.oauth.mint_credentials(expires_in=expires_in)
        self.auth_file.parent.mkdir(parents=True, exist_ok=True)
        self.auth_file.write_text(json.dumps({**self.oauth.auth_json(self.creds), **extra}))
        self.auth_file.chmod(0o600)
        return self.creds

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(
            app=route_by_host({"codex.test": self.fake, "auth.test": self.oauth})
        )

    def settings(
        self,
        *,
        security: Mapping[str, Any] | None = None,
        server: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        **tables: Any,
    ) -> Settings:
        return Settings.model_validate(
            {
                "plugins_disable_local_discovery": True,
                "plugins": plugin_tables(self.auth_file, **tables),
                "security": dict(security or {}),
                "server": dict(server or {}),
                "state": dict(state or {}),
            }
        )


@asynccontextmanager
async def codex_app(setup: Setup, **settings: Any) -> AsyncIterator[Any]:
    """The app with both plugins, started, in front of ``setup``'s fakes.

    ``settings``: ``security``/``server`` sections and ``codex``/``oauth`` plugin tables.
    """
    async with started_app(
        setup.settings(**settings),
        entry_points=entry_points(),
        http_transport=setup.transport(),
    ) as app:
        yield app


def openai_sdk(app: Any, **kwargs: Any) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=LOCAL)
    return openai.AsyncOpenAI(
        api_key="client-key",
        base_url=f"{LOCAL}/codex/v1",
        http_client=http,
        max_retries=0,
        **kwargs,
    )


def anthropic_sdk(app: Any, **kwargs: Any) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=LOCAL)
    return anthropic.AsyncAnthropic(
        api_key="client-key", base_url=f"{LOCAL}/codex", http_client=http, max_retries=0, **kwargs
    )


class Recorder:
    """A hook keeping every ``REQUEST_COMPLETED`` record."""

    name = "test_recorder"
    priority = 0

    def __init__(self) -> None:
        self.events = [HookEvent.REQUEST_COMPLETED]
        self.records: list[RequestRecord] = []

    async def __call__(self, event: HookPayload) -> None:
        if isinstance(event, RequestCompleted):
            self.records.append(event.record)


def record_requests(app: Any) -> Recorder:
    recorder = Recorder()
    get_plugin_host(app).hooks.register(recorder)
    return recorder


def upstream_bodies(fake: FakeCodex) -> list[dict[str, Any]]:
    """The JSON bodies the backend accepted, in order."""
    return [r.json for r in fake.requests if r.status == 200]
