"""``GET /metrics`` (Prometheus exposition) and ``GET /metrics/usage`` (ledger totals as JSON).

Both sit behind ``security.auth_token`` when one is set: the core's security middleware guards
every route but ``/health``. Neither is a proxied request, so neither is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ccproxy.plugins import dialect_for, error_response
from ccproxy_plugin_metrics.usage import GROUP_BY, UsageQueryError, parse_instant

if TYPE_CHECKING:
    from ccproxy_plugin_metrics.usage import UsageReport

__all__ = ["DEFAULT_SINCE", "LedgerUnavailableError", "MetricsSource", "metrics_router"]

#: The window ``/metrics/usage`` and ``ccproxy usage`` report when no ``since`` is given.
DEFAULT_SINCE: Final = "30d"


class LedgerUnavailableError(RuntimeError):
    """The ledger is disabled or could not be opened; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class MetricsSource(Protocol):
    """What the routes need from the running plugin."""

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for, and its content type."""
        ...

    async def usage(self, *, since: datetime | None, until: datetime, group_by: str) -> UsageReport:
        """Ledger totals; raises :class:`LedgerUnavailableError`."""
        ...


def metrics_router(source: Callable[[], MetricsSource | None]) -> APIRouter:
    """The plugin's routes; ``source`` returns the running plugin (``None`` before start-up)."""
    router = APIRouter()

    def unavailable(request: Request, status: int, message: str) -> JSONResponse:
        return error_response(dialect_for(request.url.path, request.headers), status, message)

    @router.get("", include_in_schema=True, response_class=Response)
    async def metrics(request: Request) -> Response:
        found = source()
        if found is None:
            return unavailable(request, 503, "The metrics plugin is not running.")
        body, content_type = found.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @router.get("/usage")
    async def usage(request: Request) -> Response:
        found = source()
        if found is None:
            return unavailable(request, 503, "The metrics plugin is not running.")
        query = request.query_params
        group_by = query.get("group_by", "model")
        now = datetime.now(UTC)
        try:
            if group_by not in GROUP_BY:
                raise UsageQueryError(
                    f"group_by must be one of {', '.join(GROUP_BY)}; got {group_by!r}"
                )
            since_text = query.get("since", DEFAULT_SINCE)
            since = (
                None if since_text.strip().lower() == "all" else parse_instant(since_text, now=now)
            )
            until = parse_instant(query.get("until", "now"), now=now, end_of_day=True)
        except UsageQueryError as exc:
            return unavailable(request, 400, str(exc))
        try:
            report = await found.usage(since=since, until=until, group_by=group_by)
        except LedgerUnavailableError as exc:
            return unavailable(request, exc.status, str(exc))
        return JSONResponse(report.to_json())

    return router
