"""Atomic swaps: readers racing refreshes see the old table or the new one, never a mixture."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal

import httpx

from ccproxy.app import get_plugin_host
from ccproxy.plugins import Usage
from ccproxy.testing import started_app
from ccproxy_plugin_pricing.runtime import PricingRuntime
from ccproxy_plugin_pricing.service import PriceBook
from pricing_kit import (
    PROBE,
    entry,
    litellm_document,
    pricing_entry_points,
    pricing_settings,
    table_of,
)

# One input and one output token: a reader that mixed two tables would see A's input price
# with B's output price (or the reverse), a sum equal to neither table's.
ONE_EACH = Usage(input=1, output=1)
COST_A = Decimal("0.000001") + Decimal("0.000005")
COST_B = Decimal("0.000002") + Decimal("0.000011")


def test_threads_reading_while_tables_swap_see_whole_tables_only() -> None:
    table_a = table_of({PROBE: entry(1e-06, 5e-06)})
    table_b = table_of({PROBE: entry(2e-06, 1.1e-05)})
    book = PriceBook(table_a)
    stop = threading.Event()
    seen: list[set[Decimal | None]] = []
    errors: list[BaseException] = []

    def read() -> None:
        answers: set[Decimal | None] = set()
        try:
            while not stop.is_set():
                answers.add(book.cost(PROBE, ONE_EACH))
                info = book.model_info(PROBE)
                assert info is not None
                prices = info["prices_per_million"]
                answers.add(Decimal(str(prices["input"] + prices["output"])) / 1_000_000)
        except BaseException as exc:
            errors.append(exc)
        seen.append(answers)

    readers = [threading.Thread(target=read) for _ in range(8)]
    for thread in readers:
        thread.start()
    for i in range(20_000):
        book.swap(table_b if i % 2 == 0 else table_a)
    stop.set()
    for thread in readers:
        thread.join(timeout=10)

    assert not errors
    assert len(seen) == 8
    assert set().union(*seen) <= {COST_A, COST_B}
    assert book.cost(PROBE, ONE_EACH) == COST_A  # the last swap installed table A


async def test_many_concurrent_reads_during_real_refreshes() -> None:
    documents = [
        json.dumps(litellm_document(probe_input=1e-06, output_cost_per_token=5e-06)).encode(),
        json.dumps(litellm_document(probe_input=2e-06, output_cost_per_token=1.1e-05)).encode(),
    ]
    served = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal served
        body = documents[served % 2]
        served += 1
        return httpx.Response(200, content=body)

    kwargs = {"entry_points": pricing_entry_points(), "http_transport": httpx.MockTransport(handle)}
    async with started_app(pricing_settings(), **kwargs) as app:
        runtime = get_plugin_host(app).registry.get_runtime("pricing")
        assert isinstance(runtime, PricingRuntime)
        book = runtime.book
        assert (await runtime.refresher.refresh()).ok
        done = asyncio.Event()

        async def async_reader() -> set[Decimal | None]:
            answers: set[Decimal | None] = set()
            while not done.is_set():
                answers.add(book.cost(PROBE, ONE_EACH))
                await asyncio.sleep(0)
            return answers

        def thread_reader() -> set[Decimal | None]:
            answers: set[Decimal | None] = set()
            while not done.is_set():
                answers.add(book.cost(PROBE, ONE_EACH))
                time.sleep(0.0005)  # yield the GIL, or the event loop crawls
            return answers

        async def refresher() -> None:
            try:
                for _ in range(8):
                    outcome = await runtime.refresher.refresh()
                    assert outcome.ok, outcome.error
                    await asyncio.sleep(0)
            finally:
                done.set()

        results = await asyncio.gather(
            refresher(),
            *(async_reader() for _ in range(50)),
            *(asyncio.to_thread(thread_reader) for _ in range(4)),
        )
        answers: set[Decimal | None] = set()
        for result in results[1:]:
            assert isinstance(result, set)
            answers |= result
        assert answers <= {COST_A, COST_B}
        assert answers  # every reader ran
        assert served == 9
        assert book.cost(PROBE, ONE_EACH) == COST_A  # 9 downloads: the last one was table A
