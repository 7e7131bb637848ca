"""A started app and its client on a background event loop, called from plain functions.

Hypothesis drives synchronous test functions; starting an app for every example would dominate
the run. ``blocking_app_client`` starts the app once (for instance in a module-scoped fixture) on
an anyio blocking portal, and its ``post`` blocks until the in-process answer is complete.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ccproxy.testing.apps import app_client, started_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ccproxy.config import Settings

__all__ = ["BlockingClient", "blocking_app_client"]


class BlockingClient:
    """Blocking calls on an ``httpx.AsyncClient`` that lives on a portal's event loop."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, app: FastAPI) -> None:
        self.portal = portal
        self.client = client
        self.app = app

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``client.post(url, **kwargs)``, waited for."""
        return self.portal.call(functools.partial(self.client.post, url, **kwargs))


@contextmanager
def blocking_app_client(
    settings: Settings | None = None, **create_kwargs: Any
) -> Iterator[BlockingClient]:
    """``started_app(settings, **create_kwargs)`` and an ``app_client`` for it, on a portal."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(started_app(settings, **create_kwargs)) as app,
        portal.wrap_async_context_manager(app_client(app, timeout=30)) as client,
    ):
        yield BlockingClient(portal, client, app)
