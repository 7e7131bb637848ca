"""The usage ledger: rows survive restarts, writes never block requests, ``/metrics/usage``."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from ccproxy.plugins import RequestRecord, Usage
from ccproxy.testing import FakeAnthropic, Reply, app_client, started_app
from ccproxy_plugin_metrics.ledger import (
    SCHEMA_VERSION,
    LedgerRow,
    LedgerWriter,
    open_ledger,
    write_rows,
)
from ccproxy_plugin_metrics.usage import read_usage
from metrics_kit import (
    ANTHROPIC_HEADERS,
    SONNET_PRICE,
    metrics_plugin,
    pipeline_provider,
    pricing_plugin,
    scrape,
    settings,
    tiny_provider,
    value,
    wait_for,
)

MODEL = "claude-sonnet-4-6"
MESSAGE = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
USAGE = {"input": 1000, "output": 500, "cache_read": 2000, "cache_write": 300, "reasoning": 0}


class LogRecorder:
    """Stands in for a structlog logger: records ``(level, event, fields)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def log(event: str, **fields: Any) -> None:
            self.events.append((level, event, fields))

        return log


def rows(path: Path) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute("SELECT * FROM requests ORDER BY id").fetchall()
    finally:
        connection.close()


def row(i: int, *, cost: Decimal | None = Decimal("0.5"), ts: float = 1_750_000_000.0) -> LedgerRow:
    record = RequestRecord(
        request_id=f"req_{i}",
        provider="p",
        route="/p/v1/messages",
        client_format="anthropic",
        upstream_format="anthropic",
        client_model="m",
        upstream_model="m",
        streaming=False,
        status_code=200,
        usage=Usage(input=i, output=1),
    )
    return LedgerRow.from_record(record, cost=cost, ts=ts)


async def test_ledger_rows_survive_an_app_restart(tmp_path: Path) -> None:
    ledger = tmp_path / "state" / "usage.sqlite3"
    fake = FakeAnthropic(
        accepted_tokens={"tok"}, require_oauth_beta=False, require_claude_code_system=False
    )
    fake.enqueue(*[Reply.text("Hi", usage=USAGE) for _ in range(3)])
    entry_points = [metrics_plugin(), pricing_plugin({MODEL: SONNET_PRICE}), pipeline_provider()]

    for requests_in_this_run in (2, 1):
        async with started_app(
            settings(ledger),
            entry_points=entry_points,
            http_transport=httpx.ASGITransport(app=fake),
        ) as app:
            async with app_client(app) as client:
                for _ in range(requests_in_this_run):
                    response = await client.post(
                        "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
                    )
                    assert response.status_code == 200
                families = await scrape(client)
                usage = (await client.get("/metrics/usage", params={"since": "all"})).json()
        # Counters belong to one process run; the ledger keeps everything.
        assert (
            value(
                families,
                "ccproxy_requests_total",
                provider="testprov",
                account="acct-test",
                route="/testprov/v1/messages",
                model=MODEL,
                status_class="2xx",
            )
            == requests_in_this_run
        )

    stored = rows(ledger)
    assert len(stored) == 3
    assert {r["cost_usd"] for r in stored} == {"0.012225"}
    assert stored[0]["provider"] == "testprov"
    assert stored[0]["route"] == "/testprov/v1/messages"
    assert stored[0]["upstream_model"] == MODEL
    assert (stored[0]["input_tokens"], stored[0]["output_tokens"]) == (1000, 500)
    assert (stored[0]["cache_read_tokens"], stored[0]["cache_write_5m_tokens"]) == (2000, 300)
    assert stored[0]["account"] == "acct-test"
    assert usage["total"]["requests"] == 3
    assert usage["total"]["cost_usd"] == "0.036675"
    assert usage["groups"] == [
        {
            "key": MODEL,
            "requests": 3,
            "errors": 0,
            "input_tokens": 3000,
            "output_tokens": 1500,
            "cache_read_tokens": 6000,
            "cache_write_tokens": 900,
            "reasoning_tokens": 0,
            "cost_usd": "0.036675",
            "unpriced_requests": 0,
        }
    ]
    connection = sqlite3.connect(ledger)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        connection.close()
    assert ledger.stat().st_mode & 0o777 == 0o600


async def test_usage_endpoint_groups_and_validates(tmp_path: Path) -> None:
    entry_points = [metrics_plugin(), pricing_plugin({"known": SONNET_PRICE}), tiny_provider()]
    async with started_app(settings(tmp_path / "u.sqlite3"), entry_points=entry_points) as app:
        async with app_client(app) as client:
            for i, model in enumerate(["known", "known", "unknown"]):
                await client.post(f"/tiny/items/{i}", params={"model": model})
            await client.post(
                "/tiny/items/9",
                params={"model": "known", "status": 502, "error_kind": "upstream_502"},
            )
            by_model = (await client.get("/metrics/usage", params={"group_by": "model"})).json()
            by_provider = (await client.get("/metrics/usage?group_by=provider&since=24h")).json()
            by_day = (await client.get("/metrics/usage?group_by=day&since=7d&until=now")).json()
            nothing = (await client.get("/metrics/usage?since=2001-01-01&until=2001-01-31")).json()
            bad_group = await client.get("/metrics/usage?group_by=colour")
            bad_since = await client.get("/metrics/usage?since=last-tuesday")

    # 10 input and 5 output tokens each; known costs (10 * 3 + 5 * 15) / 1e6 = 0.000105.
    assert [(g["key"], g["requests"], g["errors"], g["cost_usd"], g["unpriced_requests"])
            for g in by_model["groups"]] == [
        ("known", 3, 1, "0.000315", 0),
        ("unknown", 1, 0, "0", 1),
    ]  # fmt: skip
    assert by_model["group_by"] == "model"
    assert by_model["total"]["input_tokens"] == 40
    assert by_model["until"].endswith("Z")
    assert [(g["key"], g["requests"]) for g in by_provider["groups"]] == [("tiny", 4)]
    [day] = by_day["groups"]
    assert len(day["key"]) == 10 and day["requests"] == 4
    assert nothing["groups"] == [] and nothing["total"]["requests"] == 0
    assert nothing["since"] == "2001-01-01T00:00:00Z"
    assert nothing["until"] == "2001-02-01T00:00:00Z"  # a bare date includes that day
    assert bad_group.status_code == 400
    assert "group_by must be one of model, provider, account, route, day" in bad_group.text
    assert bad_since.status_code == 400
    assert "7d" in bad_since.text


async def test_a_full_queue_drops_rows_with_one_warning(tmp_path: Path) -> None:
    logger = LogRecorder()
    dropped: list[int] = []
    writer = LedgerWriter(
        tmp_path / "l.sqlite3",
        logger=cast(Any, logger),
        queue_size=2,
        on_drop=dropped.append,
    )
    await writer.start()
    # No await between submissions: the writer task cannot drain, so the queue fills.
    accepted = [writer.submit(row(i)) for i in range(5)]
    assert accepted == [True, True, False, False, False]
    assert writer.dropped == 3
    assert dropped == [1, 1, 1]
    warnings = [e for e in logger.events if e[0] == "warning"]
    assert [(e[1], e[2]["dropped_total"]) for e in warnings] == [("ledger_queue_full", 1)]
    assert await writer.flush(5)
    assert writer.written == 2
    await writer.close()
    assert [r["input_tokens"] for r in rows(tmp_path / "l.sqlite3")] == [0, 1]
    assert writer.submit(row(9)) is False  # closed


async def test_close_writes_everything_queued(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "l.sqlite3"
    writer = LedgerWriter(path, logger=cast(Any, LogRecorder()), batch_size=7)
    await writer.start()
    for i in range(100):
        assert writer.submit(row(i, cost=None if i % 2 else Decimal("0.000001")))
    await writer.close()
    stored = rows(path)
    assert len(stored) == 100
    assert stored[0]["cost_usd"] == "0.000001" and stored[1]["cost_usd"] is None
    assert writer.written == 100 and writer.dropped == 0


async def test_requests_do_not_wait_for_the_disk(tmp_path: Path) -> None:
    """Writes run in a thread: while one waits for a locked database, the event loop serves on."""
    path = tmp_path / "l.sqlite3"
    writer = LedgerWriter(path, logger=cast(Any, LogRecorder()))
    await writer.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the one write lock a WAL database has
    try:
        assert writer.submit(row(1))
        # The writer took the row off the queue and is waiting on the lock, in its thread ...
        await wait_for(lambda: writer.queued == 0)
        await asyncio.sleep(0.05)
        assert writer.written == 0
        # ... while this loop keeps running: rows still queue at once.
        assert writer.submit(row(2))
        assert writer.queued == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await writer.close()
    assert writer.written == 2
    assert len(rows(path)) == 2


async def test_a_broken_ledger_path_degrades_health_but_metrics_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(blocker / "u.sqlite3"), entry_points=entry_points) as app:
        async with app_client(app) as client:
            await client.post("/tiny/items/1?model=m")
            families = await scrape(client)
            health = (await client.get("/health")).json()
            usage = await client.get("/metrics/usage")
    check = health["checks"]["plugin:metrics"][0]
    assert check["status"] == "warn"
    assert "usage ledger unavailable" in check["output"]
    assert usage.status_code == 503
    assert sum(s.value for s in families["ccproxy_requests"].samples) == 1


async def test_health_reports_ledger_progress(tmp_path: Path) -> None:
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(tmp_path / "u.sqlite3"), entry_points=entry_points) as app:
        async with app_client(app) as client:
            await client.post("/tiny/items/1?model=m")
            await client.get("/metrics/usage")  # waits for the queue to drain
            health = (await client.get("/health")).json()
    check = health["checks"]["plugin:metrics"][0]
    assert check["status"] == "pass"
    assert check["details"]["ledger_rows_written"] == 1
    assert check["details"]["ledger_rows_dropped"] == 0


async def test_rows_of_a_busy_moment_share_one_write_and_flush_skips_the_wait(
    tmp_path: Path,
) -> None:
    """A batch gathers rows for the linger, so requests in a burst cost one commit, and a
    reader waiting on ``flush`` (``/metrics/usage``) does not wait the linger out."""
    path = tmp_path / "l.sqlite3"
    writer = LedgerWriter(path, logger=cast(Any, LogRecorder()), linger_seconds=60)
    await writer.start()
    tasks = len(asyncio.all_tasks())
    for i in range(3):
        assert writer.submit(row(i))
    await wait_for(lambda: writer.queued == 2)  # the writer holds the first row, lingering
    assert writer.written == 0
    assert len(asyncio.all_tasks()) == tasks  # lingering runs no task of its own
    assert await writer.flush(5)  # far less than the 60 s linger
    assert writer.written == 3
    assert len(rows(path)) == 3
    await writer.close()


async def test_a_full_batch_is_written_without_waiting_for_the_linger(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    writer = LedgerWriter(path, logger=cast(Any, LogRecorder()), batch_size=4, linger_seconds=60)
    await writer.start()
    for i in range(4):
        assert writer.submit(row(i))
    await wait_for(lambda: writer.written == 4)
    assert len(rows(path)) == 4
    await writer.close()


# --- several workers opening one new ledger ---------------------------------------------------
# ``ccproxy serve --workers N`` starts N apps that open the same new ledger at the same moment.
# Here "another worker" is a plain connection holding the write lock of the new file, as the
# first opener does while it switches the file to WAL. SQLite answers SQLITE_BUSY at once (no busy
# timeout) to a connection that read the file and then meets that lock, so an open that does not
# retry fails whenever it meets it. The lock is held far longer than an open takes to meet it and
# far shorter than the 5 s an open waits for it.
HOLD_SECONDS = 0.5


def another_worker_creating(ledger: Path) -> sqlite3.Connection:
    """A connection holding the write lock of the new file ``ledger`` (release: ``rollback``)."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(ledger, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


@pytest.mark.timeout(30)
async def test_opening_a_new_ledger_waits_for_the_worker_creating_it(tmp_path: Path) -> None:
    ledger = tmp_path / "u.sqlite3"
    holder = another_worker_creating(ledger)
    try:
        opening = asyncio.create_task(asyncio.to_thread(open_ledger, ledger))
        done, _ = await asyncio.wait([opening], timeout=HOLD_SECONDS)
        assert not done, f"the open did not wait for the lock: {opening.exception()!r}"
    finally:
        holder.rollback()
        holder.close()
    connection = await opening
    try:
        write_rows(connection, [row(1), row(2)])
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        (version,) = connection.execute("PRAGMA user_version").fetchone()
    finally:
        connection.close()
    assert (mode, version) == ("wal", SCHEMA_VERSION)
    report = read_usage(ledger, since=None, until=datetime.now(UTC), group_by="model")
    assert report.total.requests == 2


@pytest.mark.timeout(30)
async def test_a_worker_starting_while_another_creates_the_ledger_answers_usage(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "state" / "u.sqlite3"
    holder = another_worker_creating(ledger)
    release = asyncio.get_running_loop().call_later(HOLD_SECONDS, holder.rollback)
    try:
        entry_points = [metrics_plugin(), tiny_provider()]
        async with started_app(settings(ledger), entry_points=entry_points) as app:
            async with app_client(app) as client:
                empty = await client.get("/metrics/usage", params={"since": "1d"})
                await client.post("/tiny/items/1?model=m")
                one = await client.get("/metrics/usage", params={"since": "1d"})
                health = (await client.get("/health")).json()
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert empty.status_code == 200, empty.text
    assert empty.json()["groups"] == []
    assert empty.json()["total"]["requests"] == 0
    assert empty.json()["total"]["cost_usd"] == "0"
    assert one.status_code == 200, one.text
    assert one.json()["total"]["requests"] == 1
    assert health["checks"]["plugin:metrics"][0]["status"] == "pass"


@pytest.mark.timeout(30)
def test_a_ledger_whose_schema_is_not_committed_yet_reads_as_empty(tmp_path: Path) -> None:
    ledger = tmp_path / "u.sqlite3"
    holder = another_worker_creating(ledger)
    try:
        holder.execute("CREATE TABLE requests (id INTEGER PRIMARY KEY)")  # not committed yet
        report = read_usage(ledger, since=None, until=datetime.now(UTC), group_by="provider")
    finally:
        holder.rollback()
        holder.close()
    assert report.groups == []
    assert report.total.requests == 0
    assert report.to_json()["total"]["cost_usd"] == "0"
