"""The FastAPI application: ``create_app`` builds everything one app needs, with no globals."""

from __future__ import annotations

from ccproxy._lean_imports import import_without_rich

import_without_rich("httpx", "structlog")

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from ccproxy._version import __version__
from ccproxy.config import Settings, load_settings
from ccproxy.head_requests import HeadAsGetMiddleware
from ccproxy.plugins.host import PluginHost, get_plugin_host
from ccproxy.proxy.errors import install_error_handlers
from ccproxy.proxy.openapi import install_openapi
from ccproxy.security import SecurityMiddleware, has_valid_token

if TYPE_CHECKING:
    import httpx

    from ccproxy.plugins.discovery import EntryPointLike

__all__ = ["create_app", "get_plugin_host", "initialize_plugins_startup", "shutdown_plugins"]

HEALTH_MEDIA_TYPE = "application/health+json"


def create_app(
    settings: Settings | None = None,
    *,
    entry_points: Iterable[EntryPointLike] | None = None,
    plugin_dirs: Iterable[Path] | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build an app: discover and validate plugins, order them, mount routes and middleware.

    Without ``settings`` the configuration is loaded as the CLI does (file < environment).
    Synchronous and side-effect free beyond importing plugins: no network, no credential reads.
    The lifespan (or ``initialize_plugins_startup``) initialises the plugins.
    ``entry_points``, ``plugin_dirs`` and ``http_transport`` replace the installed entry points,
    the plugin directories and the upstream transport (tests pass fakes).
    """
    if settings is None:
        settings = load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await initialize_plugins_startup(app)
        try:
            yield
        finally:
            await shutdown_plugins(app)

    app = FastAPI(
        title="ccproxy",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    host = PluginHost(
        settings,
        app,
        entry_points=entry_points,
        plugin_dirs=plugin_dirs,
        http_transport=http_transport,
    )
    app.state.settings = settings
    app.state.plugin_host = host
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(_core_router())
    plugin_middleware = host.setup()
    # Starlette wraps the last-added middleware outermost: add innermost first.
    for spec in reversed(plugin_middleware):
        app.add_middleware(cast(Any, spec.middleware_class), **spec.kwargs)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(SecurityMiddleware, settings=settings, public_paths=host.public_paths())
    return app


async def initialize_plugins_startup(app: FastAPI) -> None:
    """Initialise the app's plugins in dependency order (idempotent)."""
    await get_plugin_host(app).startup()


async def shutdown_plugins(app: FastAPI) -> None:
    """Shut the app's plugins down in reverse order and close the shared client (idempotent)."""
    await get_plugin_host(app).shutdown()


def _core_router() -> APIRouter:
    router = APIRouter(tags=["core"])

    @router.api_route("/health", methods=["GET", "HEAD"], include_in_schema=True)
    async def health(request: Request) -> JSONResponse:
        """The IETF health report; without the configured token only its ``status``.

        The checks name the home directory, credential files, accounts, plans and expiry:
        nobody but the token's holder needs them, while anyone may ask whether it is up.
        """
        body = await get_plugin_host(request.app).health()
        status_code = 503 if body["status"] == "fail" else 200
        if not has_valid_token(request.headers, request.app.state.settings):
            body = {"status": body["status"]}
        return JSONResponse(body, status_code=status_code, media_type=HEALTH_MEDIA_TYPE)

    @router.get("/api/plugins/status")
    async def plugins_status(request: Request) -> dict[str, Any]:
        return get_plugin_host(request.app).status()

    @router.get("/api/accounts")
    async def accounts(request: Request) -> dict[str, list[dict[str, Any]]]:
        """Each provider's accounts: ``name``, ``state`` (ready, cooling_down or invalid),
        ``cooldown_until``, ``reason`` and the rate-limit ``windows`` last seen."""
        return await get_plugin_host(request.app).accounts()

    return router
