"""Several workers (``ccproxy serve --workers N``): metrics summed through prometheus-client's
multiprocess files, the same exposition as one process, and one ledger written by many.

prometheus-client picks its multiprocess storage when it is first imported, so each "worker"
here is a fresh interpreter started with ``PROMETHEUS_MULTIPROC_DIR`` set, as serve starts them.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ccproxy.testing import app_client, started_app
from ccproxy_plugin_metrics.collector import MetricsCollector
from ccproxy_plugin_metrics.multiprocess import multiprocess_directory
from metrics_kit import metrics_plugin, scrape, settings, tiny_provider, value

HERE = Path(__file__).resolve().parent

# What one worker records; ``worker`` makes the two workers' readings differ.
UPDATES = """
from decimal import Decimal
from ccproxy.plugins import Usage
from ccproxy_plugin_metrics.collector import PluginInfo

ROUTE = "/claude/v1/messages"


def record(sink, worker):
    for _ in range(3):
        sink.request_started()
    for _ in range(2):
        sink.request_finished()
    for _ in range(worker + 1):
        sink.count_request("claude", "default", ROUTE, "claude-x", "2xx")
    sink.count_request("claude", "work", ROUTE, "claude-x", "2xx")
    sink.count_request("codex", "default", "/codex/v1/responses", "other", "5xx")
    sink.observe_duration("claude", "default", ROUTE, 0.3 + worker * 7)
    sink.observe_ttfb("claude", "work", ROUTE, 0.07 + worker)
    usage = Usage(input=10, output=5, cache_read=1, cache_write_5m=2, cache_write_1h=3, reasoning=1)
    sink.add_tokens("claude", "default", "claude-x", usage)
    sink.add_cost("claude", "work", "claude-x", Decimal("0.25"))
    sink.count_premium("copilot", "work", "gpt-x", Decimal("0.33"))
    sink.count_premium("copilot", "default", "big-x", Decimal(10) * worker)
    sink.count_upstream_error("codex", "default", "upstream_429")
    sink.set_window("claude", "default", "5h", used_ratio=0.1 * (worker + 1), reset_at=1000.0 + worker)
    sink.set_window("claude", "work", "5h", used_ratio=0.9 - worker / 10, reset_at=2000.0)
    sink.set_window("claude", "default", "7d", used_ratio=None, reset_at=5000.0 - worker)
    sink.set_plugins([PluginInfo("metrics", "0.1.0", "system")])
    sink.count_dropped_rows(worker)
"""

WORKER = """
import os, sys
from prometheus_client import CollectorRegistry, generate_latest
from ccproxy_plugin_metrics.multiprocess import MultiprocessMetrics
from updates import record

sink = MultiprocessMetrics(core_version="9.9.9", directory=os.environ["PROMETHEUS_MULTIPROC_DIR"])
if sys.argv[1] == "record":
    record(sink, int(sys.argv[2]))
    print(os.getpid())
else:
    if len(sys.argv) > 2:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(int(sys.argv[2]))
    registry = CollectorRegistry()
    registry.register(sink)
    sys.stdout.write(generate_latest(registry).decode())
"""


def run_worker(tmp_path: Path, directory: Path, *args: str) -> str:
    (tmp_path / "updates.py").write_text(UPDATES)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def families(text: str) -> dict[str, tuple[str, str, dict[Any, float]]]:
    """name → (type, help, {(sample name, labels): value})."""
    found = {}
    for family in text_string_to_metric_families(text):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        found[family.name] = (family.type, family.documentation, samples)
    return found


def test_two_workers_expose_what_one_process_would_after_both_their_updates(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    pids = [int(run_worker(tmp_path, directory, "record", str(w))) for w in (0, 1)]
    exposed = families(run_worker(tmp_path, directory, "expose"))

    namespace: dict[str, Any] = {}
    exec(compile(UPDATES, "updates", "exec"), namespace)  # the same updates, in this process
    one_process = MetricsCollector(core_version="9.9.9")
    for worker in (0, 1):
        namespace["record"](one_process, worker)
    registry = CollectorRegistry()
    registry.register(one_process)
    expected = families(generate_latest(registry).decode())

    assert exposed.keys() == expected.keys()
    for name, (kind, help_text, samples) in expected.items():
        got_kind, got_help, got_samples = exposed[name]
        assert (got_kind, got_help) == (kind, help_text), name
        assert got_samples.keys() == samples.keys(), name
        for key, number in samples.items():
            assert got_samples[key] == pytest.approx(number), (name, key)
    # Each account keeps its own window: the latest reading of each (worker 1 wrote last).
    used = exposed["ccproxy_subscription_window_used_ratio"][2]

    def window(account: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        labels = (("account", account), ("provider", "claude"), ("window", "5h"))
        return ("ccproxy_subscription_window_used_ratio", labels)

    assert used[window("default")] == pytest.approx(0.2)
    assert used[window("work")] == pytest.approx(0.8)
    in_flight = exposed["ccproxy_in_flight_requests"][2]
    assert in_flight == {("ccproxy_in_flight_requests", ()): 2.0}

    # A worker that died leaves the in-flight sum; its counters keep counting.
    after = families(run_worker(tmp_path, directory, "expose", str(pids[1])))
    assert after["ccproxy_in_flight_requests"][2] == {("ccproxy_in_flight_requests", ()): 1.0}
    assert after["ccproxy_requests"][2] == expected["ccproxy_requests"][2]


async def test_one_worker_or_a_missing_directory_keeps_the_in_memory_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert multiprocess_directory(1) is None
    # This interpreter imported prometheus-client without the variable: no shared files.
    assert multiprocess_directory(2) is None
    base = settings()
    several = base.model_copy(update={"server": base.server.model_copy(update={"workers": 2})})
    async with started_app(several, entry_points=[metrics_plugin(), tiny_provider()]) as app:
        async with app_client(app) as client:
            await client.post("/tiny/items/1?model=m")
            found = await scrape(client)
    labels = {
        "provider": "tiny",
        "account": "",
        "route": "/tiny/items/{item_id}",
        "model": "other",
    }
    assert value(found, "ccproxy_requests_total", **labels, status_class="2xx") == 1
    assert list(tmp_path.iterdir()) == []


LEDGER_WRITER = """
import sys
from pathlib import Path
from ccproxy_plugin_metrics.ledger import LedgerRow, open_ledger, write_rows

path, worker, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
connection = open_ledger(path)
for batch in range(batches):
    rows = [
        LedgerRow(
            ts=float(batch), request_id=f"w{worker}-{batch}-{i}", provider="claude", route="/r",
            client_format="anthropic", upstream_format="anthropic", client_model=None,
            upstream_model="m", streaming=False, status_code=200, error_kind=None,
            duration_s=0.1, ttfb_s=None, input_tokens=1, output_tokens=1, cache_read_tokens=0,
            cache_write_5m_tokens=0, cache_write_1h_tokens=0, reasoning_tokens=0, cost_usd=None,
            account=None,
        )
        for i in range(5)
    ]
    write_rows(connection, rows)
connection.close()
"""


@pytest.mark.timeout(120)
def test_workers_write_one_ledger_at_the_same_time_without_losing_a_row(tmp_path: Path) -> None:
    ledger = tmp_path / "state" / "usage.sqlite3"
    writers, batches = 4, 60
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(LEDGER_WRITER),
                str(ledger),
                str(w),
                str(batches),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=90)
        assert process.returncode == 0, errors
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM requests").fetchone()
        (distinct,) = connection.execute(
            "SELECT count(DISTINCT request_id) FROM requests"
        ).fetchone()
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert rows == distinct == writers * batches * 5
    assert mode == "wal"


# Opens the ledger each line of stdin names, as soon as it is read, records one row and reads the
# totals back; answers one line per ledger.
LEDGER_OPENER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from ccproxy_plugin_metrics.ledger import LedgerRow, open_ledger, write_rows
from ccproxy_plugin_metrics.usage import read_usage

worker = sys.argv[1]
print("ready", flush=True)
for line in sys.stdin:
    path = Path(line.strip())
    try:
        connection = open_ledger(path)
        try:
            row = LedgerRow(
                ts=time.time(), request_id=f"w{worker}", provider="claude", route="/r",
                client_format="anthropic", upstream_format="anthropic", client_model=None,
                upstream_model="m", streaming=False, status_code=200, error_kind=None,
                duration_s=0.1, ttfb_s=None, input_tokens=1, output_tokens=1,
                cache_read_tokens=0, cache_write_5m_tokens=0, cache_write_1h_tokens=0,
                reasoning_tokens=0, cost_usd=None, account=None,
            )
            write_rows(connection, [row])
            report = read_usage(path, since=None, until=datetime.now(UTC), group_by="model")
        finally:
            connection.close()
    except Exception as exc:
        print(f"error {exc!r}", flush=True)
    else:
        print(f"ok {report.total.requests}", flush=True)
"""


@pytest.mark.timeout(120)
def test_workers_opening_one_new_ledger_at_once_all_record_and_read(tmp_path: Path) -> None:
    workers, ledgers = 6, 20
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(LEDGER_OPENER), str(w)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    answers: list[str] = []
    try:
        for process in processes:
            assert process.stdout is not None and process.stderr is not None
            assert process.stdout.readline() == "ready\n", process.stderr.read()
        for n in range(ledgers):
            # Every worker is already waiting on its stdin: they open this new file together.
            ledger = tmp_path / f"state{n}" / "usage.sqlite3"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(f"{ledger}\n")
                process.stdin.flush()
            answers += [p.stdout.readline().strip() for p in processes if p.stdout]
    finally:
        for process in processes:
            _, errors = process.communicate(timeout=60)
            assert process.returncode == 0, errors
    assert [answer for answer in answers if not answer.startswith("ok ")] == []
    for n in range(ledgers):
        ledger = tmp_path / f"state{n}" / "usage.sqlite3"
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
            (distinct,) = connection.execute(
                "SELECT count(DISTINCT request_id) FROM requests"
            ).fetchone()
        assert distinct == workers
