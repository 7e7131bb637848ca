"""A real ``ccproxy serve`` under load: no memory, task, descriptor or connection leaks.

10,000 requests at concurrency 32 go through the proxy subprocess to the loopback fakes, after a
warm-up; then 1,000 clients hang up in the middle of a slow stream. The process is measured from
outside (``/proc/<pid>``: resident memory and open descriptors; ``/proc/net/tcp``: the
connections the fake upstreams hold) and from inside by a local debug plugin written for this
test (``GET /soakprobe/tasks``: the event loop's task count).
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy.config import Settings
from ccproxy.testing import Reply
from integration_kit import CLAUDE_MODEL, CODEX_MODEL, Stack, provider_stack

pytestmark = [pytest.mark.soak, pytest.mark.timeout(600)]

REQUESTS = int(os.environ.get("CCPROXY_SOAK_REQUESTS", "10000"))
WARM_UP = REQUESTS // 10
DISCONNECTS = int(os.environ.get("CCPROXY_SOAK_DISCONNECTS", "1000"))
CONCURRENCY = 32
MAX_RSS_GROWTH = 0.10
FD_SLACK = 2
HANG_UP_ROUNDS = 4

PROBE_PLUGIN = textwrap.dedent(
    """
    import asyncio

    from fastapi import APIRouter
    from ccproxy.plugins import PluginManifest, RouteSpec, SystemPluginFactory

    router = APIRouter()


    @router.get("/tasks")
    async def tasks() -> dict[str, int]:
        return {"tasks": len(asyncio.all_tasks())}


    factory = SystemPluginFactory(PluginManifest(name="soakprobe", routes=[RouteSpec(router)]))
    """
)


def _proxy_pid(stack: Stack) -> int:
    port = stack.url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and port.encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no ccproxy serve process on port {port}")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _established(port: int) -> int:
    """Established TCP connections whose local (server) end is 127.0.0.1:``port``."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _remote, state = line.split()[1:4]
        if int(local.split(":")[1], 16) == port and state == "01":
            count += 1
    return count


def _upstream_ports(stack: Stack) -> list[int]:
    return [int(stack.extra[name].rsplit(":", 1)[1]) for name in ("anthropic_url", "codex_url")]


async def _tasks(client: httpx.AsyncClient) -> int:
    response = await client.get("/soakprobe/tasks")
    assert response.status_code == 200, response.text
    tasks: int = response.json()["tasks"]
    return tasks


REQUEST_KINDS: list[tuple[str, dict[str, Any]]] = [
    (
        "/claude/v1/messages",
        {
            "model": CLAUDE_MODEL,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    (
        "/claude/v1/messages",
        {
            "model": CLAUDE_MODEL,
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    (
        "/claude/v1/chat/completions",
        {"model": CLAUDE_MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("/codex/v1/responses", {"model": CODEX_MODEL, "input": "hi", "stream": True}),
    (
        "/codex/v1/chat/completions",
        {"model": CODEX_MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ),
]


async def _run(total: int, one: Callable[[int], Awaitable[None]]) -> None:
    """``one(i)`` for i in ``range(total)``, ``CONCURRENCY`` at a time."""
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await one(index)

    async with asyncio.timeout(300):
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _load(stack: Stack, total: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60, limits=limits) as client:

        async def one(index: int) -> None:
            path, body = REQUEST_KINDS[index % len(REQUEST_KINDS)]
            response = await client.post(path, json=body)
            statuses[response.status_code] += 1

        await _run(total, one)
    # Forget what the fakes recorded: the test process's own memory is not under test.
    stack.anthropic.requests.clear()
    stack.codex.requests.clear()
    return statuses


async def _settle(probe: Callable[[], bool], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if probe():
            return True
        await asyncio.sleep(0.1)
    return probe()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    plugin = tmp_path / "plugins" / "soakprobe" / "plugin.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(PROBE_PLUGIN)
    return tmp_path


async def test_load_then_disconnects_leak_nothing(home: Path) -> None:
    keepalive = Settings().http.max_keepalive_connections
    async with provider_stack(home) as stack:
        pid = _proxy_pid(stack)
        upstream_ports = _upstream_ports(stack)

        def upstream_open() -> int:
            return sum(_established(port) for port in upstream_ports)

        warm = await _load(stack, WARM_UP)
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as probe:
            await asyncio.sleep(0.5)
            rss_0, fds_0, open_0 = _rss_kib(pid), _fds(pid), upstream_open()
            tasks_0 = await _tasks(probe)

        started = time.monotonic()
        loaded = await _load(stack, REQUESTS - WARM_UP)
        elapsed = time.monotonic() - started
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as probe:
            # The load's client connections close on the server's schedule, not ours: wait until
            # they have (a leak never does), rather than for a fixed time.
            await _settle(
                lambda: _fds(pid) - upstream_open() <= fds_0 - open_0 + FD_SLACK, within=15
            )
            rss_1, fds_1, open_1 = _rss_kib(pid), _fds(pid), upstream_open()
            tasks_1 = await _tasks(probe)

        # A stream of ~40 s: every client hangs up in its middle, and an upstream stream the
        # proxy failed to close would still be open when the connections are counted.
        stack.anthropic.replies.default = Reply.text(
            " ".join(["word"] * 2000), delay_between_events=0.02
        )
        hung_up = Counter[str]()

        limits = httpx.Limits(max_connections=CONCURRENCY)
        hang_up_client = httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits)

        async def hang_up(index: int) -> None:
            # Closing a response before its end closes its connection: no client reuses one.
            path, body = REQUEST_KINDS[1]
            async with hang_up_client.stream("POST", path, json=body) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    if b"content_block_delta" in chunk:
                        hung_up["mid-stream"] += 1
                        break
                else:
                    hung_up["stream ended"] += 1

        # In rounds: the first warms the hang-up path up, the later ones must not add memory.
        rss_rounds = []
        for _ in range(HANG_UP_ROUNDS):
            await _run(DISCONNECTS // HANG_UP_ROUNDS, hang_up)
            stack.anthropic.requests.clear()
            await _settle(lambda: upstream_open() <= keepalive, within=10)
            rss_rounds.append(_rss_kib(pid))
        await hang_up_client.aclose()
        # Every upstream stream the clients abandoned is closed: only idle pooled ones remain.
        settled = await _settle(lambda: upstream_open() <= keepalive, within=10)
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as probe:
            await _settle(lambda: _fds(pid) <= fds_0 - open_0 + upstream_open())
            rss_2, fds_2, open_2 = _rss_kib(pid), _fds(pid), upstream_open()
            tasks_2 = await _tasks(probe)

    report = (
        f"{REQUESTS} requests in {elapsed:.1f} s after warm-up ({(REQUESTS - WARM_UP) / elapsed:.0f}/s); "
        f"RSS {rss_0} -> {rss_1} -> {rss_2} KiB; fds {fds_0} -> {fds_1} -> {fds_2}; "
        f"upstream connections {open_0} -> {open_1} -> {open_2} (keep-alive {keepalive}); "
        f"tasks {tasks_0} -> {tasks_1} -> {tasks_2}; hang-ups {dict(hung_up)}, "
        f"RSS after each round of them {rss_rounds} KiB"
    )
    print(report)
    assert set(warm) == {200} and set(loaded) == {200}, (warm, loaded)
    assert hung_up == Counter({"mid-stream": DISCONNECTS}), report
    assert rss_1 <= rss_0 * (1 + MAX_RSS_GROWTH), report
    assert rss_rounds[-1] <= rss_rounds[0] * (1 + MAX_RSS_GROWTH), report
    assert tasks_1 <= tasks_0 and tasks_2 <= tasks_0, report
    assert settled and open_2 <= keepalive, report
    # Descriptors other than pooled upstream connections: none gained (a leak over thousands of
    # requests would be thousands; two spare absorb a probe connection not yet torn down).
    assert fds_1 - open_1 <= fds_0 - open_0 + FD_SLACK, report
    assert fds_2 - open_2 <= fds_0 - open_0 + FD_SLACK, report
