"""The app with both Claude plugins in front of the loopback fakes, and the official SDKs as clients.

``ClaudeWorld`` ties a ``FakeAnthropic`` to a ``FakeClaudeOAuth`` (the model fake accepts exactly
the access tokens the OAuth fake currently considers valid) and writes Claude Code's credential
file for them. Both fakes answer in-process through one ASGI transport, told apart by path.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from ccproxy.app import get_plugin_host
from ccproxy.plugins import HookEvent, HookPayload, RequestCompleted, RequestRecord, Settings
from ccproxy.testing import (
    FakeAnthropic,
    FakeClaudeOAuth,
    fake_entry_point,
    started_app,
)
from ccproxy_plugin_claude.oauth import auth_factory
from ccproxy_plugin_claude.plugin import provider_factory

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
OAUTH_BETA = "oauth-2025-04-20"
UPSTREAM = "http://anthropic.test"
TOKEN_URL = f"{UPSTREAM}/v1/oauth/token"
BASE = "http://127.0.0.1"


def accounts_folder() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "ccproxy" / "accounts" / "claude"


def write_account(world: ClaudeWorld, name: str) -> dict[str, Any]:
    """A fresh login of account ``name``, in Claude Code's file format, 0600."""
    creds = world.oauth.mint_credentials(3600)
    path = accounts_folder() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(world.oauth.credentials_file(creds)))
    path.chmod(0o600)
    return creds


def entry_points() -> list[Any]:
    """The two entry points of this package, as discovery would find them."""
    dist = "ccproxy-plugin-claude"
    return [
        fake_entry_point("oauth_claude", auth_factory, distribution=dist),
        fake_entry_point("claude", provider_factory, distribution=dist),
    ]


def by_path(anthropic_fake: Any, oauth_fake: Any) -> Any:
    """One ASGI app: ``/v1/oauth/*`` to the OAuth fake, everything else to the model fake."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        is_oauth = scope["type"] == "http" and scope["path"].startswith("/v1/oauth/")
        await (oauth_fake if is_oauth else anthropic_fake)(scope, receive, send)

    return app


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


@dataclass
class ClaudeWorld:
    """The fakes, the credential file and the settings of one test."""

    home: Path
    oauth: FakeClaudeOAuth = field(default_factory=FakeClaudeOAuth)
    anthropic: FakeAnthropic | None = None
    creds: dict[str, Any] = field(default_factory=dict)
    claude: dict[str, Any] = field(default_factory=dict)
    oauth_settings: dict[str, Any] = field(default_factory=dict)
    security: dict[str, Any] = field(default_factory=dict)
    disabled_plugins: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.anthropic is None:
            self.anthropic = FakeAnthropic(oauth=self.oauth)

    @property
    def fake(self) -> FakeAnthropic:
        assert self.anthropic is not None
        return self.anthropic

    @property
    def credentials_path(self) -> Path:
        return self.home / ".claude" / ".credentials.json"

    def write_credentials(self, expires_in: float = 3600.0, **extra: Any) -> dict[str, Any]:
        """Fresh tokens from the OAuth fake in Claude Code's file (plus ``extra`` top-level keys)."""
        self.creds = self.oauth.mint_credentials(expires_in)
        data = {**self.oauth.credentials_file(self.creds), **extra}
        self.credentials_path.parent.mkdir(parents=True, exist_ok=True)
        self.credentials_path.write_text(json.dumps(data))
        os.chmod(self.credentials_path, 0o600)
        return self.creds

    def read_credentials(self) -> dict[str, Any]:
        return json.loads(self.credentials_path.read_text())

    @property
    def access_token(self) -> str:
        return str(self.creds["access_token"])

    def settings(self) -> Settings:
        return Settings(
            plugins_disable_local_discovery=True,
            disabled_plugins=self.disabled_plugins,
            security=self.security,
            state=self.state,
            plugins={
                "claude": {"base_url": UPSTREAM, **self.claude},
                "oauth_claude": {
                    "credentials_file": str(self.credentials_path),
                    "token_url": TOKEN_URL,
                    **self.oauth_settings,
                },
            },
        )

    @asynccontextmanager
    async def app(self) -> AsyncIterator[FastAPI]:
        transport = httpx.ASGITransport(app=by_path(self.fake, self.oauth))
        async with started_app(
            self.settings(), entry_points=entry_points(), http_transport=transport
        ) as app:
            yield app


def recorder(app: FastAPI) -> Recorder:
    hook = Recorder()
    get_plugin_host(app).hooks.register(hook)
    return hook


def http_client(app: FastAPI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE)


def anthropic_sdk(
    app: FastAPI, *, api_key: str = "client-key", **kwargs: Any
) -> anthropic.AsyncAnthropic:
    """The Anthropic SDK pointed at ``/claude`` (its key is the proxy's business, not upstream's)."""
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=f"{BASE}/claude",
        http_client=http_client(app),
        max_retries=0,
        **kwargs,
    )


def openai_sdk(app: FastAPI) -> openai.AsyncOpenAI:
    """The OpenAI SDK pointed at ``/claude/v1``."""
    return openai.AsyncOpenAI(
        api_key="client-key",
        base_url=f"{BASE}/claude/v1",
        http_client=http_client(app),
        max_retries=0,
    )
