"""Shared pieces of the auth tests: a settable clock and HTTP clients bound to fakes in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest


class Clock:
    """Epoch seconds that only move when a test says so (shared by fakes and managers)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http_for() -> AsyncIterator[Callable[[Any], httpx.AsyncClient]]:
    """``http_for(fake)``: an AsyncClient that reaches ``fake`` in-process at http://fake."""
    clients: list[httpx.AsyncClient] = []

    def make(app: Any) -> httpx.AsyncClient:
        transport = (
            app if isinstance(app, httpx.AsyncBaseTransport) else httpx.ASGITransport(app=app)
        )
        client = httpx.AsyncClient(transport=transport, base_url="http://fake")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
