"""Shared set-up for the Copilot provider tests: FakeCopilot upstream, a test auth plugin, SDKs.

The ``oauth.copilot`` service comes from a tiny auth plugin of this file (not the real
``oauth_copilot``): its token source mints Copilot tokens from ``FakeCopilot`` with a GitHub token
the fake issued, re-mints when asked to refresh the rejected token, and names the fake as the
credential's ``api_base``. The app reaches the fake in-process through the injected transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from ccproxy.app import get_plugin_host
from ccproxy.plugins import (
    AccountInfo,
    AuthProviderPluginFactory,
    AuthProviderPluginRuntime,
    HookEvent,
    HookPayload,
    PluginManifest,
    RequestCompleted,
    RequestRecord,
    Settings,
)
from ccproxy.testing import FakeCopilot, FakeEntryPoint, fake_entry_point, started_app
from ccproxy_plugin_copilot.plugin import provider_factory

API = "http://copilot.test"
LOCAL = "http://127.0.0.1"
SERVICE = "oauth.copilot"


class MintedTokenSource:
    """``oauth.copilot`` for tests: a Copilot token minted from the fake over HTTP."""

    def __init__(self, fake: FakeCopilot, http: httpx.AsyncClient, *, api_base: str | None) -> None:
        self.fake = fake
        self.http = http
        self.github_token = fake.issue_github_token()
        self.api_base = api_base
        self.token: str | None = None
        self.refreshes: list[str | None] = []
        #: How often ``account()`` was asked (each read of a real credential stats its file).
        self.account_reads = 0

    async def _mint(self) -> str:
        response = await self.http.get(
            f"{self.fake.api_url}/copilot_internal/v2/token",
            headers={"authorization": f"token {self.github_token}"},
        )
        response.raise_for_status()
        self.token = str(response.json()["token"])
        return self.token

    async def access_token(self) -> str:
        return self.token if self.token is not None else await self._mint()

    async def refresh(self, rejected: str | None) -> str:
        self.refreshes.append(rejected)
        if rejected is None or rejected == self.token:
            return await self._mint()
        return await self.access_token()

    def account(self) -> AccountInfo:
        self.account_reads += 1
        # As oauth_copilot's: the API base is the mint's endpoints.api, unknown before a mint.
        api_base = self.api_base if self.token is not None else None
        return AccountInfo(id="octocat", source="test", api_base=api_base)


class MintedAccounts:
    """``oauth.copilot`` as an AccountSet: one :class:`MintedTokenSource` per account name."""

    def __init__(self, sources: Mapping[str, MintedTokenSource]) -> None:
        self.sources = dict(sources)

    def accounts(self) -> Mapping[str, MintedTokenSource]:
        return self.sources


class Holder:
    """Where the test auth plugin leaves its token source (one per app); with ``accounts``,
    the account set too."""

    source: MintedTokenSource | None = None
    accounts: MintedAccounts | None = None


def auth_plugin(
    fake: FakeCopilot,
    holder: Holder,
    *,
    api_base: str | None,
    accounts: tuple[str, ...] = (),
) -> FakeEntryPoint:
    """An auth plugin named ``testauth_copilot`` providing ``oauth.copilot`` (an AccountSet of
    ``accounts`` when any are named, each with its own GitHub token)."""

    class Runtime(AuthProviderPluginRuntime):
        async def _on_initialize(self) -> None:
            http = self.context.http_client
            holder.source = MintedTokenSource(fake, http, api_base=api_base)
            service: MintedTokenSource | MintedAccounts = holder.source
            if accounts:
                holder.accounts = MintedAccounts(
                    {name: MintedTokenSource(fake, http, api_base=api_base) for name in accounts}
                )
                service = holder.accounts
            self.context.plugin_registry.register_service(
                SERVICE, service, provider_plugin=self.name
            )

    class Factory(AuthProviderPluginFactory):
        runtime_class = Runtime

    manifest = PluginManifest(
        name="testauth_copilot", version="0.0.1", is_provider=True, provides=[SERVICE]
    )
    return fake_entry_point("testauth_copilot", Factory(manifest), distribution="test-auth")


def settings(
    *, copilot: Mapping[str, Any] | None = None, server: Mapping[str, Any] | None = None
) -> Settings:
    return Settings.model_validate(
        {
            "plugins_disable_local_discovery": True,
            "plugins": {"copilot": dict(copilot or {})},
            "server": dict(server or {}),
        }
    )


@asynccontextmanager
async def copilot_app(
    fake: FakeCopilot,
    *,
    copilot: Mapping[str, Any] | None = None,
    api_base: str | None = API,
    holder: Holder | None = None,
    with_auth: bool = True,
    accounts: tuple[str, ...] = (),
) -> AsyncIterator[Any]:
    """The app with the provider (and the test auth plugin) in front of ``fake``."""
    holder = holder if holder is not None else Holder()
    entry_points = [
        fake_entry_point("copilot", provider_factory, distribution="ccproxy-plugin-copilot")
    ]
    if with_auth:
        entry_points.insert(0, auth_plugin(fake, holder, api_base=api_base, accounts=accounts))
    async with started_app(
        settings(copilot=copilot),
        entry_points=entry_points,
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        yield app


def openai_sdk(app: Any = None, *, base: str = LOCAL, **kwargs: Any) -> openai.AsyncOpenAI:
    """The OpenAI SDK on ``/copilot/v1``: in-process with ``app``, else over ``base``."""
    http = (
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base)
        if app is not None
        else httpx2.AsyncClient()
    )
    return openai.AsyncOpenAI(
        api_key="client-key",
        base_url=f"{base}/copilot/v1",
        http_client=http,
        max_retries=0,
        **kwargs,
    )


def anthropic_sdk(app: Any = None, *, base: str = LOCAL, **kwargs: Any) -> anthropic.AsyncAnthropic:
    """The Anthropic SDK on ``/copilot``: in-process with ``app``, else over ``base``."""
    http = (
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base)
        if app is not None
        else httpx2.AsyncClient()
    )
    return anthropic.AsyncAnthropic(
        api_key="client-key", base_url=f"{base}/copilot", http_client=http, max_retries=0, **kwargs
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


def model_calls(fake: FakeCopilot) -> list[Any]:
    """The requests the fake received on its model endpoints, in order."""
    return [
        r for r in fake.requests if r.path in ("/chat/completions", "/responses", "/v1/messages")
    ]


def served(fake: FakeCopilot) -> list[tuple[str, str]]:
    """``(path, model)`` of every model call the fake answered 200."""
    return [(r.path, r.json.get("model")) for r in model_calls(fake) if r.status == 200]
