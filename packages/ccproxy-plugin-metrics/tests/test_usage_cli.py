"""``ccproxy usage``: the table, ``--json``, grouping, time ranges and a read-only ledger."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccproxy.cli.main import app as ccproxy_app
from ccproxy.plugins import RequestRecord, Usage
from ccproxy_plugin_metrics.cli import app
from ccproxy_plugin_metrics.ledger import LedgerRow, open_ledger, write_rows

NOW = time.time()
DAY = 86_400.0


def record(
    provider: str, model: str | None, usage: Usage, error: str | None = None
) -> RequestRecord:
    return RequestRecord(
        request_id="req",
        provider=provider,
        route=f"/{provider}/v1/messages",
        client_format="anthropic",
        upstream_format="anthropic",
        client_model=model,
        upstream_model=model,
        streaming=True,
        status_code=200 if error is None else 529,
        error_kind=error,
        usage=usage,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "ccproxy" / "usage.sqlite3"
    big = Usage(input=1_200_000, output=34_000, cache_read=5_000_000, cache_write_5m=70_000)
    small = Usage(input=100, output=20, cache_write_1h=10, reasoning=5)
    rows = [
        LedgerRow.from_record(record("claude", "claude-opus-4-5", big), cost=Decimal("12.3456789"), ts=NOW - 3600),
        LedgerRow.from_record(record("claude", "claude-opus-4-5", small), cost=Decimal("0.0001"), ts=NOW - 2 * DAY),
        LedgerRow.from_record(record("codex", "gpt-5", small), cost=None, ts=NOW - 60),
        LedgerRow.from_record(record("codex", "gpt-5", Usage(), "upstream_529"), cost=None, ts=NOW - 30),
        LedgerRow.from_record(record("codex", "gpt-5", small), cost=Decimal(1), ts=NOW - 40 * DAY),
    ]  # fmt: skip
    connection = open_ledger(path)
    try:
        write_rows(connection, rows)
    finally:
        connection.close()
    return path


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose configuration comes only from the test (no user files, no env)."""
    monkeypatch.chdir(tmp_path)
    for name in ("CCPROXY_CONFIG", "PLUGINS__METRICS__LEDGER_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # No running server to ask for a Copilot quota, whatever runs on this machine.
    monkeypatch.setenv("SERVER__PORT", str(closed_port()))
    return CliRunner()


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_table_by_model_over_the_default_thirty_days(runner: CliRunner, ledger: Path) -> None:
    before = ledger.stat()
    result = runner.invoke(app, [])  # the ledger is found at $XDG_STATE_HOME/ccproxy
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Usage from ") and f"(ledger: {ledger})" in lines[0]
    header, rule, opus, gpt, _, total = lines[2:8]
    assert header.split() == [
        "MODEL", "REQUESTS", "INPUT", "OUTPUT", "CACHE", "READ", "CACHE", "WRITE", "COST", "(USD)",
    ]  # fmt: skip
    assert set(rule.replace(" ", "")) == {"-"}
    assert opus.split() == [
        "claude-opus-4-5", "2", "1,200,100", "34,020", "5,000,000", "70,010", "$12.3458",
    ]  # fmt: skip
    assert gpt.split() == ["gpt-5", "2", "100", "20", "0", "10", "$0.0000"]
    assert total.split() == ["TOTAL", "4", "1,200,200", "34,040", "5,000,000", "70,020", "$12.3458"]
    assert "2 request(s) have no price" in result.output
    assert "pay-as-you-go API" in result.output
    # Read-only: reading changed nothing.
    assert (ledger.stat().st_size, ledger.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )


def test_json_by_provider_since_all(runner: CliRunner, ledger: Path) -> None:
    result = runner.invoke(
        app, ["--since", "all", "--by", "provider", "--json", "--ledger", str(ledger)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["since"] is None and report["group_by"] == "provider"
    assert report["groups"] == [
        {
            "key": "claude",
            "requests": 2,
            "errors": 0,
            "input_tokens": 1_200_100,
            "output_tokens": 34_020,
            "cache_read_tokens": 5_000_000,
            "cache_write_tokens": 70_010,
            "reasoning_tokens": 5,
            "cost_usd": "12.3457789",
            "unpriced_requests": 0,
        },
        {
            "key": "codex",
            "requests": 3,
            "errors": 1,
            "input_tokens": 200,
            "output_tokens": 40,
            "cache_read_tokens": 0,
            "cache_write_tokens": 20,
            "reasoning_tokens": 10,
            "cost_usd": "1",
            "unpriced_requests": 2,
        },
    ]
    assert report["total"]["cost_usd"] == "13.3457789"
    assert report["total"]["requests"] == 5


def test_by_day_since_a_relative_time(runner: CliRunner, ledger: Path) -> None:
    result = runner.invoke(app, ["--since", "7d", "--by", "day", "--json", "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    days = {g["key"]: g["requests"] for g in report["groups"]}
    expected: dict[str, int] = {}
    for ts in (NOW - 3600, NOW - 2 * DAY, NOW - 60, NOW - 30):
        key = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        expected[key] = expected.get(key, 0) + 1
    assert days == expected
    assert list(days) == sorted(days)
    table = runner.invoke(app, ["--since", "7d", "--by", "day", "--ledger", str(ledger)])
    assert "DAY (UTC)" in table.output


def test_the_ledger_path_comes_from_configuration(runner: CliRunner, ledger: Path) -> None:
    moved = ledger.rename(ledger.parent / "elsewhere.sqlite3")
    result = runner.invoke(
        app, ["--json", "--set", f"plugins.metrics.ledger_path={moved}", "--since", "all"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["requests"] == 5


def test_a_missing_ledger_is_a_friendly_message_and_is_not_created(
    runner: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "usage.sqlite3"
    result = runner.invoke(app, ["--ledger", str(missing)])
    assert result.exit_code == 0
    assert "No usage recorded yet" in result.output
    assert str(missing) in result.output
    assert not missing.exists() and not missing.parent.exists()


def test_an_empty_period_says_so(runner: CliRunner, ledger: Path) -> None:
    result = runner.invoke(
        app, ["--since", "2001-01-01", "--until", "2001-01-02", "--ledger", str(ledger)]
    )
    assert result.exit_code == 0
    assert "No requests in this period." in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "colour"], "--by must be one of model, provider, account, route, day"),
        (["--since", "yesterday-ish"], "is not a time"),
    ],
)
def test_bad_arguments_exit_2(
    runner: CliRunner, ledger: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, [*args, "--ledger", str(ledger)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_not_a_ledger_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_text("hello")
    result = runner.invoke(app, ["--ledger", str(bogus)])
    assert result.exit_code == 1
    assert "cannot read the usage ledger" in result.output


def test_ccproxy_usage_runs_through_the_command_entry_point(
    runner: CliRunner, ledger: Path
) -> None:
    result = runner.invoke(
        ccproxy_app, ["usage", "--since", "all", "--json", "--ledger", str(ledger)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["requests"] == 5
    listed = runner.invoke(ccproxy_app, ["--help"])
    assert "usage" in listed.output
