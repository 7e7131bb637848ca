"""ccproxy benchmark: conversion throughput, proxy overhead and memory.

Run: uv run python bench/run.py [--quick]

1. Stream conversion throughput (events/s, one core) for anthropic→chat, anthropic→responses and
   responses→anthropic: upstream SSE bytes → parser → decoder → IR → client encoder → bytes.
2. Against a loopback upstream (bench/upstream.py), direct vs through ``ccproxy serve`` with the
   bench provider plugin (Anthropic passthrough): p50/p99 latency of small non-streaming
   requests, streaming time to first byte, and requests/s at concurrency 16.
   Also the proxy's CPU time per request (from /proc), which is steadier than wall-clock
   latency on a shared machine.
3. Memory: the proxy's RSS idle (every installed plugin loaded, no proxied request yet), after
   warm-up, and at peak while 1,000 clients each hold a slow stream open at the same time.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from upstream import stream_events  # noqa: E402

from ccproxy.llm import ir  # noqa: E402
from ccproxy.llm.codec import get_codec  # noqa: E402
from ccproxy.llm.sse import SSEParser  # noqa: E402
from ccproxy.testing import free_port  # noqa: E402

QUICK = "--quick" in sys.argv
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY = {"model": "bench", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- 1. conversion -----------------------------------------------------------------------


def responses_stream_bytes(deltas: int) -> bytes:
    encoder = get_codec("responses").stream_encoder(model="gpt-bench")
    events: list[ir.StreamEvent] = [
        ir.ResponseStart("resp_bench", "gpt-bench", ir.Usage(input=10)),
        ir.BlockStart(0, ir.Text("")),
    ]
    events += [ir.TextDelta(0, f"word{i} ") for i in range(deltas)]
    events += [ir.BlockStop(0), ir.BlockStart(1, ir.ToolCall("call_1", "get_weather", ""))]
    events += [
        ir.ToolArgumentsDelta(1, '{"city":'),
        ir.ToolArgumentsDelta(1, '"Paris"}'),
        ir.BlockStop(1),
    ]
    events.append(ir.ResponseEnd("tool_use", ir.Usage(input=10, output=deltas)))
    return b"".join(encoder.encode(e) for e in events) + encoder.close()


def conversion_throughput(
    upstream: ir.WireFormat, client: ir.WireFormat, payload: bytes, rounds: int
) -> float:
    chunk_size = 1024
    chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)]
    events = 0
    started = time.perf_counter()
    for _ in range(rounds):
        parser = SSEParser()
        decoder = get_codec(upstream).stream_decoder()
        encoder = get_codec(client).stream_encoder(model="client-model")
        for chunk in chunks:
            for sse in parser.feed(chunk):
                events += 1
                for event in decoder.feed(sse):
                    encoder.encode(event)
        for event in decoder.close():
            encoder.encode(event)
        encoder.close()
    return events / (time.perf_counter() - started)


def bench_conversion() -> dict[str, float]:
    anthropic_payload = b"".join(stream_events("claude-bench", 2000))
    responses_payload = responses_stream_bytes(2000)
    rounds = 3 if QUICK else 20
    return {
        "anthropic→chat": conversion_throughput("anthropic", "chat", anthropic_payload, rounds),
        "anthropic→responses": conversion_throughput(
            "anthropic", "responses", anthropic_payload, rounds
        ),
        "responses→anthropic": conversion_throughput(
            "responses", "anthropic", responses_payload, rounds
        ),
    }


# --- 2. proxy overhead ------------------------------------------------------------------


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=raise_fd_limit,
    )


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def rss_mb(pid: int) -> float:
    """Resident size in MiB (``VmRSS``; /proc, ps and top count in KiB and MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plugins_running(port: int) -> list[str]:
    checks = httpx.get(f"http://127.0.0.1:{port}/health").json().get("checks", {})
    return sorted(name.removeprefix("plugin:") for name in checks)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def latency(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.post(url, json=BODY, headers=HEADERS)
        response.raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples


async def ttfb(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        async with client.stream(
            "POST", url, json={**BODY, "stream": True}, headers=HEADERS
        ) as response:
            chunks = response.aiter_raw()
            await chunks.__anext__()
            samples.append(time.perf_counter() - started)
            async for _chunk in chunks:
                pass
    return samples


async def throughput(
    client: httpx.AsyncClient, url: str, total: int, concurrency: int = 16
) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with client.stream(
                "POST", url, json={**BODY, "stream": True}, headers=HEADERS
            ) as response:
                async for _chunk in response.aiter_raw():
                    pass

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def hold_streams(url: str, count: int, proxy_pid: int, hold_headers: dict[str, str]) -> float:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    peak = 0.0
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        opened = asyncio.Event()
        active = 0

        async def one() -> None:
            nonlocal active
            async with client.stream(
                "POST", url, json={**BODY, "stream": True}, headers={**HEADERS, **hold_headers}
            ) as response:
                active += 1
                if active == count:
                    opened.set()  # every stream is open at the same time
                async for _chunk in response.aiter_raw():
                    pass
                active -= 1

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.wait_for(opened.wait(), timeout=60)
        for _ in range(20):
            peak = max(peak, rss_mb(proxy_pid))
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks)
    return peak


def compile_bytecode() -> None:
    """Byte-compile what the proxy imports, as pip does at install time.

    Without ``.pyc`` files (``uv sync`` does not write them, and ``PYTHONDONTWRITEBYTECODE``
    stops Python from caching them) every start compiles every module from source, and the
    compiler's garbage inflates the resident size the bench reports.
    """
    import compileall
    import sysconfig

    for folder in (sysconfig.get_paths()["purelib"], *map(str, REPO.glob("packages/*/src"))):
        compileall.compile_dir(folder, quiet=2, workers=0)
    compileall.compile_dir(str(REPO / "bench" / "plugins"), quiet=2)


async def bench_proxy() -> dict[str, float]:
    compile_bytecode()
    upstream_port, proxy_port = free_port(), free_port()
    upstream = start([sys.executable, "bench/upstream.py", str(upstream_port)])
    env = {
        **os.environ,
        "PLUGINS__BENCH_PROVIDER__BASE_URL": f"http://127.0.0.1:{upstream_port}",
    }
    proxy = start(
        [
            sys.executable,
            "-m",
            "ccproxy",
            "serve",
            "--port",
            str(proxy_port),
            "--log-level",
            "WARNING",
            "--set",
            f'plugin_dirs=["{REPO / "bench" / "plugins"}"]',
        ],
        env=env,
    )
    results: dict[str, float] = {}
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/")
        wait_for(f"http://127.0.0.1:{proxy_port}/health")
        # Idle after start-up has settled (plugins' first scheduled work, e.g. the pricing
        # refresh over HTTPS, included).
        await asyncio.sleep(3)
        results["proxy idle RSS (MiB)"] = rss_mb(proxy.pid)
        print("plugins running:", ", ".join(plugins_running(proxy_port)))
        direct = f"http://127.0.0.1:{upstream_port}/v1/messages"
        proxied = f"http://127.0.0.1:{proxy_port}/bench_provider/v1/messages"
        n = 50 if QUICK else 400
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
            await latency(client, direct, 20)
            await latency(client, proxied, 20)
            d = await latency(client, direct, n)
            cpu_before = cpu_seconds(proxy.pid)
            p = await latency(client, proxied, n)
            results["proxy CPU per request (ms)"] = (cpu_seconds(proxy.pid) - cpu_before) * 1000 / n
            results["latency p50 direct (ms)"] = statistics.median(d) * 1000
            results["latency p50 proxied (ms)"] = statistics.median(p) * 1000
            results["latency p99 direct (ms)"] = percentile(d, 0.99) * 1000
            results["latency p99 proxied (ms)"] = percentile(p, 0.99) * 1000
            d, p = await ttfb(client, direct, n // 2), await ttfb(client, proxied, n // 2)
            results["stream TTFB p50 direct (ms)"] = statistics.median(d) * 1000
            results["stream TTFB p50 proxied (ms)"] = statistics.median(p) * 1000
            total = 200 if QUICK else 2000
            results["req/s c=16 direct"] = await throughput(client, direct, total)
            results["req/s c=16 proxied"] = await throughput(client, proxied, total)
        # Per-stream memory is measured from the RSS after warm-up (lazy imports done).
        results["proxy RSS after warm-up (MiB)"] = rss_mb(proxy.pid)
        streams = 100 if QUICK else 1000
        # 60 deltas 0.25 s apart: every stream stays open for 15 s, long enough for all to open.
        delay = {"x-bench-delay": "0.25", "x-bench-deltas": "60"}
        results[f"proxy peak RSS, {streams} open streams (MiB)"] = await hold_streams(
            proxied, streams, proxy.pid, delay
        )
    finally:
        for process in (proxy, upstream):
            process.terminate()
            process.wait(timeout=10)
    idle = results["proxy RSS after warm-up (MiB)"]
    peak = results[f"proxy peak RSS, {streams} open streams (MiB)"]
    results["KiB per open stream"] = (peak - idle) * 1024 / streams
    return results


def main() -> None:
    raise_fd_limit()
    print("## Stream conversion throughput (events/s, one core)")
    for name, value in bench_conversion().items():
        print(f"{name:28s} {value:12,.0f}")
    print("\n## Proxy overhead and memory")
    for name, value in asyncio.run(bench_proxy()).items():
        print(f"{name:44s} {value:10.2f}")


if __name__ == "__main__":
    main()
