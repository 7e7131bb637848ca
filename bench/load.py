"""Client-side load: latency, time to first byte, throughput and many held-open streams.

Bodies and headers are encoded once, so the bench's own client, which shares the two cores with
the servers it measures, spends as little as it can per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
#: A model name as clients send it: the proxies price each request by it, as in production.
MODEL = "claude-sonnet-4-5-20250929"
_BODY = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
BODY = json.dumps(_BODY).encode()
STREAM_BODY = json.dumps({**_BODY, "stream": True}).encode()


def stream_body(kib: int) -> bytes:
    """A streaming request whose conversation is about ``kib`` KiB (0: the one-line one)."""
    if kib <= 0:
        return STREAM_BODY
    text = "All work and no play makes Jack a dull boy. " * (kib * 1024 // 44 + 1)
    turn = {"role": "user", "content": text[: kib * 1024]}
    return json.dumps({**_BODY, "messages": [turn], "stream": True}).encode()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def latency(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    """Seconds per small non-streaming request, one at a time."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.post(url, content=BODY, headers=HEADERS)
        response.raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples


async def ttfb(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    """Seconds to the first body byte of a streaming request, one at a time."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        async with client.stream("POST", url, content=STREAM_BODY, headers=HEADERS) as response:
            response.raise_for_status()
            chunks = response.aiter_raw()
            await chunks.__anext__()
            samples.append(time.perf_counter() - started)
            async for _chunk in chunks:
                pass
    return samples


async def throughput(
    client: httpx.AsyncClient, url: str, total: int, concurrency: int = 16
) -> float:
    """Streaming requests per second with ``concurrency`` clients in flight."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with client.stream("POST", url, content=STREAM_BODY, headers=HEADERS) as response:
                response.raise_for_status()
                async for _chunk in response.aiter_raw():
                    pass

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


@dataclass
class HeldStreams:
    """What :func:`hold_streams` saw."""

    peak_rss_mib: float
    opened: int  # the most streams open at the same time
    failed: int


async def hold_streams(
    url: str,
    count: int,
    rss: Callable[[], float],
    headers: dict[str, str],
    open_timeout: float = 60.0,
    body: bytes = STREAM_BODY,
) -> HeldStreams:
    """Open ``count`` slow streams at once and sample ``rss()`` while all of them are open.

    A server that cannot hold them all (a pool that queues, a refused connection) is reported
    with how many it held, not with an exception.
    """
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    opened = asyncio.Event()
    active = most = failed = 0
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one() -> None:
            nonlocal active, most, failed
            try:
                async with client.stream(
                    "POST", url, content=body, headers={**HEADERS, **headers}
                ) as response:
                    response.raise_for_status()
                    active += 1
                    most = max(most, active)
                    if active == count:
                        opened.set()  # every stream is open at the same time
                    try:
                        async for _chunk in response.aiter_raw():
                            pass
                    finally:
                        active -= 1
            except httpx.HTTPError:
                failed += 1

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        with contextlib.suppress(TimeoutError):  # report how many it held, see below
            await asyncio.wait_for(opened.wait(), timeout=open_timeout)
        peak = 0.0
        for _ in range(20):
            peak = max(peak, rss())
            await asyncio.sleep(0.1)
        for task in tasks:  # measured: hang up rather than wait for the streams to end
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return HeldStreams(peak, most, failed)
