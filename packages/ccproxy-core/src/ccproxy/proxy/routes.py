"""The routes every provider serves, all running its pipeline (``ProviderAdapter``).

The four POST routes are plain Starlette routes: their endpoints take the ``Request`` itself, so
FastAPI's parameter machinery would add nothing but its per-request exit stacks and frames, which
a held stream keeps alive for its whole life (about 2.6 KB per open stream).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ccproxy.proxy.dialect import Dialect, dialect_for
from ccproxy.proxy.errors import error_response

if TYPE_CHECKING:
    from ccproxy.proxy.pipeline import ProviderAdapter

__all__ = ["CountTokensHandler", "models_body", "provider_router"]

CountTokensHandler = Callable[["ProviderAdapter", Request], Awaitable[Response]]


def models_body(dialect: Dialect, models: list[str], *, owner: str) -> dict[str, Any]:
    """``GET /v1/models`` in the dialect the client speaks."""
    created = int(time.time())
    if dialect == Dialect.ANTHROPIC:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": created, "owned_by": owner} for m in models
        ],
    }


def provider_router(
    provider: str,
    adapter: Callable[[], ProviderAdapter | None],
    *,
    models: Callable[[], list[str]],
    count_tokens: CountTokensHandler,
) -> APIRouter:
    """Routes under the provider's prefix: Messages, Chat, Responses, count_tokens, models and ``/``.

    ``adapter`` returns the running adapter (``None`` until the plugin has initialised).
    """
    router = APIRouter(tags=[provider])
    # The core mounts a plugin's router under /<plugin name>; these are the templates records use.
    prefix = f"/{provider}"

    def current(request: Request) -> ProviderAdapter | Response:
        found = adapter()
        if found is None:
            dialect = dialect_for(request.url.path, request.headers)
            return error_response(
                dialect, 503, f"The {provider} provider is not running; see ccproxy plugins list."
            )
        return found

    async def messages(request: Request) -> Response:
        found = current(request)
        return (
            found
            if isinstance(found, Response)
            else await found.handle(request, "anthropic", route=f"{prefix}/v1/messages")
        )

    async def messages_count_tokens(request: Request) -> Response:
        found = current(request)
        return found if isinstance(found, Response) else await count_tokens(found, request)

    async def chat_completions(request: Request) -> Response:
        found = current(request)
        return (
            found
            if isinstance(found, Response)
            else await found.handle(request, "chat", route=f"{prefix}/v1/chat/completions")
        )

    async def responses(request: Request) -> Response:
        found = current(request)
        return (
            found
            if isinstance(found, Response)
            else await found.handle(request, "responses", route=f"{prefix}/v1/responses")
        )

    router.add_route("/v1/messages", messages, methods=["POST"])
    router.add_route("/v1/messages/count_tokens", messages_count_tokens, methods=["POST"])
    router.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    router.add_route("/v1/responses", responses, methods=["POST"])

    @router.get("/v1/models")
    async def list_models(request: Request) -> JSONResponse:
        dialect = dialect_for(request.url.path, request.headers)
        return JSONResponse(models_body(dialect, models(), owner=provider))

    @router.api_route("", methods=["GET", "HEAD"], include_in_schema=False)
    @router.api_route("/", methods=["GET", "HEAD"])
    async def root() -> JSONResponse:
        return JSONResponse({"provider": provider, "status": "ok"})

    return router
