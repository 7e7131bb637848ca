"""HTTP routes under ``/pricing``: the model list, one model, and an immediate refresh."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ccproxy.plugins import Dialect, error_body, error_response, plugin_registry
from ccproxy_plugin_pricing.runtime import PLUGIN_NAME, PricingRuntime

__all__ = ["build_router"]


def _runtime(request: Request) -> PricingRuntime | None:
    runtime = plugin_registry(request.app).get_runtime(PLUGIN_NAME)
    if isinstance(runtime, PricingRuntime) and runtime.initialized:
        return runtime
    return None


def _not_running() -> JSONResponse:
    return error_response(Dialect.OPENAI, 503, "The pricing plugin is not running.")


def build_router() -> APIRouter:
    """A fresh router with the pricing routes (the factory mounts it under ``/pricing``)."""
    router = APIRouter()

    @router.get("/models")
    async def list_models(request: Request, provider: str | None = None) -> JSONResponse:
        """Every known model with prices per million tokens, and the table's source and age."""
        runtime = _runtime(request)
        if runtime is None:
            return _not_running()
        body = runtime.book.listing(provider=provider)
        last = runtime.refresher.last_outcome
        body["last_refresh"] = last.as_dict() if last is not None else None
        return JSONResponse(body)

    @router.get("/models/{model:path}")
    async def get_model(request: Request, model: str) -> JSONResponse:
        """One model's prices and how its name was resolved; 404 when unknown."""
        runtime = _runtime(request)
        if runtime is None:
            return _not_running()
        info = runtime.book.model_info(model)
        if info is None:
            return error_response(
                Dialect.OPENAI,
                404,
                f"The model {model!r} has no known price.",
                param="model",
                code="model_not_found",
            )
        return JSONResponse(info)

    @router.post("/refresh")
    async def refresh(request: Request) -> JSONResponse:
        """Refresh the table from ``source_url`` now; 502 (table unchanged) when that fails."""
        runtime = _runtime(request)
        if runtime is None:
            return _not_running()
        outcome = await runtime.refresher.refresh()
        table = runtime.book.table.provenance()
        if outcome.ok:
            return JSONResponse({**outcome.as_dict(), "table": table})
        body = error_body(
            Dialect.OPENAI,
            502,
            f"Price refresh from {outcome.source_url} failed: {outcome.error}",
            code="refresh_failed",
        )
        return JSONResponse({**body, "refresh": outcome.as_dict(), "table": table}, status_code=502)

    return router
