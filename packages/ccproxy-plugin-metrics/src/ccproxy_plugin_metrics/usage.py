"""Reading the usage ledger: time ranges, totals per group, and the JSON both readers share.

``GET /metrics/usage`` and ``ccproxy usage`` call :func:`read_usage`, which opens the ledger
read-only (``mode=ro``): reading never creates, migrates or locks it for writing. Costs and
premium-request units are summed as ``Decimal`` by an SQLite aggregate, so totals are exact.
A ledger written before premium requests were recorded reads as one without any; one whose
table another process has not created yet reads as one without rows.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal, get_args

from ccproxy_plugin_metrics.ledger import ledger_columns

__all__ = [
    "GROUP_BY",
    "GroupBy",
    "LedgerMissingError",
    "UsageQueryError",
    "UsageReport",
    "UsageTotals",
    "connect_readonly",
    "group_key_sql",
    "parse_instant",
    "read_usage",
    "summarize",
]

GroupBy = Literal["model", "provider", "account", "route", "day"]
#: What totals can be grouped by.
GROUP_BY: Final[tuple[str, ...]] = get_args(GroupBy)

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_GROUP_KEYS: Final[dict[str, str]] = {
    "model": "COALESCE(upstream_model, client_model, '(unknown)')",
    "provider": "provider",
    "account": "COALESCE(account, '(none)')",
    "route": "route",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
}


class UsageQueryError(ValueError):
    """A time or grouping the ledger cannot be asked for (the message says what is accepted)."""


class LedgerMissingError(FileNotFoundError):
    """No ledger file exists at the configured path yet."""


def parse_instant(text: str, *, now: datetime, end_of_day: bool = False) -> datetime:
    """A UTC time from ``7d``/``24h``/``90m``/``2w``/``30s`` ago, ``now``, an ISO date or datetime.

    A bare date is midnight UTC, or the end of that day with ``end_of_day`` (so that
    ``until=2025-01-31`` includes the 31st). A datetime without an offset is taken as UTC.
    """
    value = text.strip().lower()
    if value == "now":
        return now
    if match := _RELATIVE.match(value):
        amount, unit = float(match[1]), _UNITS[match[2]]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError:
            raise UsageQueryError(f"{text!r} reaches back before the year 1") from None
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        parsed = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise UsageQueryError(
            f"{text!r} is not a time: use a relative time like 7d, 24h, 90m, 2w, "
            "an ISO date (2025-01-31) or an ISO datetime (2025-01-31T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the year 1 in UTC
        raise UsageQueryError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


@dataclass(frozen=True)
class UsageTotals:
    """What one group (a model, a provider, an account, a route or a UTC day) used."""

    key: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)
    unpriced_requests: int = 0
    #: Premium requests times their model's multiplier (GitHub Copilot); ``None`` when no row
    #: of the group comes from a provider that bills premium requests.
    premium_units: Decimal | None = None

    def __add__(self, other: UsageTotals) -> UsageTotals:
        summed = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("key", "premium_units")
        }
        units = [u for u in (self.premium_units, other.premium_units) if u is not None]
        return replace(self, **summed, premium_units=sum(units, Decimal(0)) if units else None)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: amounts as decimal strings (exact); ``premium_units`` only when known."""
        body: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        body["cost_usd"] = str(self.cost_usd)
        if self.premium_units is None:
            del body["premium_units"]
        else:
            body["premium_units"] = str(self.premium_units)
        return body


@dataclass(frozen=True)
class UsageReport:
    """Totals per group over ``[since, until)``; ``since`` is ``None`` for "from the start"."""

    since: datetime | None
    until: datetime
    group_by: GroupBy
    groups: list[UsageTotals]
    total: UsageTotals

    @property
    def has_premium(self) -> bool:
        """Whether any row of the range comes from a provider that bills premium requests."""
        return self.total.premium_units is not None

    def to_json(self) -> dict[str, Any]:
        """The body of ``GET /metrics/usage`` and of ``ccproxy usage --json``."""
        return {
            "since": _iso(self.since) if self.since is not None else None,
            "until": _iso(self.until),
            "group_by": self.group_by,
            "groups": [group.to_json() for group in self.groups],
            "total": self.total.to_json(),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _DecimalSum:
    """SQLite aggregate: the exact sum of TEXT decimals (``NULL`` and garbage are skipped)."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: object) -> None:
        if value is None:
            return
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return
        if amount.is_finite():
            self.total += amount

    def finalize(self) -> str:
        return str(self.total)


def group_key_sql(group_by: str) -> str:
    """The SQL expression naming a row's group (:class:`UsageQueryError` for an unknown one)."""
    try:
        return _GROUP_KEYS[group_by]
    except KeyError:
        raise UsageQueryError(
            f"group_by must be one of {', '.join(GROUP_BY)}; got {group_by!r}"
        ) from None


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open the ledger read-only (it is never created); :class:`LedgerMissingError` if absent."""
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise LedgerMissingError(str(resolved))
    connection = sqlite3.connect(f"{resolved.as_uri()}?mode=ro", uri=True, timeout=5.0)
    # typeshed types every aggregate as returning int; SQLite takes any value it can store.
    connection.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
    return connection


def summarize(
    connection: sqlite3.Connection,
    *,
    since: datetime | None,
    until: datetime,
    group_by: str,
) -> UsageReport:
    """Totals of the rows completed in ``[since, until)``, grouped by ``group_by``.

    Ask it inside one read transaction: the columns it checks and the rows it sums are then of
    the same snapshot, whatever another process creates or migrates meanwhile.
    """
    key = group_key_sql(group_by)
    columns = ledger_columns(connection)
    premium = (
        "decimal_sum(premium_units), COUNT(premium_units)"
        if "premium_units" in columns
        else "'0', 0"
    )
    where, params = ["ts < ?"], [until.timestamp()]
    if since is not None:
        where.append("ts >= ?")
        params.append(since.timestamp())
    sql = (
        f"SELECT {key} AS key, COUNT(*), SUM(error_kind IS NOT NULL), "  # nosec B608 # group key from a fixed table; values are ? parameters
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
        "SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(reasoning_tokens), "
        f"decimal_sum(cost_usd), SUM(cost_usd IS NULL), {premium} "
        f"FROM requests WHERE {' AND '.join(where)} GROUP BY key"
    )
    # No table yet: the file is new and its first writer has not committed the schema.
    rows = connection.execute(sql, params).fetchall() if columns else []
    groups = [
        UsageTotals(
            key=str(row[0]),
            requests=row[1],
            errors=row[2],
            input_tokens=row[3],
            output_tokens=row[4],
            cache_read_tokens=row[5],
            cache_write_tokens=row[6],
            reasoning_tokens=row[7],
            cost_usd=Decimal(row[8]),
            unpriced_requests=row[9],
            premium_units=Decimal(row[10]) if row[11] else None,
        )
        for row in rows
    ]
    if group_by == "day":
        groups.sort(key=lambda g: g.key)
    else:
        groups.sort(key=lambda g: (-g.cost_usd, -g.requests, g.key))
    total = UsageTotals(key="total")
    for group in groups:
        total = total + group
    return UsageReport(
        since=since,
        until=until,
        group_by=group_by,  # type: ignore[arg-type]  # checked by group_key_sql above
        groups=groups,
        total=total,
    )


def read_usage(
    path: Path, *, since: datetime | None, until: datetime, group_by: str
) -> UsageReport:
    """:func:`summarize` on the ledger at ``path``, opened read-only. Blocking."""
    connection = connect_readonly(path)
    try:
        connection.execute("BEGIN")
        return summarize(connection, since=since, until=until, group_by=group_by)
    finally:
        connection.close()
