"""``ccproxy serve --workers 2`` as a real process with every plugin, in front of the fake
Anthropic upstream: both workers serve, ``/metrics`` sums them on whichever worker answers, the
ledger holds every row, and SIGTERM stops all of them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, LiveServer, Reply, free_port
from integration_kit import CLAUDE_MODEL, metric_samples, metric_sum
from support import isolated_env

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
#: Requests sent before checking which workers served them; more follow only if one was idle.
FIRST_BATCH = 24
MAX_REQUESTS = 400
USAGE = {"input": 100, "output": 7}
MESSAGE = {
    "model": CLAUDE_MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hi"}],
}


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``event`` the server wrote so far."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


async def wait_until(probe: Any, what: str, log: Path, within: float) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"{what} within {within} s:\n{log.read_text(errors='replace')[-4000:]}")


async def proxied(url: str) -> None:
    """One proxied request on a connection of its own (so the kernel picks a worker each time)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/claude/v1/messages", headers={"anthropic-version": "2023-06-01"}, json=MESSAGE
        )
    assert response.status_code == 200, response.text


@pytest.mark.timeout(180)
async def test_two_workers_serve_one_port_and_metrics_sum_across_them(tmp_path: Path) -> None:
    oauth = FakeClaudeOAuth()
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text(
        json.dumps(FakeClaudeOAuth.credentials_file(oauth.mint_credentials()))
    )
    fake = FakeAnthropic(oauth=oauth, default_reply=Reply.text("hi", usage=USAGE))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    async with LiveServer(fake) as upstream, LiveServer(oauth) as oauth_server:
        args = [sys.executable, "-m", "ccproxy", "serve", "--workers", "2", "--port", str(port)]
        for item in (
            f"plugins.claude.base_url={upstream.url}",
            f"plugins.oauth_claude.token_url={oauth_server.url}/v1/oauth/token",
            "plugins.pricing.refresh_interval_hours=0",
            "plugins.permissions.preload_mcp=false",
            f"plugins.metrics.ledger_path={tmp_path / 'usage.sqlite3'}",
            "logging.format=json",
        ):
            args += ["--set", item]
        process = start(args, tmp_path, log)
        try:
            await wait_until(
                lambda: process.poll() is not None or "ccproxy listening on" in log.read_text(),
                "no 'ccproxy listening on'",
                log,
                START_TIMEOUT,
            )
            assert process.poll() is None, log.read_text()
            workers = {e["worker_pid"] for e in log_events(log, "worker_started")}
            assert len(workers) == 2

            # Concurrent requests on fresh connections until each worker has served some.
            sent = 0
            served: Counter[int] = Counter()
            while sent < MAX_REQUESTS:
                batch = FIRST_BATCH if sent == 0 else 8
                await asyncio.gather(*(proxied(url) for _ in range(batch)))
                sent += batch
                # A worker logs request_completed after its hooks ran, so its metrics are in.
                await wait_until(
                    lambda n=sent: len(log_events(log, "request_completed")) == n,
                    f"not {sent} request_completed lines",
                    log,
                    STOP_TIMEOUT,
                )
                served = Counter(e["worker_pid"] for e in log_events(log, "request_completed"))
                if set(served) == workers:
                    break
            assert set(served) == workers, f"one worker served everything: {served}"
            assert sum(served.values()) == sent == len(fake.requests)

            # Every scrape, on a connection of its own, shows the sum over both workers.
            for _ in range(12):
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    exposition = (await client.get("/metrics")).text
                samples = metric_samples(exposition)
                assert metric_sum(samples, "ccproxy_requests_total", provider="claude") == sent
                assert (
                    metric_sum(
                        samples, "ccproxy_requests_total", status_class="2xx", model=CLAUDE_MODEL
                    )
                    == sent
                )
                assert (
                    metric_sum(samples, "ccproxy_tokens_total", provider="claude", type="input")
                    == sent * USAGE["input"]
                )
                assert (
                    metric_sum(samples, "ccproxy_request_duration_seconds_count", provider="claude")
                    == sent
                )
                assert metric_sum(samples, "ccproxy_in_flight_requests") == 0
                assert metric_sum(samples, "ccproxy_build_info") == 1
                assert "Multiprocess metric" not in exposition  # our help texts, not the library's
                assert "pid=" not in exposition

            # The ledger has each worker's rows (another worker's land within its batch delay).
            async def ledger_total() -> int:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    usage = await client.get("/metrics/usage", params={"since": "1d"})
                assert usage.status_code == 200, f"{usage.status_code} {usage.text}"
                return int(usage.json()["total"]["requests"])

            deadline = time.monotonic() + STOP_TIMEOUT
            for _ in range(int(STOP_TIMEOUT / 0.1)):
                total = await ledger_total()
                if total == sent or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert total == sent

            # The metrics directory is private to this run, and is gone after it.
            directory = multiproc_dir(next(iter(workers)))
            if directory is not None:
                assert directory.stat().st_mode & 0o777 == 0o700
                assert sorted(p.name.split("_")[0] for p in directory.glob("*.db"))

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, STOP_TIMEOUT) == 0, log.read_text()
            assert time.monotonic() - started < STOP_TIMEOUT
            assert not any(is_running(pid) for pid in workers)
            if directory is not None:
                assert not directory.exists()
            assert log.read_text().count("ccproxy listening on") == 1
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)


def start(args: list[str], home: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(args, cwd=home, env=isolated_env(home), stdout=sink, stderr=sink)


def multiproc_dir(pid: int) -> Path | None:
    """``PROMETHEUS_MULTIPROC_DIR`` of a running worker, where /proc shows it (Linux)."""
    environ = Path(f"/proc/{pid}/environ")
    if not environ.exists():
        return None
    match = re.search(rb"(?:^|\0)PROMETHEUS_MULTIPROC_DIR=([^\0]*)", environ.read_bytes())
    return Path(os.fsdecode(match[1])) if match else None


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
