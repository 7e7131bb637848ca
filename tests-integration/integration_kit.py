"""One real ``ccproxy serve`` with every plugin, both providers' fakes and their OAuth fakes.

``async with provider_stack(home) as stack:`` starts the four fakes as loopback servers in the
running event loop, writes valid Claude and Codex credentials under ``home`` and starts the
proxy subprocess pointed at them. Clients must be asynchronous so the loop keeps serving the
fakes while they wait on the proxy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, FakeCodex, FakeCodexOAuth, LiveServer
from support import running_proxy

CLAUDE_MODEL = "claude-sonnet-4-5"  # priced in the bundled snapshot ($3 / $15 per M)
CODEX_MODEL = "gpt-5-codex"  # priced in the bundled snapshot ($1.25 / $10 per M)
UNPRICED_CODEX_MODEL = "gpt-unpriced-fixture-1"  # a GPT name (passed through) pricing lacks


@dataclass
class Stack:
    home: Path
    url: str
    anthropic: FakeAnthropic
    codex: FakeCodex
    claude_oauth: FakeClaudeOAuth
    codex_oauth: FakeCodexOAuth
    claude_creds: dict[str, Any]
    codex_creds: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def claude_credentials_path(self) -> Path:
        return self.home / ".claude" / ".credentials.json"

    @property
    def codex_auth_path(self) -> Path:
        return self.home / ".codex" / "auth.json"

    def reset(self) -> None:
        """Forget requests and scripted replies of both model fakes."""
        for fake in (self.anthropic, self.codex):
            fake.requests.clear()
            fake.replies.clear()

    def log(self) -> str:
        logs = sorted(self.home.glob("ccproxy-*.log"))
        return logs[-1].read_text(errors="replace") if logs else ""


@asynccontextmanager
async def provider_stack(
    home: Path,
    *settings: str,
    claude_expires_in: float = 3600.0,
) -> AsyncIterator[Stack]:
    claude_oauth = FakeClaudeOAuth()
    codex_oauth = FakeCodexOAuth()
    claude_creds = claude_oauth.mint_credentials(claude_expires_in)
    codex_creds = codex_oauth.mint_credentials()
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude" / ".credentials.json").write_text(
        json.dumps(FakeClaudeOAuth.credentials_file(claude_creds))
    )
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    (home / ".codex" / "auth.json").write_text(json.dumps(FakeCodexOAuth.auth_json(codex_creds)))
    anthropic = FakeAnthropic(oauth=claude_oauth)
    codex = FakeCodex(oauth=codex_oauth)
    async with AsyncExitStack() as stack:
        anthropic_server = await stack.enter_async_context(LiveServer(anthropic))
        codex_server = await stack.enter_async_context(LiveServer(codex))
        claude_oauth_server = await stack.enter_async_context(LiveServer(claude_oauth))
        codex_oauth_server = await stack.enter_async_context(LiveServer(codex_oauth))
        url = stack.enter_context(
            running_proxy(
                home,
                f"plugins.claude.base_url={anthropic_server.url}",
                f"plugins.oauth_claude.token_url={claude_oauth_server.url}/v1/oauth/token",
                f"plugins.codex.base_url={codex_server.url}",
                f"plugins.oauth_codex.token_url={codex_oauth_server.url}/oauth/token",
                "plugins.pricing.refresh_interval_hours=0",
                f"plugins.metrics.ledger_path={home / 'usage.sqlite3'}",
                *settings,
            )
        )
        yield Stack(
            home=home,
            url=url,
            anthropic=anthropic,
            codex=codex,
            claude_oauth=claude_oauth,
            codex_oauth=codex_oauth,
            claude_creds=claude_creds,
            codex_creds=codex_creds,
            extra={
                "anthropic_url": anthropic_server.url,
                "codex_url": codex_server.url,
                "claude_token_url": f"{claude_oauth_server.url}/v1/oauth/token",
                "codex_token_url": f"{codex_oauth_server.url}/oauth/token",
            },
        )


def metric_samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def metric_sum(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of ``name`` samples whose labels include ``labels``."""
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and set(labels.items()) <= set(sample_labels)
    )


async def wait_for(
    probe: Callable[[], Awaitable[Any]], *, within: float, interval: float = 0.05
) -> Any:
    """Await ``probe()`` until it returns something truthy; ``TimeoutError`` after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            result = await probe()
            if result:
                return result
            await asyncio.sleep(interval)
