"""The usage ledger: one SQLite row per proxied request, written off the event loop.

Requests never wait on the disk. A completed request's row goes into a bounded
``asyncio.Queue`` (``put_nowait``; when the queue is full the row is dropped and a warning is
logged once per overflow); a background task drains it in batches, each written in one
transaction by ``asyncio.to_thread``. A batch gathers rows for up to ``linger_seconds`` (less when
it fills or someone waits on ``flush``), so a steady stream of requests costs one thread hop and
one commit per batch, not per request. Shutdown waits (bounded) for the queue to drain.

The database runs in WAL mode, so ``ccproxy usage`` and ``GET /metrics/usage`` read it while the
server writes. Costs are ``Decimal`` values stored as TEXT, so sums stay exact.

``PRAGMA user_version`` says which schema a ledger has. Opening it for writing creates the table
and brings an older one up to date in one ``BEGIN IMMEDIATE`` transaction (so that several
workers opening it at once create and migrate it once, and a reader sees it either before or
after): each later version only adds nullable columns (:data:`_ADDED_COLUMNS`), so old rows keep
their meaning and readers of any version still work. Readers never migrate; they check which
columns exist (:func:`ledger_columns`).

Several workers of ``ccproxy serve --workers N`` open a new ledger at the same moment. Switching
it to WAL cannot happen inside a transaction, and SQLite answers ``SQLITE_BUSY`` at once, without
waiting out the busy timeout, to a connection that read the file and then finds another one
holding the write lock (waiting could deadlock). So the set-up, which is idempotent and leaves
nothing behind when it fails, is retried on ``SQLITE_BUSY`` until the timeout; nothing else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins import RequestRecord
    from ccproxy_plugin_metrics.premium import PremiumUse

__all__ = [
    "SCHEMA_VERSION",
    "LedgerRow",
    "LedgerWriter",
    "ledger_columns",
    "open_ledger",
    "write_rows",
]

#: ``PRAGMA user_version`` of the ledger this code writes.
SCHEMA_VERSION: Final = 2

#: How long opening the ledger waits for other connections (busy timeout and set-up retries).
_OPEN_TIMEOUT_SECONDS: Final = 5.0
#: First pause before the set-up is tried again after ``SQLITE_BUSY`` (it doubles, up to 0.1 s).
_RETRY_PAUSE_SECONDS: Final = 0.005

_SCHEMA: Final = (
    """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,                 -- completion time, Unix seconds
    request_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    route TEXT NOT NULL,              -- route template, e.g. /claude/v1/messages
    client_format TEXT NOT NULL,
    upstream_format TEXT NOT NULL,
    client_model TEXT,
    upstream_model TEXT,
    streaming INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    error_kind TEXT,
    duration_s REAL NOT NULL,
    ttfb_s REAL,
    input_tokens INTEGER NOT NULL,    -- without cache reads and writes
    output_tokens INTEGER NOT NULL,   -- with reasoning
    cache_read_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd TEXT,                    -- Decimal as text; NULL when no price is known
    account TEXT,
    initiator TEXT,                   -- v2: user | agent (GitHub Copilot); NULL elsewhere
    premium_units TEXT                -- v2: Decimal as text; NULL where no initiator is tagged
)""",
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts)",
)

#: Columns each schema version added to the one before, as ``(version, name, declaration)``.
_ADDED_COLUMNS: Final = (
    (2, "initiator", "TEXT"),
    (2, "premium_units", "TEXT"),
)
_COLUMNS: Final = (
    "ts", "request_id", "provider", "route", "client_format", "upstream_format",
    "client_model", "upstream_model", "streaming", "status_code", "error_kind", "duration_s",
    "ttfb_s", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens",
    "cache_write_1h_tokens", "reasoning_tokens", "cost_usd", "account", "initiator",
    "premium_units",
)  # fmt: skip
_INSERT: Final = (
    f"INSERT INTO requests ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # nosec B608 # constant column names; values are ? parameters
)


@dataclass(frozen=True)
class LedgerRow:
    """One request as stored (field order is the column order of the insert)."""

    ts: float
    request_id: str
    provider: str
    route: str
    client_format: str
    upstream_format: str
    client_model: str | None
    upstream_model: str | None
    streaming: bool
    status_code: int
    error_kind: str | None
    duration_s: float
    ttfb_s: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    account: str | None
    initiator: str | None = None
    premium_units: Decimal | None = None

    @classmethod
    def from_record(
        cls,
        record: RequestRecord,
        *,
        cost: Decimal | None,
        ts: float,
        premium: PremiumUse | None = None,
    ) -> LedgerRow:
        """The row for ``record``, completed at ``ts``, costing ``cost`` and ``premium``."""
        usage = record.usage
        return cls(
            ts=ts,
            request_id=record.request_id,
            provider=record.provider,
            route=record.route,
            client_format=record.client_format,
            upstream_format=record.upstream_format,
            client_model=record.client_model,
            upstream_model=record.upstream_model,
            streaming=record.streaming,
            status_code=record.status_code,
            error_kind=record.error_kind,
            duration_s=record.duration_s,
            ttfb_s=record.ttfb_s,
            input_tokens=usage.input,
            output_tokens=usage.output,
            cache_read_tokens=usage.cache_read,
            cache_write_5m_tokens=usage.cache_write_5m,
            cache_write_1h_tokens=usage.cache_write_1h,
            reasoning_tokens=usage.reasoning,
            cost_usd=cost,
            account=record.account,
            initiator=None if premium is None else premium.initiator,
            premium_units=None if premium is None else premium.units,
        )

    def values(self) -> tuple[object, ...]:
        """The values for the insert (decimals as text, the flag as 0/1)."""
        values = list(astuple(self))
        values[_COLUMNS.index("streaming")] = int(self.streaming)
        for name in ("cost_usd", "premium_units"):
            amount = getattr(self, name)
            values[_COLUMNS.index(name)] = None if amount is None else str(amount)
        return tuple(values)


def open_ledger(path: Path) -> sqlite3.Connection:
    """Open (creating if needed, mode 0600) the ledger for writing, in WAL mode. Blocking.

    Safe when other processes open, create or migrate the same ledger at the same time.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=_OPEN_TIMEOUT_SECONDS)
    try:
        _retry_busy(lambda: _set_up(connection), _OPEN_TIMEOUT_SECONDS)
        connection.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        connection.close()
        raise
    return connection


def _retry_busy(step: Callable[[], None], timeout: float) -> None:
    """Run ``step`` again after ``SQLITE_BUSY`` (for at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    pause = _RETRY_PAUSE_SECONDS
    while True:
        try:
            step()
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _set_up(connection: sqlite3.Connection) -> None:
    """WAL mode, then the table at :data:`SCHEMA_VERSION` (a newer one is left as it is)."""
    # Persistent in the file: only the first opener switches it; the others just read it.
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    if mode != "wal":
        connection.execute("PRAGMA journal_mode=WAL")
    # One write transaction: a reader or another opener sees no table or the whole schema.
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            connection.execute(statement)
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        present = ledger_columns(connection)
        for _added_in, name, declaration in _ADDED_COLUMNS:
            if name not in present:
                connection.execute(f"ALTER TABLE requests ADD COLUMN {name} {declaration}")  # nosec B608 # constant names
        if version < SCHEMA_VERSION:
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def ledger_columns(connection: sqlite3.Connection) -> frozenset[str]:
    """The columns of the ledger's ``requests`` table (an older ledger lacks the newer ones)."""
    return frozenset(row[1] for row in connection.execute("PRAGMA table_info(requests)"))


def write_rows(connection: sqlite3.Connection, rows: Sequence[LedgerRow]) -> None:
    """Insert ``rows`` in one transaction. Blocking."""
    with connection:
        connection.executemany(_INSERT, [row.values() for row in rows])


class LedgerWriter:
    """Queues rows on the event loop and writes them in batches in a worker thread."""

    def __init__(
        self,
        path: Path,
        *,
        logger: BoundLogger,
        queue_size: int = 10_000,
        batch_size: int = 500,
        linger_seconds: float = 0.25,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._logger = logger
        self._batch_size = batch_size
        self._linger_seconds = linger_seconds
        self._wake = asyncio.Event()
        self._on_drop = on_drop
        self._queue: asyncio.Queue[LedgerRow] = asyncio.Queue(maxsize=queue_size)
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self._closed = False
        self._overflowing = False

    @property
    def queued(self) -> int:
        """Rows waiting to be written."""
        return self._queue.qsize()

    async def start(self) -> None:
        """Open the ledger (in a thread) and start the writer task."""
        self._connection = await asyncio.to_thread(open_ledger, self.path)
        self._task = asyncio.create_task(self._drain(), name="ccproxy-metrics-ledger")

    def submit(self, row: LedgerRow) -> bool:
        """Queue ``row`` without waiting; ``False`` (and a warning) when it was dropped."""
        if self._closed or self._task is None:
            return False
        try:
            self._queue.put_nowait(row)
            if self._queue.qsize() >= self._batch_size:
                self._wake.set()
        except asyncio.QueueFull:
            self._drop(1)
            if not self._overflowing:
                self._overflowing = True
                self._logger.warning(
                    "ledger_queue_full",
                    ledger_path=str(self.path),
                    queue_size=self._queue.maxsize,
                    dropped_total=self.dropped,
                )
            return False
        return True

    async def flush(self, wait_seconds: float | None = None) -> bool:
        """Wait until every queued row is written; ``False`` when ``wait_seconds`` passed first."""
        self._wake.set()
        try:
            await asyncio.wait_for(self._queue.join(), wait_seconds)
        except TimeoutError:
            return False
        return True

    async def close(self, wait_seconds: float = 10.0) -> None:
        """Write what is queued (waiting at most ``wait_seconds``), stop the task, close the file."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            if not await self.flush(wait_seconds):
                self._logger.warning(
                    "ledger_not_flushed", ledger_path=str(self.path), rows_lost=self.queued
                )
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        connection, self._connection = self._connection, None
        # A write still running in its thread owns the connection; it is released with it.
        if connection is not None and not self._writing:
            await asyncio.to_thread(connection.close)

    def _drop(self, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(count)

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if not self._wake.is_set():
                # asyncio.timeout, not wait_for: no extra task per batch.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger_seconds):
                        await self._wake.wait()
            if self._queue.qsize() < self._batch_size:
                # Rows queued from here on wait for the next linger (or flush) again.
                self._wake.clear()
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
                if self._queue.empty():
                    self._overflowing = False

    async def _write(self, batch: list[LedgerRow]) -> None:
        connection = self._connection
        if connection is None:
            self._drop(len(batch))
            return
        self._writing = True
        try:
            await asyncio.to_thread(self._write_in_thread, connection, batch)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._drop(len(batch))
            self._logger.error(
                "ledger_write_failed",
                ledger_path=str(self.path),
                rows=len(batch),
                error=self.last_error,
            )
        else:
            self.written += len(batch)
            self.last_error = None

    def _write_in_thread(self, connection: sqlite3.Connection, batch: list[LedgerRow]) -> None:
        # Cleared by the thread itself: a cancelled await does not stop a running write.
        try:
            write_rows(connection, batch)
        finally:
            self._writing = False
