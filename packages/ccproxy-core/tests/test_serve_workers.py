"""``ccproxy serve --workers N``: validation, what it says at start, settings in every worker,
signals, and a worker that dies. Servers run as real ``python -m ccproxy`` processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from ccproxy.cli.workers import per_process_notice, worker_sockets
from ccproxy.config import Settings
from ccproxy.testing.network import free_port

SERVE = [sys.executable, "-m", "ccproxy", "serve"]
ONLY_WHO = ["--set", 'enabled_plugins=["who"]']
ONLY_CRASH = ["--set", 'enabled_plugins=["crash"]']
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

WHOAMI_PLUGIN = """
import os
from fastapi import APIRouter
from pydantic import BaseModel
from ccproxy.plugins import PluginManifest, SystemPluginFactory


class WhoConfig(BaseModel):
    label: str = "default"


class WhoFactory(SystemPluginFactory):
    def __init__(self) -> None:
        super().__init__(PluginManifest(name="who", version="0.1.0", config_class=WhoConfig))

    def create_context(self, core_services):
        context = super().create_context(core_services)
        config, settings = context.config, context.settings
        router = APIRouter()

        @router.get("/am-i")
        async def am_i() -> dict:
            return {
                "pid": os.getpid(),
                "label": config.label,
                "workers": settings.server.workers,
                "body_limit": settings.server.max_request_body_bytes,
            }

        context["router"] = router
        return context


factory = WhoFactory()
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """os.environ without ccproxy settings, HOME inside tmp_path, and a local plugin ``who``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k.lower().split("__")[0] not in Settings.model_fields and k != "CCPROXY_CONFIG"
    }
    clean.pop("PYTHONPATH", None)
    clean.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    (tmp_path / "home").mkdir()
    folder = tmp_path / "plugins" / "who"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(WHOAMI_PLUGIN)
    return clean


def run_serve(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccproxy", "serve", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def workers(
    count: int, *args: str, env: dict[str, str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    """``ccproxy serve --workers COUNT`` until it announces its URL; killed if the test fails."""
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SERVE, "--workers", str(count), "--port", str(port), *ONLY_WHO, *args],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_log(process, log, "ccproxy listening on ")
        yield process, log, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{content}")
        time.sleep(0.05)
    pytest.fail(f"{text!r} not logged within {START_TIMEOUT} s:\n{log.read_text()}")


def announced_pids(log: Path) -> list[int]:
    found = re.findall(r"worker processes \(pids ([\d, ]+)\)", log.read_text())
    assert found, log.read_text()
    return [int(pid) for pid in found[-1].split(", ")]


def answers_from(url: str, pids: set[int], *, attempts: int = 300) -> list[dict[str, Any]]:
    """GET /who/am-i on a new connection each time until every pid in ``pids`` answered."""
    answers: list[dict[str, Any]] = []
    for _ in range(attempts):
        answers.append(httpx.get(f"{url}/who/am-i", timeout=10).json())
        if pids <= {a["pid"] for a in answers}:
            return answers
    pytest.fail(f"not every worker answered in {attempts} requests: {answers[-5:]}")


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stopped_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(is_running(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


# --- validation and the start-up notice ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "variables", "source"),
    [
        (["--workers", "0"], {}, "--workers"),
        (["--set", "server.workers=-2"], {}, "--set"),
        ([], {"SERVER__WORKERS": "0"}, "SERVER__WORKERS"),
    ],
)
def test_fewer_than_one_worker_exits_2_naming_key_value_and_source(
    args: list[str], variables: dict[str, str], source: str, env: dict[str, str], tmp_path: Path
) -> None:
    result = run_serve("--port", str(free_port()), *args, env={**env, **variables}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert "server.workers" in result.stderr
    assert source in result.stderr
    assert "greater than or equal to 1" in result.stderr
    assert "listening" not in result.stderr


def test_the_notice_lists_per_process_state_only_for_several_workers() -> None:
    assert per_process_notice(Settings()) is None
    notice = per_process_notice(Settings(server={"workers": 3}))
    assert notice is not None
    assert notice.startswith("ccproxy: 3 workers and no state.redis_url")
    for state in ("previous_response_id", "rate-limit windows", "pending prompts", "refresh"):
        assert state in notice
    # With shared state configured (the setting comes with the Redis work) nothing is printed.
    shared: Any = SimpleNamespace(
        server=SimpleNamespace(workers=3), state=SimpleNamespace(redis_url="redis://127.0.0.1")
    )
    assert per_process_notice(shared) is None


def test_each_worker_listens_on_the_one_port() -> None:
    sockets = worker_sockets("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1 and 0 not in ports
        assert all(sock.get_inheritable() for sock in sockets)
        # Linux balances over one socket per worker; elsewhere they share one.
        assert len(set(sockets)) == (3 if sys.platform.startswith("linux") else 1)
    finally:
        for sock in set(sockets):
            sock.close()


# --- real processes ------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_every_worker_serves_the_exact_settings_and_sigterm_stops_them_all(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".ccproxy.toml").write_text("[server]\nmax_request_body_bytes = 4321\n")
    label = ["--set", "plugins.who.label=from the command line"]
    with workers(2, *label, env=env, cwd=tmp_path) as (process, log, url):
        pids = announced_pids(log)
        assert len(set(pids)) == 2 and process.pid not in pids
        answers = answers_from(url, set(pids))
        assert {a["pid"] for a in answers} == set(pids)
        assert {(a["label"], a["workers"], a["body_limit"]) for a in answers} == {
            ("from the command line", 2, 4321)
        }
        text = log.read_text()
        assert text.count("ccproxy listening on ") == 1
        assert "previous_response_id" in text  # the per-process notice
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) == 0, log.read_text()
    assert stopped_within(pids, STOP_TIMEOUT), f"workers still running: {pids}"


@pytest.mark.timeout(120)
def test_a_worker_that_dies_is_reported_and_replaced(env: dict[str, str], tmp_path: Path) -> None:
    with workers(2, env=env, cwd=tmp_path) as (process, log, url):
        victim, survivor = announced_pids(log)
        os.kill(victim, signal.SIGKILL)
        text = wait_for_log(process, log, "starting a new one")
        assert f"(pid {victim}) was killed by SIGKILL; starting a new one" in text
        assert '"worker_died"' in text or "worker_died" in text
        # The replacement serves next to the survivor.
        deadline = time.monotonic() + START_TIMEOUT
        seen: set[int] = set()
        while time.monotonic() < deadline and len(seen - {survivor}) == 0:
            seen.add(httpx.get(f"{url}/who/am-i", timeout=10).json()["pid"])
            time.sleep(0.02)
        assert victim not in seen and seen - {survivor}, seen
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) == 0, log.read_text()
    assert stopped_within([survivor, *seen], STOP_TIMEOUT)


@pytest.mark.timeout(120)
def test_workers_stop_when_their_supervisor_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    with workers(2, env=env, cwd=tmp_path) as (process, log, _):
        pids = announced_pids(log)
        directory = metrics_dir_of(pids[0])
        if sys.platform.startswith("linux"):
            assert directory is not None and directory.is_dir()
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        assert stopped_within(pids, STOP_TIMEOUT), f"orphaned workers still running: {pids}"
    assert log.read_text().count("worker_orphaned") == 2
    # Nobody else is left to remove the run's metrics directory.
    assert directory is None or not directory.exists()


def metrics_dir_of(pid: int) -> Path | None:
    """A worker's ``PROMETHEUS_MULTIPROC_DIR``, where /proc shows it (Linux)."""
    environ = Path(f"/proc/{pid}/environ")
    if not environ.exists():
        return None
    for entry in environ.read_bytes().split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name == b"PROMETHEUS_MULTIPROC_DIR":
            return Path(os.fsdecode(value))
    return None


FAILING_PLUGIN = """
import multiprocessing
import os

if multiprocessing.parent_process() is not None:  # only in a worker, not in serve's own checks
    os._exit(7)

from ccproxy.plugins import PluginManifest, SystemPluginFactory

factory = SystemPluginFactory(PluginManifest(name="crash", version="0.1.0"))
"""


@pytest.mark.timeout(120)
def test_a_worker_that_never_serves_stops_the_server_with_status_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "plugins" / "crash"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(FAILING_PLUGIN)
    started = time.monotonic()
    result = run_serve(
        "--workers", "2", "--port", str(free_port()), *ONLY_CRASH, env=env, cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert re.search(
        r"worker \d \(pid \d+\) exited with status 7 before it started serving; stopping",
        result.stderr,
    ), result.stderr
    assert "listening on" not in result.stderr
    assert time.monotonic() - started < 60
