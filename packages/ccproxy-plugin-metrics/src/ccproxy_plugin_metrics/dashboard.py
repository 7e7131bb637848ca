"""The usage dashboard: ``GET /metrics/dashboard`` and the JSON it is a thin view over.

Routes (under ``/metrics``):

- ``GET /dashboard`` — the page (a sign-in form instead while ``security.auth_token`` is set
  and the browser has not got the token cookie; the page itself carries no data);
- ``GET /dashboard/data`` — one range of the ledger: totals per group (the numbers of
  ``/metrics/usage``), totals per time bucket and per group within each bucket (the top
  groups, the rest as ``(other)``), the slowest and the failing requests, and the subscription
  windows of each provider's accounts as last seen (with each GitHub Copilot account's
  premium-request quota when the ``oauth_copilot`` plugin runs in this app);
- ``POST /dashboard/session`` — exchanges ``Authorization: Bearer <token>`` for the
  ``HttpOnly`` ``SameSite=Strict`` token cookie, so the token never sits in a URL;
- ``GET /dashboard/{login.js,dashboard.js,dashboard.css}`` — the page's own assets, shipped
  in the wheel. The page loads nothing from any other host (its ``Content-Security-Policy``
  says so to the browser too) and draws its charts as SVG in plain JavaScript.

Ledger reads run in a worker thread on a read-only connection; nothing here touches the
request path.
"""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final, Protocol

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import JSONResponse, Response

from ccproxy.plugins import TOKEN_COOKIE, dialect_for, error_response, has_valid_token
from ccproxy_plugin_metrics.timeline import OTHER_GROUP, SERIES_GROUPS, read_timeline
from ccproxy_plugin_metrics.usage import GROUP_BY, UsageQueryError, parse_instant

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ccproxy.plugins import Settings
    from ccproxy_plugin_metrics.config import MetricsConfig
    from ccproxy_plugin_metrics.ledger import LedgerWriter

__all__ = ["DASHBOARD_PUBLIC_PATHS", "DATA_SCHEMA", "RANGES", "DashboardSource", "dashboard_router"]

#: The ranges the page offers, as ``since`` values; ``custom`` takes ``since`` and ``until``.
RANGES: Final = {"24h": "24h", "7d": "7d", "30d": "30d"}
#: Paths a browser must reach before it holds the token (they carry no data).
DASHBOARD_PUBLIC_PATHS: Final = ("/metrics/dashboard", "/metrics/dashboard/login.js")
#: How long the data route waits for queued rows to reach the ledger before reading it.
FLUSH_SECONDS: Final = 2.0
_WINDOW_USED: Final = "ccproxy_subscription_window_used_ratio"
_WINDOW_RESET: Final = "ccproxy_subscription_window_reset_timestamp_seconds"
_ASSETS: Final = {
    "login.js": "text/javascript",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
_PAGE_HEADERS: Final = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


_COUNTS: Final = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_TOTALS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        **{name: {"type": "integer"} for name in _COUNTS},
        "cost_usd": {"type": "string", "description": "Exact decimal USD."},
    },
}
#: The 200 body of ``GET /metrics/dashboard/data`` as the OpenAPI schema shows it.
DATA_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "range": {"type": "string"},
        "since": {"type": "string", "format": "date-time"},
        "until": {"type": "string", "format": "date-time"},
        "group_by": {"type": "string", "enum": ["model", "provider", "account", "route"]},
        "groups": {
            "type": "array",
            "description": "Totals per group, as GET /metrics/usage.",
            "items": {"type": "object"},
        },
        "total": {"type": "object", "description": "As GET /metrics/usage."},
        "bucket_seconds": {"type": "integer"},
        "bucket_groups": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"The groups with a series of their own in buckets[].groups, in "
            f"drawing order: the first {SERIES_GROUPS} of `groups`, then {OTHER_GROUP!r} "
            "for all the others when there are more.",
        },
        "buckets": {
            "type": "array",
            "description": "The range in bucket_seconds steps, oldest first, empty ones "
            "included; they add up to `total`.",
            "items": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    **_TOTALS_SCHEMA["properties"],
                    "groups": {
                        "type": "object",
                        "description": "The bucket per name of bucket_groups (only those with "
                        "requests in the bucket); they add up to the bucket.",
                        "additionalProperties": _TOTALS_SCHEMA,
                    },
                },
            },
        },
        "slowest": {"type": "array", "items": {"type": "object"}},
        "failing": {"type": "array", "items": {"type": "object"}},
        "windows": {
            "type": "array",
            "description": "Each subscription window of each provider's accounts, as last seen; "
            "a GitHub Copilot account's premium-request quota is the window 'premium requests' "
            "(with remaining, entitlement and unlimited).",
            "items": {
                "type": "object",
                "properties": {
                    "provider": {"type": "string"},
                    "account": {
                        "type": "string",
                        "description": "The account's name in the provider's pool.",
                    },
                    "window": {"type": "string"},
                    "used_ratio": {"type": ["number", "null"]},
                    "reset_at": {"type": ["string", "null"], "format": "date-time"},
                    "resets_in_s": {"type": ["number", "null"]},
                    "remaining": {"type": ["number", "null"]},
                    "entitlement": {"type": ["number", "null"]},
                    "unlimited": {"type": "boolean"},
                },
            },
        },
    },
}


class DashboardSource(Protocol):
    """What the dashboard reads from the running plugin (its runtime has all of it)."""

    @property
    def config(self) -> MetricsConfig: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    ledger: LedgerWriter | None
    ledger_error: str | None

    def premium_quota(self, now: float) -> list[dict[str, Any]]:
        """The Copilot accounts' premium-request quotas as windows (none without the plugin)."""
        ...


def _static(name: str) -> bytes:
    return files("ccproxy_plugin_metrics").joinpath("static").joinpath(name).read_bytes()


def _windows(registry: CollectorRegistry, now: float) -> list[dict[str, Any]]:
    """The subscription windows as last seen, per provider and account, from the plugin's own
    gauges."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for family in registry.collect():
        if family.name not in (_WINDOW_USED, _WINDOW_RESET):
            continue
        for sample in family.samples:
            if sample.name != family.name or not math.isfinite(sample.value):
                continue
            labels = sample.labels
            key = (labels.get("provider", ""), labels.get("account", ""), labels.get("window", ""))
            entry = seen.setdefault(
                key,
                {"provider": key[0], "account": key[1], "window": key[2], "used_ratio": None,
                 "reset_at": None, "resets_in_s": None},
            )  # fmt: skip
            if family.name == _WINDOW_USED:
                entry["used_ratio"] = sample.value
            else:
                entry["reset_at"] = datetime.fromtimestamp(sample.value, UTC).isoformat()
                entry["resets_in_s"] = max(0.0, sample.value - now)
    return [seen[key] for key in sorted(seen)]


def _range(
    name: str, since_text: str | None, until_text: str | None, now: datetime
) -> tuple[datetime, datetime]:
    if name in RANGES:
        return parse_instant(RANGES[name], now=now), now
    if name != "custom":
        raise UsageQueryError(f"range must be one of 24h, 7d, 30d or custom; got {name!r}")
    since = parse_instant(since_text or "24h", now=now)
    until = parse_instant(until_text or "now", now=now, end_of_day=True)
    if not since < until:
        raise UsageQueryError("since must be before until")
    if until - since > timedelta(days=400):
        raise UsageQueryError("a custom range spans at most 400 days")
    return since, until


def dashboard_router(source: Callable[[], DashboardSource | None], settings: Settings) -> APIRouter:
    """The dashboard's routes; ``source`` returns the running plugin (``None`` before start-up)."""
    router = APIRouter()

    def problem(request: Request, status: int, message: str) -> JSONResponse:
        return error_response(dialect_for(request.url.path, request.headers), status, message)

    @router.get("/dashboard", include_in_schema=False)
    async def page(request: Request) -> Response:
        # A public path (so that a browser can sign in): the page is for token holders only.
        name = "dashboard.html" if has_valid_token(request.headers, settings) else "login.html"
        return Response(_static(name), media_type="text/html", headers=_PAGE_HEADERS)

    @router.get(
        "/dashboard/data",
        summary="Usage over time for the dashboard",
        responses={
            200: {
                "description": "Totals per group (as /metrics/usage), per time bucket and per "
                "group within each bucket, the slowest and the failing requests of the range, "
                "and the subscription windows per provider and account.",
                "content": {"application/json": {"schema": DATA_SCHEMA}},
            },
            400: {"description": "A range or grouping that cannot be asked for."},
            404: {"description": "The ledger is disabled."},
            503: {"description": "The plugin is not running or the ledger cannot be opened."},
        },
    )
    async def data(
        request: Request,
        range_: str = Query("24h", alias="range", description="24h, 7d, 30d or custom"),
        group_by: str = Query("model", description="model, provider, account or route"),
        since: str | None = Query(None, description="with range=custom: 7d, an ISO date or time"),
        until: str | None = Query(None, description="with range=custom: now, an ISO date or time"),
    ) -> Response:
        """One range of the usage ledger as the dashboard draws it. Costs are exact decimal
        strings (USD); ``buckets`` cover the range in ``bucket_seconds`` steps, oldest first,
        each split by group (``bucket_groups`` names the series)."""
        found = source()
        if found is None:
            return problem(request, 503, "The metrics plugin is not running.")
        now = datetime.now(UTC)
        try:
            if group_by not in GROUP_BY or group_by == "day":
                raise UsageQueryError(
                    f"group_by must be model, provider, account or route; got {group_by!r}"
                )
            start, end = _range(range_, since, until, now)
        except UsageQueryError as exc:
            return problem(request, 400, str(exc))
        if not found.config.ledger_enabled:
            return problem(
                request, 404, "The usage ledger is disabled (plugins.metrics.ledger_enabled)."
            )
        ledger = found.ledger
        if ledger is None:
            return problem(
                request, 503, f"The usage ledger could not be opened: {found.ledger_error}"
            )
        await ledger.flush(FLUSH_SECONDS)
        timeline = await asyncio.to_thread(
            read_timeline, ledger.path, since=start, until=end, group_by=group_by
        )
        body = timeline.to_json()
        body["range"] = range_
        body["windows"] = _windows(found.registry, now.timestamp()) + found.premium_quota(
            now.timestamp()
        )
        return JSONResponse(body, headers={"cache-control": "no-store"})

    @router.post("/dashboard/session", include_in_schema=False)
    async def session(request: Request) -> Response:
        secret = settings.security.auth_token
        if secret is None:
            return JSONResponse({"cookie": False})
        # The core middleware has checked the token; only one sent as a Bearer header (never
        # one that came as the cookie) is turned into the cookie.
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = secret.get_secret_value()
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

    # Last: ``/dashboard/data`` must match before this pattern does.
    @router.get("/dashboard/{asset}", include_in_schema=False)
    async def asset(asset: str) -> Response:
        if asset not in _ASSETS:
            raise HTTPException(404, "Not found.")
        return Response(_static(asset), media_type=_ASSETS[asset], headers=_PAGE_HEADERS)

    return router
