"""``ExchangedTokenSource``: a short-lived token exchanged for the stored one, held in memory."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ccproxy.auth import (
    CredentialError,
    CredentialFile,
    ExchangedToken,
    ExchangedTokenSource,
    TokenExchange,
    TokenManager,
)
from demo_format import DemoFormat


class NoRefresh:
    async def refresh(self, refresh_token: str) -> Any:
        raise AssertionError("the stored token is never refreshed here")


class Exchange:
    """Mints ``minted-<n>`` for the grant ``stored``; a test sets ``fail`` to refuse."""

    def __init__(self, clock: Any, *, lifetime: float = 1800, refresh_after: float = 1500) -> None:
        self.clock, self.lifetime, self.refresh_after = clock, lifetime, refresh_after
        self.calls = 0
        self.fail: CredentialError | None = None
        self.gate: asyncio.Event | None = None

    async def exchange(self, grant: str) -> ExchangedToken:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return ExchangedToken(
            f"minted-{self.calls}-{grant}",
            expires_at=datetime.fromtimestamp(self.clock() + self.lifetime, UTC),
            refresh_after_seconds=self.refresh_after,
            plan="gold",
            api_base="https://api.example",
            facts={"sku": "gold_monthly"},
        )


def source(tmp_path: Path, clock: Any, exchange: Exchange) -> ExchangedTokenSource:
    path = tmp_path / "demo.json"
    if not path.exists():
        path.write_text(json.dumps({"demo": {"accessToken": "stored"}}))
    manager = TokenManager(
        CredentialFile(path), DemoFormat("demo"), NoRefresh(), provider="demo", clock=clock
    )
    return ExchangedTokenSource(manager, exchange, clock=clock, refresh_margin_seconds=120)


async def test_one_exchange_serves_many_calls_until_refresh_after(
    tmp_path: Path, clock: Any
) -> None:
    exchange = Exchange(clock)
    assert isinstance(exchange, TokenExchange)
    src = source(tmp_path, clock, exchange)
    tokens = {await src.access_token() for _ in range(5)}
    assert tokens == {"minted-1-stored"} and exchange.calls == 1
    info = src.account()
    assert (info.plan, info.api_base) == ("gold", "https://api.example")
    clock.advance(1499)
    assert await src.access_token() == "minted-1-stored"
    clock.advance(1)
    assert await src.access_token() == "minted-2-stored"
    facts = src.status()
    assert facts["exchanged"]["exchanges"] == 2 and facts["exchanged"]["sku"] == "gold_monthly"
    assert "minted" not in json.dumps(facts)


async def test_margin_before_expiry_wins_over_a_late_refresh_after(
    tmp_path: Path, clock: Any
) -> None:
    exchange = Exchange(clock, lifetime=600, refresh_after=10_000)
    src = source(tmp_path, clock, exchange)
    await src.access_token()
    clock.advance(480)  # 600 - 120
    assert await src.access_token() == "minted-2-stored"


async def test_concurrent_callers_share_one_exchange(tmp_path: Path, clock: Any) -> None:
    exchange = Exchange(clock)
    exchange.gate = asyncio.Event()
    src = source(tmp_path, clock, exchange)
    waiting = [asyncio.create_task(src.access_token()) for _ in range(10)]
    await asyncio.sleep(0.01)
    exchange.gate.set()
    assert set(await asyncio.gather(*waiting)) == {"minted-1-stored"}
    assert exchange.calls == 1


async def test_refresh_exchanges_again_only_for_the_current_token(
    tmp_path: Path, clock: Any
) -> None:
    exchange = Exchange(clock)
    src = source(tmp_path, clock, exchange)
    first = await src.access_token()
    results = await asyncio.gather(*(src.refresh(first) for _ in range(4)))
    assert set(results) == {"minted-2-stored"} and exchange.calls == 2
    assert await src.refresh(first) == "minted-2-stored" and exchange.calls == 2
    assert await src.refresh(None) == "minted-3-stored"


async def test_a_rewritten_file_is_exchanged_again(tmp_path: Path, clock: Any) -> None:
    exchange = Exchange(clock)
    src = source(tmp_path, clock, exchange)
    await src.access_token()
    (tmp_path / "demo.json").write_text(json.dumps({"demo": {"accessToken": "other-grant"}}))
    assert await src.access_token() == "minted-2-other-grant"


async def test_failures_keep_their_lasting_flag(tmp_path: Path, clock: Any) -> None:
    exchange = Exchange(clock)
    src = source(tmp_path, clock, exchange)
    first = await src.access_token()
    exchange.fail = CredentialError("endpoint unreachable", lasting=False)
    clock.advance(1500)  # due, still valid: the held token is served
    assert await src.access_token() == first
    clock.advance(300)  # expired
    with pytest.raises(CredentialError) as passing:
        await src.access_token()
    assert passing.value.lasting is False
    exchange.fail = CredentialError("grant refused")
    with pytest.raises(CredentialError) as lasting:
        await src.refresh(None)
    assert lasting.value.lasting is True
    assert "auth login demo" in str(lasting.value)
    assert src.status()["exchanged"]["error_lasting"] is True
    exchange.fail = None
    await src.access_token()
    assert "error" not in src.status()["exchanged"]


async def test_no_stored_token_is_the_managers_error(tmp_path: Path, clock: Any) -> None:
    (tmp_path / "demo.json").write_text("{}")
    exchange = Exchange(clock)
    src = source(tmp_path, clock, exchange)
    with pytest.raises(CredentialError, match="no demo credentials"):
        await src.access_token()
    assert exchange.calls == 0
    assert src.account().api_base is None


async def test_a_passing_failure_is_not_retried_on_every_call(tmp_path: Path, clock: Any) -> None:
    exchange = Exchange(clock)
    src = source(tmp_path, clock, exchange)
    first = await src.access_token()
    exchange.fail = CredentialError("endpoint unreachable", lasting=False)
    clock.advance(1500)  # due, still valid
    served = [await src.access_token() for _ in range(5)]
    assert served == [first] * 5
    assert exchange.calls == 2  # one failed try, then the held token for 30 s
    clock.advance(31)
    exchange.fail = None
    fresh = await src.access_token()
    assert fresh != first and exchange.calls == 3


class NoExpiry(Exchange):
    async def exchange(self, grant: str) -> ExchangedToken:
        token = await super().exchange(grant)
        return ExchangedToken(token.token, refresh_after_seconds=token.refresh_after_seconds)


@pytest.mark.parametrize("refresh_after", [1e300, float("inf")])
async def test_a_refresh_after_beyond_the_calendar_is_served_and_reported(
    tmp_path: Path, clock: Any, refresh_after: float
) -> None:
    src = source(tmp_path, clock, NoExpiry(clock, refresh_after=refresh_after))
    assert await src.access_token() == "minted-1-stored"
    assert src.status()["exchanged"]["refresh_at"] is None
    clock.advance(10**9)
    assert await src.access_token() == "minted-1-stored"
