"""ccproxy benchmark: conversion throughput, proxy overhead against direct and ccproxy-api, memory.

Run: uv run --no-sync python bench/run.py [--quick] [--memory] [--body-kib N] [--upstream tls|http]
         [--ccproxy-api VENV] [--profile /tmp/ccproxy.json [--py-spy PATH]]

1. Stream conversion throughput (events/s, one core) for anthropic→chat, anthropic→responses and
   responses→anthropic: upstream SSE bytes → parser → decoder → IR → client encoder → bytes.
2. A fake Anthropic upstream (bench/upstream.py), over HTTPS by default with a certificate made
   for this run (bench/tls.py; the proxies trust it through ``SSL_CERT_FILE``), or plain HTTP
   with ``--upstream http``. Against it, direct and through ``ccproxy serve`` (the bench provider
   plugin: Anthropic passthrough), through the stack floor (bench/floor.py: uvicorn, Starlette
   and httpx relaying bytes, the least a proxy on ccproxy's stack can do) and, when
   ``--ccproxy-api`` (or ``CCPROXY_API``) names a venv holding the peer project ccproxy-api,
   through its ``claude_api`` provider too: p50/p99 latency of small non-streaming requests,
   streaming time to first byte, streaming requests/s at concurrency 16, and each proxy's CPU
   time per request (from /proc, steadier than wall-clock latency on a shared machine). The
   targets take turns in rounds, so load from elsewhere on the machine falls on all of them
   alike. What ccproxy adds on top of the floor is printed as its own cost.
3. Memory: each proxy's RSS idle (every installed plugin loaded, no proxied request yet), after
   warm-up, and at peak while 1,000 clients each hold a slow stream open at the same time
   (started once the proxy has been idle ``SETTLE_SECONDS``).
4. With ``--profile``, py-spy samples ccproxy during one more load and the run prints the
   functions that cost most, as shares and as estimated microseconds per request.

``--body-kib N`` makes each held stream's request an N KiB conversation.

``--memory`` runs only 3. (after the warm-up requests alone, so "after warm-up" is measured
before the timed load a full run sends): under a minute, for iterating on memory.

Numbers are printed, never asserted: the goals are shown as met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from conversion import bench_conversion
from load import hold_streams, latency, percentile, stream_body, throughput, ttfb
from processes import cpu_seconds, raise_fd_limit, rss_mib, stop
from profiling import find_py_spy, record, speedscope_costs
from targets import (
    FLOOR,
    Server,
    Unavailable,
    check_reaches_fake,
    find_ccproxy_api,
    start_ccproxy,
    start_ccproxy_api,
    start_floor,
    start_upstream,
)
from tls import BenchTLS, make_tls

DIRECT = "direct"
ROUNDS = 4  # the targets take turns this many times per measure
#: Held streams: one delta a second for 40 s. All of them must be open at once: four a second
#: kept a 2-core box so busy relaying that the first streams ended before the last had opened
#: (about 650 of 1,000 were held), and the peak then measured fewer streams than it claimed.
SLOW_STREAM = {"x-bench-delay": "1.0", "x-bench-deltas": "40"}
#: The held streams start after the server has been idle this long. Held right after requests,
#: 1,000 streams opened more slowly (12.3 s against 8.2 s over HTTP), fewer were half-open at
#: once, and the peak was lower (174 against 193 MiB over TLS): a server that has been idle a
#: few seconds is both the usual case and the costlier one.
SETTLE_SECONDS = 5.0
GOAL_ADDED_P50_VS_CCPROXY_API = 0.3
GOAL_THROUGHPUT_VS_DIRECT = 0.6
GOAL_PEAK_MB_1000_STREAMS = 170.0


@dataclass(frozen=True)
class Plan:
    """How much load each measure gets."""

    latency_requests: int
    throughput_requests: int
    held_streams: int
    conversion_rounds: int

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        return cls(60, 240, 100, 3) if quick else cls(400, 2000, 1000, 20)


@dataclass
class Column:
    """One target's samples and measures."""

    url: str
    server: Server | None = None  # None for direct
    latency: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    throughput_seconds: float = 0.0
    throughput_requests: int = 0
    cpu_seconds: float = 0.0
    cpu_requests: int = 0
    values: dict[str, float] = field(default_factory=dict)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ccproxy benchmark (see bench/run.py)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only the memory measures (idle, after warm-up, held streams): no conversion, "
        "latency or throughput",
    )
    parser.add_argument(
        "--body-kib",
        type=int,
        default=0,
        metavar="N",
        help="the held streams ask with an N KiB conversation (Claude Code's run to hundreds of "
        "KiB) instead of a one-line one; the 1,000-stream goal is for one-line ones",
    )
    parser.add_argument(
        "--upstream",
        choices=("tls", "http"),
        default="tls",
        help="the fake upstream's scheme (default: tls, as production upstreams are)",
    )
    parser.add_argument(
        "--ccproxy-api",
        default=os.environ.get("CCPROXY_API"),
        metavar="VENV",
        help="a venv (or its bin/ccproxy) with the ccproxy-api package, to compare against "
        "(default: $CCPROXY_API; skipped when unset)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="OUT",
        help="sample ccproxy with py-spy during an extra load; OUT.json is speedscope (and "
        "prints the top costs), anything else a flame graph SVG",
    )
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    parser.add_argument(
        "--profile-native", action="store_true", help="with --profile: C frames too"
    )
    args = parser.parse_args(argv)
    if args.memory and args.profile is not None:
        parser.error("--profile needs the full run, not --memory")
    if args.profile is not None and find_py_spy(args.py_spy) is None:
        parser.error("--profile needs py-spy: `uv tool install py-spy`, or pass --py-spy PATH")
    return args


# --- running the measures ----------------------------------------------------------------


async def warm_up(client: httpx.AsyncClient, column: Column) -> None:
    """A few requests of each kind: connections, lazy imports, caches."""
    await latency(client, column.url, 20)
    await ttfb(client, column.url, 5)


async def measure(
    columns: dict[str, Column], plan: Plan, verify: ssl.SSLContext | bool, memory_only: bool
) -> None:
    """Latency, time to first byte and throughput for every column, taking turns (only the
    warm-up with ``memory_only``)."""
    per_round = max(plan.latency_requests // ROUNDS, 1)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits, verify=verify) as client:
        for column in columns.values():
            await warm_up(client, column)
        if memory_only:
            return
        for _ in range(ROUNDS):
            for column in columns.values():
                before = cpu_seconds(column.server.pid) if column.server else 0.0
                column.latency += await latency(client, column.url, per_round)
                if column.server:
                    column.cpu_seconds += cpu_seconds(column.server.pid) - before
                    column.cpu_requests += per_round
        for _ in range(ROUNDS):
            for column in columns.values():
                column.ttfb += await ttfb(client, column.url, max(per_round // 2, 1))
        share = max(plan.throughput_requests // 2, 16)
        for _ in range(2):
            for column in columns.values():
                rate = await throughput(client, column.url, share)
                column.throughput_seconds += share / rate
                column.throughput_requests += share


def summarise(column: Column) -> None:
    values = column.values
    values["latency p50 (ms)"] = statistics.median(column.latency) * 1000
    values["latency p99 (ms)"] = percentile(column.latency, 0.99) * 1000
    values["stream TTFB p50 (ms)"] = statistics.median(column.ttfb) * 1000
    values["req/s, streams, c=16"] = column.throughput_requests / column.throughput_seconds
    if column.server:
        values["CPU per request (ms)"] = column.cpu_seconds * 1000 / column.cpu_requests


async def measure_memory(column: Column, plan: Plan, body_kib: int) -> None:
    """RSS after warm-up (and ``SETTLE_SECONDS`` idle), then at peak with
    ``plan.held_streams`` slow streams open."""
    assert column.server is not None
    pid = column.server.pid
    values = column.values
    await asyncio.sleep(SETTLE_SECONDS)
    values["RSS after warm-up (MiB)"] = rss_mib(pid)
    held = await hold_streams(
        column.url, plan.held_streams, lambda: rss_mib(pid), SLOW_STREAM, body=stream_body(body_kib)
    )
    values[f"peak RSS, {plan.held_streams} open streams (MiB)"] = held.peak_rss_mib
    values["streams held at once"] = held.opened
    values["KiB per open stream"] = (
        (held.peak_rss_mib - values["RSS after warm-up (MiB)"]) * 1024 / max(held.opened, 1)
    )


async def profile(server: Server, out: Path, py_spy: str, native: bool, cpu_ms: float) -> None:
    """Sample ``server`` with py-spy under a full run's mixed load and print its top costs.

    Shares become microseconds through ``cpu_ms``, the CPU per request measured unsampled
    (py-spy pauses the process for each sample, which inflates its CPU time).
    """
    plan = Plan.for_run(quick=False)
    requests = plan.latency_requests + plan.throughput_requests
    cpu_before = cpu_seconds(server.pid)
    recording = record(py_spy, server.pid, out, native=native)
    async with httpx.AsyncClient(timeout=30) as client:
        await latency(client, server.messages_url, plan.latency_requests)
        await throughput(client, server.messages_url, plan.throughput_requests)
    recording.finish()
    sampled_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / requests
    print(
        f"\n## Profile of {server.name} under load: {out}\n"
        f"CPU per request {cpu_ms:.2f} ms unsampled, {sampled_ms:.2f} ms while sampled"
    )
    if out.suffix != ".json":
        return
    by_inclusive, by_own, seconds = speedscope_costs(out, top=60)
    # The frames every sample shares (runpy, the CLI, uvicorn's loop) say nothing.
    skip = sum(1 for cost in by_inclusive if cost.inclusive > 0.97)
    by_own = by_own[:25]
    by_inclusive = by_inclusive[: skip + 35]
    print(f"event loop busy {seconds:.1f} s sampled; µs/request = share × CPU per request")
    for title, costs, key in (
        ("inclusive (function and what it calls)", by_inclusive[skip:], "inclusive"),
        ("own (function body only)", by_own, "own"),
    ):
        print(f"\n{title}:")
        for cost in costs:
            share = getattr(cost, key)
            print(f"  {share:6.1%} {share * cpu_ms * 1000:7.0f} µs  {cost.name}  ({cost.where})")


# --- the run -----------------------------------------------------------------------------


def start_peer(
    args: argparse.Namespace, upstream_url: str, tls: BenchTLS | None, scratch: Path
) -> tuple[Server | None, str | None]:
    """ccproxy-api's server, or ``None`` and why it is left out."""
    if not args.ccproxy_api:
        return None, (
            "not configured: install it outside the workspace (uv venv /tmp/ccpapi && "
            "uv pip install --python /tmp/ccpapi ccproxy-api) and pass --ccproxy-api /tmp/ccpapi"
        )
    try:
        executable, version = find_ccproxy_api(args.ccproxy_api)
        server = start_ccproxy_api(executable, upstream_url, tls, scratch)
    except Unavailable as exc:
        return None, str(exc)
    server.name = f"ccproxy-api {version}"
    return server, None


async def bench_proxies(args: argparse.Namespace, plan: Plan, scratch: Path) -> None:
    tls = make_tls(scratch) if args.upstream == "tls" else None
    verify: ssl.SSLContext | bool = tls.client_context() if tls else True
    upstream, upstream_url = start_upstream(tls)
    servers: list[Server] = []
    try:
        servers.append(start_ccproxy(upstream_url, tls, scratch))
        peer, skipped = start_peer(args, upstream_url, tls, scratch)
        if peer is not None:
            servers.append(peer)
        servers.append(start_floor(upstream_url, tls))
        # Idle after start-up has settled (plugins' first scheduled work included).
        await asyncio.sleep(3)
        idle = {server.name: rss_mib(server.pid) for server in servers}
        for server in list(servers):
            try:
                check_reaches_fake(server)
            except Unavailable as exc:
                if not server.name.startswith("ccproxy-api"):
                    raise
                server.stop()
                servers.remove(server)
                skipped = str(exc)
        columns = {DIRECT: Column(f"{upstream_url}/v1/messages")}
        columns |= {s.name: Column(s.messages_url, s) for s in servers}
        for server in servers:
            columns[server.name].values["idle RSS (MiB)"] = idle[server.name]
        await measure(columns, plan, verify, memory_only=args.memory)
        if not args.memory:
            for column in columns.values():
                summarise(column)
        for server in servers:
            await measure_memory(columns[server.name], plan, args.body_kib)
        if args.memory:
            del columns[DIRECT]
            report_table(columns, args, skipped)
            report_floor(columns, memory_only=True)
            print("\n## Goals")
            verdict_memory(columns["ccproxy"].values, args, plan)
        else:
            report(columns, args, plan, skipped)
        if args.profile is not None:
            py_spy = find_py_spy(args.py_spy) or ""
            cpu_ms = columns["ccproxy"].values["CPU per request (ms)"]
            await profile(servers[0], args.profile, py_spy, args.profile_native, cpu_ms)
    finally:
        for server in servers:
            server.stop()
        stop(upstream)


def report_table(columns: dict[str, Column], args: argparse.Namespace, skipped: str | None) -> None:
    print(
        f"\n## Proxy overhead and memory (upstream over {args.upstream.upper()}; default settings)"
    )
    names = list(columns)
    rows: list[str] = []
    for column in columns.values():
        rows += [row for row in column.values if row not in rows]
    rows.sort(key=lambda row: "RSS" in row or row.startswith(("streams held", "KiB")))
    print(f"{'':38s}" + "".join(f"{name:>20s}" for name in names))
    for row in rows:
        cells = [columns[n].values.get(row) for n in names]
        digits = 0 if row == "streams held at once" else 2
        print(f"{row:38s}" + "".join(" " * 20 if v is None else f"{v:20.{digits}f}" for v in cells))
    if skipped:
        print(f"\nccproxy-api column skipped: {skipped}")


def report(
    columns: dict[str, Column], args: argparse.Namespace, plan: Plan, skipped: str | None
) -> None:
    report_table(columns, args, skipped)
    names = list(columns)
    direct = columns[DIRECT].values
    print("\n## Added by each proxy (against direct)")
    added: dict[str, float] = {}
    for name in names[1:]:
        values = columns[name].values
        added[name] = values["latency p50 (ms)"] - direct["latency p50 (ms)"]
        ttfb_added = values["stream TTFB p50 (ms)"] - direct["stream TTFB p50 (ms)"]
        ratio = values["req/s, streams, c=16"] / direct["req/s, streams, c=16"]
        print(
            f"{name:20s} latency p50 {added[name]:+7.2f} ms   TTFB p50 {ttfb_added:+7.2f} ms   "
            f"throughput {ratio:4.2f} × direct"
        )

    report_floor(columns, memory_only=False)

    print("\n## Goals")
    ours = columns["ccproxy"].values
    peer = next((name for name in names if name.startswith("ccproxy-api")), None)
    if peer is not None:
        peer_added = added[peer]
        ratio = added["ccproxy"] / peer_added if peer_added > 0 else float("inf")
        verdict(
            f"added p50 ≤ {GOAL_ADDED_P50_VS_CCPROXY_API} × ccproxy-api's: {ratio:.2f} ×",
            ratio <= GOAL_ADDED_P50_VS_CCPROXY_API,
        )
        floor_ratio = added[FLOOR] / peer_added if peer_added > 0 else float("inf")
        print(f"          (the stack floor alone: {floor_ratio:.2f} ×)")
    else:
        print("   -  added p50 against ccproxy-api: no ccproxy-api column")
    ratio = ours["req/s, streams, c=16"] / direct["req/s, streams, c=16"]
    verdict(
        f"throughput ≥ {GOAL_THROUGHPUT_VS_DIRECT} × direct: {ratio:.2f} ×",
        ratio >= GOAL_THROUGHPUT_VS_DIRECT,
    )
    verdict_memory(ours, args, plan)


#: The measures ccproxy is compared on with the stack floor, and their units.
FLOOR_MEASURES = {
    "latency p50 (ms)": "ms",
    "stream TTFB p50 (ms)": "ms",
    "CPU per request (ms)": "ms",
    "idle RSS (MiB)": "MiB",
    "KiB per open stream": "KiB",
}


def report_floor(columns: dict[str, Column], *, memory_only: bool) -> None:
    """What ccproxy costs on top of the stack floor: its own share of each measure."""
    ours, floor = columns["ccproxy"].values, columns[FLOOR].values
    print("\n## ccproxy above the stack floor (its own cost)")
    for measure, unit in FLOOR_MEASURES.items():
        if measure in ours and measure in floor:
            name = measure.rsplit(" (", 1)[0]
            print(f"  {name:24s} {ours[measure] - floor[measure]:+9.2f} {unit}")
    if memory_only:
        return
    ratio = ours["req/s, streams, c=16"] / floor["req/s, streams, c=16"]
    print(f"  {'throughput':24s} {ratio:9.2f} × the floor's")


def verdict_memory(ours: dict[str, float], args: argparse.Namespace, plan: Plan) -> None:
    peak = ours[f"peak RSS, {plan.held_streams} open streams (MiB)"] * 1.048576
    if args.body_kib:
        print(f"   -  1,000 TLS streams: measured with one-line requests, not {args.body_kib} KiB")
    elif plan.held_streams == 1000 and args.upstream == "tls":
        held = int(ours["streams held at once"])
        shortfall = "" if held == 1000 else f" (only {held:,} were open at once)"
        verdict(
            f"1,000 TLS streams within {GOAL_PEAK_MB_1000_STREAMS:.0f} MB: {peak:.0f} MB{shortfall}",
            peak <= GOAL_PEAK_MB_1000_STREAMS and held == 1000,
        )
    else:
        print("   -  1,000 TLS streams: a full run over TLS measures it")


def verdict(text: str, met: bool) -> None:
    print(f"  {'met   ' if met else 'MISSED'}  {text}")


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    plan = Plan.for_run(args.quick)
    raise_fd_limit()
    if not args.memory:
        print("## Stream conversion throughput (events/s, one core)")
        for name, value in bench_conversion(plan.conversion_rounds).items():
            print(f"{name:28s} {value:12,.0f}")
    with tempfile.TemporaryDirectory(prefix="ccproxy-bench-") as scratch:
        asyncio.run(bench_proxies(args, plan, Path(scratch)))


if __name__ == "__main__":
    main(sys.argv[1:])
