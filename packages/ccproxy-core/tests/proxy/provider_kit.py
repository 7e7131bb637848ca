"""A configurable provider plugin and token source for pipeline tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from ccproxy.app import get_plugin_host
from ccproxy.config import Settings
from ccproxy.llm.ir import WireFormat
from ccproxy.plugins import (
    HookEvent,
    HookPayload,
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
    RequestCompleted,
    RequestRecord,
)
from ccproxy.proxy.aliases import ModelAliases
from ccproxy.proxy.pipeline import ProviderAdapter, ProviderEndpoint
from ccproxy.proxy.profile import ProviderProfile
from ccproxy.proxy.routes import provider_router
from ccproxy.services import AccountInfo
from ccproxy.testing import FakeAnthropic, FakeCodex, FakeEntryPoint, fake_entry_point, started_app

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
CLAUDE_PROFILE = ProviderProfile(
    headers={"anthropic-version": "2023-06-01"},
    required_betas=["oauth-2025-04-20"],
    identity_system_prompt=IDENTITY,
    drop_null_params=["temperature"],
    max_cache_control_blocks=4,
    add_cache_breakpoints=True,
)
CODEX_PROFILE = ProviderProfile(
    drop_params=["max_output_tokens", "max_completion_tokens", "temperature", "metadata"],
    force_params={"stream": True, "store": False},
    originator="codex_cli_rs",
    session_header="session_id",
    headers={"openai-beta": "responses=experimental"},
)


class ListTokenSource:
    """Hands out ``tokens[0]``; each refresh of the current token moves to the next one."""

    def __init__(self, *tokens: str, account_id: str = "acct-test") -> None:
        self.tokens = list(tokens)
        self.position = 0
        self.refresh_calls: list[str | None] = []
        self.account_id = account_id

    async def access_token(self) -> str:
        return self.tokens[self.position]

    async def refresh(self, rejected: str | None) -> str:
        self.refresh_calls.append(rejected)
        if rejected == self.tokens[self.position] and self.position + 1 < len(self.tokens):
            self.position += 1
        return self.tokens[self.position]

    def account(self) -> AccountInfo:
        return AccountInfo(id=self.account_id, source="test")


class Accounts:
    """An ``AccountSet``: the token sources by account name (change ``sources`` to re-read)."""

    def __init__(self, **sources: Any) -> None:
        self.sources: dict[str, Any] = dict(sources)

    def accounts(self) -> dict[str, Any]:
        return dict(self.sources)


class FailingTokenSource(ListTokenSource):
    """A credential that cannot be used (its refresh token was revoked, say)."""

    async def access_token(self) -> str:
        raise RuntimeError("refresh token revoked")


class CodexAdapter(ProviderAdapter):
    def auth_headers(self, token: str, source: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {token}", "chatgpt-account-id": source.account().id}


def provider(
    name: str = "testprov",
    *,
    upstream_format: WireFormat = "anthropic",
    base_url: str = "http://upstream.test",
    token_source: Any = None,
    profile: ProviderProfile | None = None,
    aliases: dict[str, str] | None = None,
    native_prefix: str = "claude-",
    default_model: str | None = None,
    account_strategy: Any = "round_robin",
    allow_overage: bool = False,
    adapter_class: type[ProviderAdapter] | None = None,
) -> FakeEntryPoint:
    """A provider plugin named ``name`` in front of ``base_url``."""
    path = "/v1/messages" if upstream_format == "anthropic" else "/responses"
    chosen_profile = profile or (
        CLAUDE_PROFILE if upstream_format == "anthropic" else CODEX_PROFILE
    )

    class Runtime(ProviderPluginRuntime):
        async def _on_initialize(self) -> None:
            endpoint = ProviderEndpoint(
                provider=name,
                upstream_format=upstream_format,
                base_url=base_url,
                path=path,
                profile=chosen_profile,
                aliases=ModelAliases(
                    aliases or {},
                    provider=name,
                    is_native=lambda m: m.startswith(native_prefix),
                    default_model=default_model,
                ),
                stream_only=upstream_format == "responses",
                login_hint=f"Run: ccproxy auth login {name}",
                account_strategy=account_strategy,
                allow_overage=allow_overage,
            )
            chosen = adapter_class or (
                CodexAdapter if upstream_format == "responses" else ProviderAdapter
            )
            self.adapter = chosen(endpoint, self.context, token_source=lambda: token_source)

        def health_details(self) -> dict[str, Any]:
            return {"base_url": base_url}

    class Factory(ProviderPluginFactory):
        runtime_class = Runtime

        def create_context(self, core_services: Any) -> PluginContext:
            context = super().create_context(core_services)
            registry = context.plugin_registry

            def adapter() -> ProviderAdapter | None:
                return getattr(registry.get_runtime(name), "adapter", None)

            async def count_tokens(found: ProviderAdapter, request: Request) -> Response:
                return JSONResponse({"input_tokens": 3})

            context["router"] = provider_router(
                name, adapter, models=lambda: sorted(aliases or {}), count_tokens=count_tokens
            )
            return context

    return fake_entry_point(name, Factory(PluginManifest(name=name, is_provider=True)))


class Recorder:
    """A hook recording every event it sees."""

    name = "recorder"
    priority = 0

    def __init__(self) -> None:
        self.events = list(HookEvent)
        self.seen: list[HookPayload] = []

    async def __call__(self, event: HookPayload) -> None:
        self.seen.append(event)

    def names(self) -> list[str]:
        return [event.kind.name for event in self.seen]

    def records(self) -> list[RequestRecord]:
        return [event.record for event in self.seen if isinstance(event, RequestCompleted)]


def provider_of(upstream_format: str) -> FakeEntryPoint:
    """The test provider with a Claude-like (``anthropic``) or Codex-like (``responses``) upstream."""
    if upstream_format == "anthropic":
        return provider(token_source=ListTokenSource("tok"), default_model="claude-sonnet-4-6")
    return provider(
        upstream_format="responses",
        token_source=ListTokenSource("tok"),
        native_prefix="gpt-",
        default_model="gpt-5",
    )


@asynccontextmanager
async def recorded_app(
    upstream_format: str, upstream: Any
) -> AsyncIterator[tuple[FastAPI, Recorder]]:
    """A started app with :func:`provider_of` in front of the ASGI app ``upstream``, and a hook
    recorder."""
    async with started_app(
        Settings(plugins_disable_local_discovery=True),
        entry_points=[provider_of(upstream_format)],
        http_transport=httpx.ASGITransport(app=upstream),
    ) as app:
        recorder = Recorder()
        get_plugin_host(app).hooks.register(recorder)
        yield app, recorder


@asynccontextmanager
async def proxy_app(upstream_format: str) -> AsyncIterator[tuple[FastAPI, Any, Recorder]]:
    """The test provider in front of the fake of ``upstream_format``, with a hook recorder."""
    fake: Any = (
        FakeAnthropic(accepted_tokens={"tok"})
        if upstream_format == "anthropic"
        else FakeCodex(accepted_tokens={"tok": "acct-test"})
    )
    async with recorded_app(upstream_format, fake) as (app, recorder):
        yield app, fake, recorder


@asynccontextmanager
async def raw_upstream(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """The URL of a loopback upstream whose connections ``serve`` handles byte by byte."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
