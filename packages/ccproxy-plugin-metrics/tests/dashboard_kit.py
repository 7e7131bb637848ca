"""Traffic for the dashboard tests: a ``claude`` and a ``codex`` provider on the core pipeline,
each against its own strict fake upstream (Anthropic Messages, ChatGPT Codex responses)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from ccproxy.plugins.provider import ProviderProfile
from ccproxy.testing import (
    AccountWindows,
    FakeAnthropic,
    FakeCodex,
    FakeEntryPoint,
    LiveServer,
    Reply,
)
from metrics_kit import (
    SONNET_PRICE,
    Price,
    metrics_plugin,
    pipeline_provider,
    pricing_plugin,
    settings,
)

__all__ = [
    "CLAUDE_MODEL",
    "CODEX_MODEL",
    "Upstreams",
    "entry_points",
    "live_proxy",
    "send_traffic",
]

CLAUDE_MODEL = "claude-sonnet-4-6"
CODEX_MODEL = "gpt-5.1-codex"
CODEX_PRICE = Price(
    input=Decimal("1.25"),
    output=Decimal("10"),
    cache_read=Decimal("0.125"),
    cache_write=Decimal("1.25"),
)


class Upstreams(httpx.AsyncBaseTransport):
    """One transport for both fakes, chosen by host (``claude.test`` or ``codex.test``).

    ``claude_windows`` (token → requests its 5-hour window allows) gives each Claude account a
    window of its own; otherwise every response reports the same windows."""

    def __init__(self, claude_windows: Mapping[str, int] | None = None) -> None:
        reset = str(int(time.time()) + 2 * 3600 + 600)
        self.claude = FakeAnthropic(
            accepted_tokens={"tok", *(claude_windows or {})},
            account_windows=AccountWindows(claude_windows) if claude_windows else None,
            require_oauth_beta=False,
            require_claude_code_system=False,
            rate_limit_headers={
                "anthropic-ratelimit-unified-5h-utilization": "0.25",
                "anthropic-ratelimit-unified-5h-reset": reset,
                "anthropic-ratelimit-unified-7d-utilization": "0.5",
                "anthropic-ratelimit-unified-7d-reset": str(int(time.time()) + 4 * 86400),
            },
        )
        self.codex = FakeCodex(accepted_tokens={"tok"}, account_id="acct-test")
        self._transports = {
            "claude.test": httpx.ASGITransport(app=self.claude),
            "codex.test": httpx.ASGITransport(app=self.codex),
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transports[request.url.host].handle_async_request(request)


def entry_points(
    metrics: FakeEntryPoint, claude_accounts: Mapping[str, str] | None = None
) -> list[FakeEntryPoint]:
    """The metrics plugin under test, a fake pricing service and the two providers (Claude with
    a pool of ``claude_accounts``, account name → token, when given)."""
    return [
        metrics,
        pricing_plugin({CLAUDE_MODEL: SONNET_PRICE, CODEX_MODEL: CODEX_PRICE}),
        pipeline_provider("claude", base_url="http://claude.test", accounts=claude_accounts),
        pipeline_provider(
            "codex",
            base_url="http://codex.test",
            upstream_format="responses",
            path="/responses",
            profile=ProviderProfile(
                headers={"chatgpt-account-id": "acct-test"},
                force_params={"stream": True, "store": False},
            ),
            stream_only=True,
            native_prefix="gpt-",
        ),
    ]


@asynccontextmanager
async def live_proxy(
    ledger: Path,
    *,
    token: str | None = None,
    claude_accounts: Mapping[str, tuple[str, int]] | None = None,
) -> AsyncIterator[LiveProxy]:
    """The app with the metrics plugin, served by uvicorn on loopback, and its fake upstreams.

    ``claude_accounts``: account name → (token, requests its 5-hour window allows), a pool."""
    from ccproxy.app import create_app

    accounts = claude_accounts or {}
    upstreams = Upstreams(dict(accounts.values()) or None)
    pool = {name: token for name, (token, _) in accounts.items()} or None
    app = create_app(
        settings(ledger, token=token),
        entry_points=entry_points(metrics_plugin(), pool),
        http_transport=upstreams,
    )
    async with LiveServer(app) as server:
        yield LiveProxy(server.url, upstreams)


@dataclass(frozen=True)
class LiveProxy:
    url: str
    upstreams: Upstreams


async def send_traffic(
    upstreams: Upstreams, base_url: str, *, api_key: str = "unused"
) -> dict[str, int]:
    """Three Claude requests (one refused upstream) and two Codex requests, through the
    official SDKs; returns how many each model got."""
    usage = {"input": 1000, "output": 500, "cache_read": 2000, "cache_write": 300}
    upstreams.claude.enqueue(
        Reply.text("Hi", usage=usage),
        Reply.text("Hi again", usage=usage),
        Reply.error(529, "overloaded_error", message="Overloaded"),
    )
    upstreams.codex.enqueue(
        Reply.text("Hello", usage={"input": 40, "output": 30, "reasoning": 12}),
        Reply.text("Hello", usage={"input": 40, "output": 30, "reasoning": 12}),
    )
    claude = anthropic.AsyncAnthropic(base_url=f"{base_url}/claude", api_key=api_key, max_retries=0)
    codex = openai.AsyncOpenAI(base_url=f"{base_url}/codex/v1", api_key=api_key, max_retries=0)
    ask: Callable[[], Any] = lambda: claude.messages.create(  # noqa: E731
        model=CLAUDE_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    await ask()
    await ask()
    with suppress(anthropic.APIStatusError):
        await ask()
    for _ in range(2):
        await codex.responses.create(model=CODEX_MODEL, input=[{"role": "user", "content": "Hi"}])
    await claude.close()
    await codex.close()
    return {CLAUDE_MODEL: 3, CODEX_MODEL: 2}
