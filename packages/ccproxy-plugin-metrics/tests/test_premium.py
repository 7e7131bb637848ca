"""Premium requests (GitHub Copilot's billing): counted from the records' tags into two counters
and the ledger, shown by ``ccproxy usage`` and ``/metrics/usage``, with the quota the running
server's ``oauth_copilot`` plugin read.

The records come from the tiny test provider with the tags the Copilot provider sets; the quota
from a stand-in server on 127.0.0.1 answering ``GET /oauth/copilot/status`` as that plugin does.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from ccproxy.plugins import PluginManifest, SystemPluginFactory, SystemPluginRuntime
from ccproxy.testing import FakeEntryPoint, app_client, fake_entry_point, started_app
from ccproxy_plugin_metrics.cli import app as usage_cli
from ccproxy_plugin_metrics.ledger import SCHEMA_VERSION
from ccproxy_plugin_metrics.usage import read_usage
from metrics_kit import metrics_plugin, scrape, settings, tiny_provider, value

USER = "tag=initiator=user"
AGENT = "tag=initiator=agent"


def tagged(*tags: str, model: str = "gpt-4.1", account: str = "work", **more: Any) -> str:
    """The tiny provider's query string for one record of provider ``copilot``."""
    return urlencode(
        [("provider", "copilot"), ("model", model), ("account", account)]
        + [("tag", tag.removeprefix("tag=")) for tag in tags]
        + [(k, str(v)) for k, v in more.items()]
    )


async def serve_copilot_requests(client: httpx.AsyncClient) -> None:
    """A person's requests (one to a model costing 0.33, one free, one with no multiplier
    stated, one failed), an agent's follow-up, and a Claude request without tags."""
    sends = [
        tagged(USER, "tag=premium_multiplier=0.33", model="gpt-4.1"),
        tagged(USER, "tag=premium_multiplier=0.33", model="gpt-4.1"),
        tagged(USER, "tag=premium_multiplier=10", model="o1-pro", account="default"),
        tagged(USER, "tag=premium_multiplier=0", model="gpt-4o-mini"),
        tagged(USER, model="mystery-model"),
        tagged(USER, "tag=premium_multiplier=1", model="gpt-5", status=429,
               error_kind="upstream_429"),
        tagged(AGENT, "tag=premium_multiplier=0.33", model="gpt-4.1"),
        "provider=claude&model=claude-x&account=default",
    ]  # fmt: skip
    for i, query in enumerate(sends):
        await client.post(f"/tiny/items/{i}?{query}")


async def test_premium_requests_and_their_units_are_counted_per_provider_account_and_model(
    tmp_path: Path,
) -> None:
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            await serve_copilot_requests(client)
            families = await scrape(client)

    def premium(model: str, account: str = "work") -> tuple[float | None, float | None]:
        labels = {"provider": "copilot", "account": account, "model": model}
        return (
            value(families, "ccproxy_premium_requests_total", **labels),
            value(families, "ccproxy_premium_request_units_total", **labels),
        )

    # Without a pricing plugin, a model the provider's catalogue prices is still named.
    requests, units = premium("gpt-4.1")
    assert requests == 2.0 and units == pytest.approx(0.66)
    assert premium("o1-pro", "default") == (1.0, 10.0)
    assert premium("gpt-4o-mini") == (1.0, 0.0)  # a premium request that costs nothing
    assert premium("other") == (1.0, 1.0)  # no multiplier stated: it counts one
    # Not counted: the failed request, the agent's follow-up, the provider that bills none.
    samples = families["ccproxy_premium_requests"].samples
    assert sum(s.value for s in samples if s.name.endswith("_total")) == 5
    assert not any(s.labels["model"] == "gpt-5" for s in samples)
    assert not any(s.labels["provider"] == "claude" for s in samples)
    tokens = {"provider": "copilot", "account": "work", "model": "gpt-4.1", "type": "input"}
    assert value(families, "ccproxy_tokens_total", **tokens) == 30.0


async def test_the_ledger_keeps_initiator_and_units_and_usage_sums_them_exactly(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "usage.sqlite3"
    entry_points = [metrics_plugin(), tiny_provider()]
    async with started_app(settings(ledger), entry_points=entry_points) as app:
        async with app_client(app) as client:
            await serve_copilot_requests(client)
            by_provider = (await client.get("/metrics/usage?group_by=provider")).json()
            by_account = (await client.get("/metrics/usage?group_by=account")).json()

    connection = sqlite3.connect(ledger)
    try:
        stored = connection.execute(
            "SELECT upstream_model, initiator, premium_units FROM requests ORDER BY id"
        ).fetchall()
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        connection.close()
    assert stored == [
        ("gpt-4.1", "user", "0.33"),
        ("gpt-4.1", "user", "0.33"),
        ("o1-pro", "user", "10"),
        ("gpt-4o-mini", "user", "0"),
        ("mystery-model", "user", "1"),
        ("gpt-5", "user", "0"),  # failed: not billed
        ("gpt-4.1", "agent", "0"),
        ("claude-x", None, None),
    ]
    groups = {g["key"]: g for g in by_provider["groups"]}
    assert groups["copilot"]["premium_units"] == "11.66"
    assert "premium_units" not in groups["claude"]  # a provider that bills none: no field
    assert by_provider["total"]["premium_units"] == "11.66"
    accounts = {g["key"]: g.get("premium_units") for g in by_account["groups"]}
    assert accounts == {"default": "10", "work": "1.66"}  # claude's request counts nothing


async def test_a_ledger_without_copilot_rows_reports_as_before(tmp_path: Path) -> None:
    ledger = tmp_path / "usage.sqlite3"
    async with started_app(
        settings(ledger), entry_points=[metrics_plugin(), tiny_provider()]
    ) as app:
        async with app_client(app) as client:
            await client.post("/tiny/items/1?provider=claude&model=claude-x")
            report = (await client.get("/metrics/usage")).json()
    assert "premium_units" not in report["total"]
    assert all("premium_units" not in group for group in report["groups"])


# --- an old ledger --------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT NOT NULL, provider TEXT NOT NULL,
    route TEXT NOT NULL, client_format TEXT NOT NULL, upstream_format TEXT NOT NULL,
    client_model TEXT, upstream_model TEXT, streaming INTEGER NOT NULL,
    status_code INTEGER NOT NULL, error_kind TEXT, duration_s REAL NOT NULL, ttfb_s REAL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL, cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost_usd TEXT,
    account TEXT
);
CREATE INDEX requests_ts ON requests (ts);
INSERT INTO requests VALUES (1, strftime('%s', 'now') - 60, 'req_old', 'claude',
    '/claude/v1/messages', 'anthropic', 'anthropic', 'claude-x', 'claude-x', 1, 200, NULL, 1.0,
    0.5, 7, 3, 0, 0, 0, 0, '0.25', 'default');
PRAGMA user_version = 1;
"""


def v1_ledger(path: Path) -> Path:
    """A ledger as the first release wrote it (schema version 1), with one Claude row."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(V1_SCHEMA)
    finally:
        connection.close()
    return path


async def test_an_old_ledger_is_read_as_it_is_and_migrated_when_the_server_opens_it(
    tmp_path: Path,
) -> None:
    ledger = v1_ledger(tmp_path / "usage.sqlite3")
    # Readers never migrate: the old file reads as a ledger without premium requests.
    before = read_usage(ledger, since=None, until=_far_future(), group_by="provider")
    assert [(g.key, g.requests, g.premium_units) for g in before.groups] == [("claude", 1, None)]

    async with started_app(
        settings(ledger), entry_points=[metrics_plugin(), tiny_provider()]
    ) as app:
        async with app_client(app) as client:
            await client.post(f"/tiny/items/1?{tagged(USER, 'tag=premium_multiplier=0.33')}")
            report = (await client.get("/metrics/usage?group_by=provider&since=all")).json()

    groups = {
        g["key"]: (g["requests"], g["cost_usd"], g.get("premium_units")) for g in report["groups"]
    }
    assert groups == {"claude": (1, "0.25", None), "copilot": (1, "0", "0.33")}
    connection = sqlite3.connect(ledger)
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        old = connection.execute(
            "SELECT request_id, input_tokens, initiator, premium_units FROM requests WHERE id = 1"
        ).fetchone()
    finally:
        connection.close()
    assert old == ("req_old", 7, None, None)

    # Opening it again (a restart, or a second worker) finds nothing left to do.
    async with started_app(settings(ledger), entry_points=[metrics_plugin()]) as app:
        async with app_client(app) as client:
            again = (await client.get("/metrics/usage?since=all")).json()
    assert again["total"]["requests"] == 2


def _far_future() -> Any:
    from datetime import UTC, datetime

    return datetime(2999, 1, 1, tzinfo=UTC)


# --- ccproxy usage --------------------------------------------------------------------------------

STATUS = {
    "name": "oauth_copilot",
    "usage": {
        "accounts": {
            "default": {
                "user": "octocat",
                "plan": "individual",
                "quota_reset_date": "2027-01-01",
                "quotas": {
                    "premium_requests": {
                        "entitlement": 300,
                        "remaining": 288.34,
                        "percent_remaining": 96.1,
                        "unlimited": False,
                    },
                    "chat": {"entitlement": 0, "remaining": 0, "unlimited": True},
                },
                "seen_at": "2026-12-06T02:00:00+00:00",
            },
            "work": {
                "user": "octo-work",
                "plan": "business",
                "quotas": {"premium_requests": {"unlimited": True}},
                "seen_at": "2026-12-06T02:00:00+00:00",
            },
            "broken": {"error": "GitHub answered HTTP 401", "seen_at": "2026-12-06T02:00:00+00:00"},
        }
    },
}


class StatusServer:
    """A stand-in ``ccproxy serve`` on 127.0.0.1 answering only ``GET /oauth/copilot/status``
    (with ``token``, only to that bearer token); ``seen`` keeps each request's path and
    authorization header."""

    def __init__(self, body: dict[str, Any], token: str | None = None) -> None:
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("authorization")))
                if token is not None and self.headers.get("authorization") != f"Bearer {token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                found = self.path == "/oauth/copilot/status"
                payload = json.dumps(body if found else {"error": "not found"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def __enter__(self) -> StatusServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose configuration comes only from the test, and no server on its port."""
    monkeypatch.chdir(tmp_path)
    for name in ("CCPROXY_CONFIG", "PLUGINS__METRICS__LEDGER_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SERVER__PORT", str(_closed_port()))
    return CliRunner()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def copilot_ledger(tmp_path: Path) -> Path:
    """A ledger holding :func:`serve_copilot_requests`'s rows."""
    ledger = tmp_path / "copilot.sqlite3"
    async with started_app(
        settings(ledger), entry_points=[metrics_plugin(), tiny_provider()]
    ) as app:
        async with app_client(app) as client:
            await serve_copilot_requests(client)
    return ledger


def table(output: str) -> dict[str, list[str]]:
    """The rows of ``ccproxy usage``'s table: first cell → the others (headings under ``None``)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-"))
    heading = lines[start - 1]
    rows = {}
    for line in lines[start + 1 :]:
        if line.startswith("-"):
            continue
        cells = line.split()
        rows[cells[0]] = cells[1:]
        if cells[0] == "TOTAL":
            break
    return {"": heading.split(), **rows}


def test_the_table_has_a_premium_column_with_exact_units_by_any_grouping(
    runner: CliRunner, copilot_ledger: Path
) -> None:
    by_model = runner.invoke(usage_cli, ["--ledger", str(copilot_ledger)])
    assert by_model.exit_code == 0, by_model.output
    rows = table(by_model.output)
    assert rows[""][-2:] == ["PREMIUM", "REQUESTS"]
    assert rows["gpt-4.1"][-1] == "0.66"
    assert rows["o1-pro"][-1] == "10"
    assert rows["claude-x"][-1] == "-"  # a provider that bills no premium requests
    assert rows["TOTAL"][-1] == "11.66"
    assert "Premium requests are GitHub Copilot's" in by_model.output

    for by, key, units in (("provider", "copilot", "11.66"), ("account", "work", "1.66")):
        result = runner.invoke(usage_cli, ["--by", by, "--ledger", str(copilot_ledger)])
        assert result.exit_code == 0, result.output
        assert table(result.output)[key][-1] == units, by
    by_day = runner.invoke(usage_cli, ["--by", "day", "--ledger", str(copilot_ledger)])
    assert table(by_day.output)["TOTAL"][-1] == "11.66"


def test_without_premium_rows_the_table_is_unchanged(runner: CliRunner, tmp_path: Path) -> None:
    ledger = v1_ledger(tmp_path / "v1.sqlite3")
    result = runner.invoke(usage_cli, ["--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    assert table(result.output)[""][-2:] == ["COST", "(USD)"]
    assert "PREMIUM" not in result.output and "Premium requests" not in result.output


def test_the_quota_of_each_copilot_account_comes_from_the_running_server(
    runner: CliRunner, copilot_ledger: Path
) -> None:
    with StatusServer(STATUS) as server:
        result = runner.invoke(
            usage_cli, ["--ledger", str(copilot_ledger), "--port", str(server.port)]
        )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-3:] == [
        "Copilot account broken: premium requests unknown (GitHub answered HTTP 401)",
        "Copilot account default (octocat): premium requests: 288.34 of 300 left, "
        "resets on 2027-01-01",
        "Copilot account work (octo-work): premium requests: unlimited",
    ]
    assert server.seen == [("/oauth/copilot/status", None)]


def test_the_quota_is_asked_with_the_configured_token_even_without_a_ledger(
    runner: CliRunner, tmp_path: Path
) -> None:
    with StatusServer(STATUS, token="s3cret") as server:
        result = runner.invoke(
            usage_cli,
            [
                "--ledger", str(tmp_path / "none.sqlite3"),
                "--port", str(server.port),
                "--set", "security.auth_token=s3cret",
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "No usage recorded yet" in result.output
    assert "premium requests: 288.34 of 300 left" in result.output
    assert server.seen == [("/oauth/copilot/status", "Bearer s3cret")]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"name": "oauth_copilot", "usage": {"accounts": {}}}, id="no-account"),
        pytest.param({"name": "oauth_claude"}, id="not-copilot"),
    ],
)
def test_the_quota_is_quiet_when_there_is_none_to_show(
    runner: CliRunner, copilot_ledger: Path, answer: dict[str, Any]
) -> None:
    with StatusServer(answer) as server:
        result = runner.invoke(
            usage_cli, ["--ledger", str(copilot_ledger), "--port", str(server.port)]
        )
    assert result.exit_code == 0, result.output
    assert "left" not in result.output and "Copilot account" not in result.output


def test_the_quota_is_quiet_when_no_server_answers_or_it_refuses(
    runner: CliRunner, copilot_ledger: Path
) -> None:
    quiet = runner.invoke(usage_cli, ["--ledger", str(copilot_ledger)])  # nothing listens
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "Copilot account" not in quiet.output
    with StatusServer(STATUS, token="other") as server:
        refused = runner.invoke(
            usage_cli, ["--ledger", str(copilot_ledger), "--port", str(server.port)]
        )
    assert refused.exit_code == 0 and "Copilot account" not in refused.output
    with StatusServer(STATUS) as server:
        as_json = runner.invoke(
            usage_cli, ["--json", "--ledger", str(copilot_ledger), "--port", str(server.port)]
        )
    assert json.loads(as_json.output)["total"]["premium_units"] == "11.66"
    assert server.seen == []  # --json prints the ledger's report only


# --- the dashboard ---------------------------------------------------------------------------------


def copilot_auth_stand_in(status: dict[str, Any]) -> FakeEntryPoint:
    """A plugin named ``oauth_copilot`` whose runtime's ``status()`` answers ``status``, as the
    Copilot auth plugin's does (the metrics plugin reads only that)."""

    class Runtime(SystemPluginRuntime):
        def status(self) -> dict[str, Any]:
            return status

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    manifest = PluginManifest(name="oauth_copilot", version="0.0.1")
    return fake_entry_point("oauth_copilot", Factory(manifest), distribution="fake-copilot-auth")


async def test_the_dashboard_shows_each_copilot_accounts_quota_among_the_windows(
    tmp_path: Path,
) -> None:
    entry_points = [metrics_plugin(), copilot_auth_stand_in(STATUS)]
    async with started_app(settings(tmp_path / "u.sqlite3"), entry_points=entry_points) as app:
        async with app_client(app) as client:
            data = (await client.get("/metrics/dashboard/data")).json()
    windows = {(w["provider"], w["account"], w["window"]): w for w in data["windows"]}
    assert set(windows) == {  # the account whose quota could not be read is left out
        ("copilot", "default", "premium requests"),
        ("copilot", "work", "premium requests"),
    }
    default = windows[("copilot", "default", "premium requests")]
    assert default["remaining"] == 288.34 and default["entitlement"] == 300
    assert default["used_ratio"] == pytest.approx(1 - 288.34 / 300)
    assert default["reset_at"] == "2027-01-01T00:00:00+00:00" and default["resets_in_s"] > 0
    work = windows[("copilot", "work", "premium requests")]
    assert work["unlimited"] is True and work["used_ratio"] is None


async def test_without_the_copilot_auth_plugin_the_dashboard_has_no_quota(tmp_path: Path) -> None:
    async with started_app(
        settings(tmp_path / "u.sqlite3"), entry_points=[metrics_plugin()]
    ) as app:
        async with app_client(app) as client:
            data = (await client.get("/metrics/dashboard/data")).json()
    assert data["windows"] == []
