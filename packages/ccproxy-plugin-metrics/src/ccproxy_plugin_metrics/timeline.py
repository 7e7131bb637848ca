"""The dashboard's ledger queries: totals per time bucket (and per group within each bucket),
the slowest and the failing requests.

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

from ccproxy_plugin_metrics.usage import UsageReport, connect_readonly, group_key_sql, summarize

__all__ = [
    "BUCKET_SECONDS",
    "OTHER_GROUP",
    "SERIES_GROUPS",
    "Timeline",
    "bucket_seconds",
    "read_timeline",
]

#: Bucket widths a timeline chooses from: the narrowest giving at most ``MAX_BUCKETS``.
BUCKET_SECONDS: Final = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS: Final = 60
#: How many of the slowest and of the failing requests a timeline lists.
LISTED_REQUESTS: Final = 10
#: How many groups get a series of their own in the buckets: the first of the report's order
#: (most cost, then most requests); the others add up in :data:`OTHER_GROUP`. A chart with more
#: stacked colours than this stops being readable.
SERIES_GROUPS: Final = 5
#: The series of the groups past :data:`SERIES_GROUPS` (parenthesised, like the ledger's
#: ``(none)`` and ``(unknown)``, so that it cannot be mistaken for a model named ``other``).
OTHER_GROUP: Final = "(other)"

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
    #: The series in ``buckets[i]["groups"]``, in drawing order (``(other)`` last, if any).
    bucket_groups: list[str]
    buckets: list[dict[str, Any]]
    slowest: list[dict[str, Any]]
    failing: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The ledger part of ``GET /metrics/dashboard/data``."""
        return {
            **self.report.to_json(),
            "bucket_seconds": self.bucket_seconds,
            "bucket_groups": self.bucket_groups,
            "buckets": self.buckets,
            "slowest": self.slowest,
            "failing": self.failing,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _series(report: UsageReport) -> tuple[list[str], dict[str, str]]:
    """The series names in drawing order, and each group's series."""
    keys = [group.key for group in report.groups]
    if len(keys) <= SERIES_GROUPS:
        return keys, {key: key for key in keys}
    shown = keys[:SERIES_GROUPS]
    series = dict.fromkeys(keys, OTHER_GROUP)
    series.update({key: key for key in shown})
    return [*shown, OTHER_GROUP], series


class _Sums:
    """The totals of one bucket or of one group within it; the cost stays exact."""

    def __init__(self) -> None:
        self.counts = [0] * len(_BUCKET_FIELDS)
        self.cost = Decimal(0)

    def add(self, counts: tuple[int, ...], cost: str) -> None:
        self.counts = [a + (b or 0) for a, b in zip(self.counts, counts, strict=True)]
        self.cost += Decimal(cost)

    def to_json(self) -> dict[str, Any]:
        return {**dict(zip(_BUCKET_FIELDS, self.counts, strict=True)), "cost_usd": str(self.cost)}


def _buckets(
    connection: sqlite3.Connection,
    start: float,
    end: float,
    width: int,
    *,
    group_by: str,
    series: dict[str, str],
) -> list[dict[str, Any]]:
    # Aligned to the width (epoch multiples) so that a bucket keeps its start while polled.
    first = start - start % width
    sql = (
        f"SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, {group_key_sql(group_by)} AS key, "  # nosec B608 # group key from a fixed table; values are ? parameters
        "COUNT(*), SUM(error_kind IS NOT NULL), "
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
        "SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(reasoning_tokens), "
        "decimal_sum(cost_usd) FROM requests WHERE ts >= ? AND ts < ? GROUP BY bucket, key"
    )
    totals: dict[int, _Sums] = {}
    per_group: dict[int, dict[str, _Sums]] = {}
    for index, key, *counts, cost in connection.execute(sql, (first, width, start, end)):
        totals.setdefault(index, _Sums()).add(tuple(counts), cost)
        # The report and the buckets read one snapshot, so every key is in ``series``.
        name = series.get(str(key), OTHER_GROUP)
        per_group.setdefault(index, {}).setdefault(name, _Sums()).add(tuple(counts), cost)
    buckets = []
    index = 0
    while first + index * width < end:
        bucket: dict[str, Any] = {
            "start": _iso(first + index * width),
            **totals.get(index, _Sums()).to_json(),
            "groups": {name: sums.to_json() for name, sums in per_group.get(index, {}).items()},
        }
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
        # One read transaction: every query sees the same rows (writers keep appending in WAL
        # mode), so the buckets add up to the report's totals, group by group.
        connection.execute("BEGIN")
        report = summarize(connection, since=since, until=until, group_by=group_by)
        names, series = _series(report)
        return Timeline(
            report=report,
            bucket_seconds=width,
            bucket_groups=names,
            buckets=_buckets(connection, start, end, width, group_by=group_by, series=series),
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
