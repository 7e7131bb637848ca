"""The dashboard's ledger queries: totals per time bucket, the slowest and the failing requests.

One read-only connection per call (see :func:`ccproxy_plugin_metrics.usage.connect_readonly`);
every query is a range scan of the ``ts`` index, so a page polling every few seconds costs a
few milliseconds. Costs stay ``Decimal`` (summed by the ledger's exact aggregate) and leave as
decimal strings; the page rounds them only for display.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from ccproxy_plugin_metrics.usage import UsageReport, connect_readonly, summarize

__all__ = ["BUCKET_SECONDS", "Timeline", "bucket_seconds", "read_timeline"]

#: Bucket widths a timeline chooses from: the narrowest giving at most ``MAX_BUCKETS``.
BUCKET_SECONDS: Final = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS: Final = 60
#: How many of the slowest and of the failing requests a timeline lists.
LISTED_REQUESTS: Final = 10

_BUCKET_FIELDS: Final = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
# Only the columns a person may see: never a body, a header or a token (the ledger has none).
_REQUEST_COLUMNS: Final = (
    "ts, provider, route, COALESCE(upstream_model, client_model, '(unknown)'), "
    "status_code, error_kind, duration_s, ttfb_s, streaming"
)


def bucket_seconds(span_seconds: float) -> int:
    """The narrowest width in :data:`BUCKET_SECONDS` that cuts ``span_seconds`` into at most
    :data:`MAX_BUCKETS` buckets (the widest when none does)."""
    for width in BUCKET_SECONDS:
        if span_seconds / width <= MAX_BUCKETS:
            return width
    return BUCKET_SECONDS[-1]


@dataclass(frozen=True)
class Timeline:
    """A range of the ledger as the dashboard shows it."""

    report: UsageReport
    bucket_seconds: int
    buckets: list[dict[str, Any]]
    slowest: list[dict[str, Any]]
    failing: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The ledger part of ``GET /metrics/dashboard/data``."""
        return {
            **self.report.to_json(),
            "bucket_seconds": self.bucket_seconds,
            "buckets": self.buckets,
            "slowest": self.slowest,
            "failing": self.failing,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _buckets(
    connection: sqlite3.Connection, start: float, end: float, width: int
) -> list[dict[str, Any]]:
    # Aligned to the width (epoch multiples) so that a bucket keeps its start while polled.
    first = start - start % width
    sql = (
        "SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, COUNT(*), SUM(error_kind IS NOT NULL), "
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
        "SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(reasoning_tokens), "
        "decimal_sum(cost_usd) FROM requests WHERE ts >= ? AND ts < ? GROUP BY bucket"
    )
    found = {row[0]: row[1:] for row in connection.execute(sql, (first, width, start, end))}
    buckets = []
    index = 0
    while first + index * width < end:
        values = found.get(index)
        bucket: dict[str, Any] = {"start": _iso(first + index * width)}
        for position, name in enumerate(_BUCKET_FIELDS):
            bucket[name] = values[position] if values else 0
        bucket["cost_usd"] = str(Decimal(values[-1])) if values else "0"
        buckets.append(bucket)
        index += 1
    return buckets


def _requests(
    connection: sqlite3.Connection, where: str, order: str, params: tuple[float, float]
) -> list[dict[str, Any]]:
    sql = (
        f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE ts >= ? AND ts < ? AND {where} "  # nosec B608 # fixed fragments; values are ? parameters
        f"ORDER BY {order} LIMIT {LISTED_REQUESTS}"
    )
    return [
        {
            "at": _iso(row[0]),
            "provider": row[1],
            "route": row[2],
            "model": row[3],
            "status_code": row[4],
            "error_kind": row[5],
            "duration_s": row[6],
            "ttfb_s": row[7],
            "streaming": bool(row[8]),
        }
        for row in connection.execute(sql, params)
    ]


def read_timeline(path: Path, *, since: datetime, until: datetime, group_by: str) -> Timeline:
    """Totals per group and per bucket, the slowest and the failing requests of
    ``[since, until)`` in the ledger at ``path``, opened read-only. Blocking."""
    start, end = since.timestamp(), until.timestamp()
    width = bucket_seconds(end - start)
    connection = connect_readonly(path)
    try:
        report = summarize(connection, since=since, until=until, group_by=group_by)
        return Timeline(
            report=report,
            bucket_seconds=width,
            buckets=_buckets(connection, start, end, width),
            slowest=_requests(connection, "1", "duration_s DESC, ts DESC", (start, end)),
            failing=_requests(
                connection,
                "(error_kind IS NOT NULL OR status_code >= 400)",
                "ts DESC",
                (start, end),
            ),
        )
    finally:
        connection.close()
