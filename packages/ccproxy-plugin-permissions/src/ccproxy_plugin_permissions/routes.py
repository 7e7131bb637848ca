"""HTTP API, SSE feed and web page under ``/permissions`` (behind the core's token check).

- ``GET /permissions/`` — the web page (package data); with ``security.auth_token`` set and not
  presented, a sign-in page instead (``login.html``, ``login.js``: no data) that exchanges the
  token for the cookie and reloads
- ``GET /permissions/page.js`` — the page's script (needs the token like the API)
- ``GET /permissions/api/requests?status=pending`` and ``GET /permissions/api/requests/{id}``
- ``POST /permissions/api/requests/{id}/decision`` ``{allow, message?, updated_input?}``
- ``GET /permissions/api/events`` — SSE ``created``/``decided``/``expired``, pending replayed
- ``POST /permissions/api/session`` — exchanges the Bearer token for an HttpOnly cookie
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ccproxy.plugins import TOKEN_COOKIE, has_valid_token
from ccproxy_plugin_permissions.store import (
    AlreadyDecidedError,
    PermissionEvent,
    PermissionStore,
    UnknownRequestError,
)

if TYPE_CHECKING:
    from ccproxy.plugins import Settings

__all__ = ["Decision", "permissions_router"]

_PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


class Decision(BaseModel):
    """The body of ``POST /permissions/api/requests/{id}/decision``."""

    model_config = ConfigDict(extra="forbid")

    allow: bool
    message: str | None = Field(None, max_length=10_000)
    updated_input: dict[str, Any] | None = None


def _static(name: str) -> bytes:
    return files("ccproxy_plugin_permissions").joinpath("static").joinpath(name).read_bytes()


def _sse(event: PermissionEvent) -> bytes:
    data = json.dumps(event.request, ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()


def permissions_router(
    store_of: Callable[[], PermissionStore | None], settings: Settings
) -> APIRouter:
    """The routes of one app; ``store_of`` returns its store while the plugin runs."""

    def token() -> str | None:
        secret = settings.security.auth_token
        return secret.get_secret_value() if secret is not None else None

    router = APIRouter()

    def store() -> PermissionStore:
        current = store_of()
        if current is None:
            raise HTTPException(503, "The permissions plugin is not running.")
        return current

    @router.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        # The core lets this path through without the token (a manifest public path) so that
        # a browser can sign in; the page itself is only for those who hold it.
        name = "index.html" if has_valid_token(request.headers, settings) else "login.html"
        return Response(_static(name), media_type="text/html", headers=_PAGE_HEADERS)

    @router.get("/login.js", include_in_schema=False)
    async def login_js() -> Response:
        return Response(_static("login.js"), media_type="text/javascript", headers=_PAGE_HEADERS)

    @router.get("/page.js", include_in_schema=False)
    async def page_js() -> Response:
        return Response(_static("page.js"), media_type="text/javascript", headers=_PAGE_HEADERS)

    @router.get("/api/requests")
    async def list_requests(
        status: Literal["pending", "allowed", "denied", "expired"] | None = None,
    ) -> dict[str, Any]:
        return {"requests": [r.to_json() for r in store().list_requests(status)]}

    @router.get("/api/requests/{request_id}")
    async def get_request(request_id: str) -> dict[str, Any]:
        try:
            return store().get(request_id).to_json()
        except UnknownRequestError:
            raise HTTPException(404, f"No permission request {request_id!r}.") from None

    @router.post("/api/requests/{request_id}/decision")
    async def decide(request_id: str, decision: Decision) -> dict[str, Any]:
        try:
            request = store().decide(
                request_id,
                allow=decision.allow,
                message=decision.message,
                updated_input=decision.updated_input,
            )
        except UnknownRequestError:
            raise HTTPException(404, f"No permission request {request_id!r}.") from None
        except AlreadyDecidedError as exc:
            raise HTTPException(
                409, f"Request {request_id!r} is already {exc.request.status}."
            ) from None
        return request.to_json()

    @router.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        current = store()
        queue, replay = current.subscribe()
        keepalive = current.config.keepalive_seconds

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                for event in replay:
                    yield _sse(event)
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), keepalive)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": keepalive\n\n"
                        continue
                    if item is None:
                        return
                    yield _sse(item)
            finally:
                current.unsubscribe(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    @router.post("/api/session")
    async def session(request: Request) -> Response:
        expected = token()
        if expected is None:
            return JSONResponse({"cookie": False})
        # The core middleware has checked the token already; the cookie is set only for a
        # token sent in the Authorization header (never for one that came as a cookie).
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise HTTPException(401, "Send the token as 'Authorization: Bearer <token>'.")
        response = JSONResponse({"cookie": True})
        response.set_cookie(
            TOKEN_COOKIE,
            expected,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
        return response

    return router
