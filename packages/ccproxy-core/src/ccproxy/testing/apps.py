"""Apps with start-up run, and in-process clients for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from ccproxy.app import create_app, initialize_plugins_startup, shutdown_plugins

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ccproxy.config import Settings

__all__ = ["app_client", "started_app"]

#: In-process clients present themselves as loopback, which the Host check accepts.
BASE_URL = "http://127.0.0.1"


@asynccontextmanager
async def started_app(
    settings: Settings | None = None, **create_kwargs: Any
) -> AsyncIterator[FastAPI]:
    """``create_app(settings, **create_kwargs)`` with plugins initialised, shut down on exit.

    By default local plugin discovery is off and no installed entry points are read, so a test
    sees exactly the plugins it passes as ``entry_points``.
    """
    from ccproxy.config import Settings as SettingsModel

    if settings is None:
        settings = SettingsModel(plugins_disable_local_discovery=True)
    create_kwargs.setdefault("entry_points", [])
    app = create_app(settings, **create_kwargs)
    await initialize_plugins_startup(app)
    try:
        yield app
    finally:
        await shutdown_plugins(app)


@asynccontextmanager
async def app_client(app: FastAPI, **client_kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` calling ``app`` in-process (no lifespan: start the app first)."""
    client_kwargs.setdefault("base_url", BASE_URL)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, **client_kwargs) as client:
        yield client
