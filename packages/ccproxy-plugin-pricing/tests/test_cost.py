"""Costs in exact ``Decimal`` for every price kind, fallbacks, and tiered prices."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy.plugins import PricingService, Usage
from ccproxy_plugin_pricing.cost import unit_prices, usage_cost
from ccproxy_plugin_pricing.service import PriceBook
from ccproxy_plugin_pricing.table import load_snapshot
from pricing_kit import entry, table_of

FULL = entry(
    3e-06,
    1.5e-05,
    cache_read_input_token_cost=3e-07,
    cache_creation_input_token_cost=3.75e-06,
    cache_creation_input_token_cost_above_1hr=6e-06,
)
TIERED = entry(
    3e-06,
    1.5e-05,
    cache_read_input_token_cost=3e-07,
    cache_creation_input_token_cost=3.75e-06,
    cache_creation_input_token_cost_above_1hr=6e-06,
    input_cost_per_token_above_200k_tokens=6e-06,
    output_cost_per_token_above_200k_tokens=2.25e-05,
    cache_read_input_token_cost_above_200k_tokens=6e-07,
    cache_creation_input_token_cost_above_200k_tokens=7.5e-06,
    cache_creation_input_token_cost_above_1hr_above_200k_tokens=1.2e-05,
)
BOOK = PriceBook(table_of({"full": FULL, "tiered": TIERED}))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(input=1000), Decimal("0.003")),  # 1000 × 0.000003
        (Usage(output=2000), Decimal("0.03")),  # 2000 × 0.000015
        (Usage(cache_read=10000), Decimal("0.003")),  # 10000 × 0.0000003
        (Usage(cache_write_5m=4000), Decimal("0.015")),  # 4000 × 0.00000375
        (Usage(cache_write_1h=1000), Decimal("0.006")),  # 1000 × 0.000006
        (
            Usage(
                input=1000, output=2000, cache_read=10000, cache_write_5m=4000, cache_write_1h=1000
            ),
            Decimal("0.057"),
        ),
        (Usage(), Decimal("0")),
    ],
)
def test_each_price_kind_is_priced_exactly(usage: Usage, expected: Decimal) -> None:
    cost = BOOK.cost("full", usage)
    assert isinstance(cost, Decimal)
    assert cost == expected


def test_reasoning_is_part_of_output_and_never_priced_twice() -> None:
    with_reasoning = BOOK.cost("full", Usage(output=2000, reasoning=1500))
    assert with_reasoning == BOOK.cost("full", Usage(output=2000)) == Decimal("0.03")
    assert BOOK.cost("full", Usage(reasoning=500)) == Decimal("0")


def test_prices_convert_through_their_text_so_sums_are_exact() -> None:
    book = PriceBook(table_of({"m": entry(1.1e-06, 4.4e-06)}))
    # float: 3 * 1.1e-06 == 3.3000000000000004e-06; Decimal(str(1.1e-06)) * 3 is exact.
    assert book.cost("m", Usage(input=3)) == Decimal("0.0000033")
    assert book.cost("m", Usage(input=1, output=1)) == Decimal("0.0000055")


def test_missing_cache_prices_fall_back_as_documented() -> None:
    bare = entry(2e-06, 8e-06)  # no cache prices at all (many OpenAI entries)
    five_only = entry(3e-06, 1.5e-05, cache_creation_input_token_cost=3.75e-06)
    book = PriceBook(table_of({"bare": bare, "five-only": five_only}))
    # cache reads and 5-minute writes at the input price when the table has none
    assert book.cost("bare", Usage(cache_read=1000)) == Decimal("0.002")
    assert book.cost("bare", Usage(cache_write_5m=1000)) == Decimal("0.002")
    # 1-hour writes at the 5-minute write price (not ×1.6) when the table has no 1-hour price
    assert book.cost("bare", Usage(cache_write_1h=1000)) == Decimal("0.002")
    assert book.cost("five-only", Usage(cache_write_1h=1000)) == Decimal("0.00375")


def test_usage_may_be_a_mapping_or_any_object_and_bad_counts_count_as_zero() -> None:
    as_mapping = {"input": 1000, "output": 2000}
    as_object = SimpleNamespace(input=1000, output=2000)
    assert BOOK.cost("full", as_mapping) == BOOK.cost("full", as_object) == Decimal("0.033")
    junk = {"input": -5, "output": "12", "cache_read": True, "cache_write_5m": None}
    assert BOOK.cost("full", junk) == Decimal("0")
    assert BOOK.cost("full", None) == Decimal("0")


def test_tier_starts_strictly_above_the_threshold() -> None:
    at = Usage(input=150_000, cache_read=50_000, output=1000)  # prompt_total == 200,000
    assert at.prompt_total == 200_000
    # 150000 × 0.000003 + 50000 × 0.0000003 + 1000 × 0.000015
    assert BOOK.cost("tiered", at) == Decimal("0.48")
    above = Usage(input=150_001, cache_read=50_000, output=1000)
    # 150001 × 0.000006 + 50000 × 0.0000006 + 1000 × 0.0000225: every kind at its tiered price
    assert BOOK.cost("tiered", above) == Decimal("0.952506")


def test_cache_writes_count_toward_the_threshold_and_use_tiered_prices() -> None:
    usage = Usage(input=100_000, cache_write_5m=60_000, cache_write_1h=40_001)
    # 100000 × 0.000006 + 60000 × 0.0000075 + 40001 × 0.000012
    assert BOOK.cost("tiered", usage) == Decimal("1.530012")
    assert BOOK.cost("full", usage) == Decimal("0.765006")  # no tiers: base prices


def test_a_kind_without_a_tiered_price_keeps_its_base_price() -> None:
    partial = entry(
        3e-06,
        1.5e-05,
        cache_read_input_token_cost=3e-07,
        input_cost_per_token_above_200k_tokens=6e-06,
    )
    book = PriceBook(table_of({"partial": partial}))
    usage = Usage(input=200_001, output=10, cache_read=0)
    # 200001 × 0.000006 + 10 × 0.000015 (output has no tier)
    assert book.cost("partial", usage) == Decimal("1.200156")
    prices = unit_prices(partial, 300_000)
    assert (prices.input, prices.output, prices.cache_read) == (
        Decimal("0.000006"),
        Decimal("0.000015"),
        Decimal("3E-7"),
    )
    assert prices.tier == 200_000


def test_the_highest_tier_below_the_prompt_applies() -> None:
    two_tiers = entry(
        1e-06,
        1e-05,
        input_cost_per_token_above_100k_tokens=2e-06,
        input_cost_per_token_above_200k_tokens=4e-06,
        output_cost_per_token_above_100k_tokens=2e-05,
    )
    book = PriceBook(table_of({"two": two_tiers}))
    assert book.cost("two", Usage(input=250_000, output=100)) == Decimal("1.002")
    assert book.cost("two", Usage(input=150_000, output=100)) == Decimal("0.302")
    assert book.cost("two", Usage(input=100_000, output=100)) == Decimal("0.101")
    assert unit_prices(two_tiers, 250_000).tier == 200_000
    assert unit_prices(two_tiers, 100_000).tier is None


def test_the_book_is_a_pricing_service() -> None:
    assert isinstance(BOOK, PricingService)


def usages(prompt_field: int, output: int) -> st.SearchStrategy[Usage]:
    """Usages with each of the four prompt fields at most ``prompt_field`` tokens."""
    prompt = st.integers(0, prompt_field)
    return st.builds(
        Usage,
        input=prompt,
        output=st.integers(0, output),
        cache_read=prompt,
        cache_write_5m=prompt,
        cache_write_1h=prompt,
    )


# Four prompt fields of at most 25,000 tokens: two usages together stay at or below 200,000.
@given(usages(25_000, 100_000), usages(25_000, 100_000))
def test_below_the_tier_cost_is_additive(first: Usage, second: Usage) -> None:
    both = Usage(
        input=first.input + second.input,
        output=first.output + second.output,
        cache_read=first.cache_read + second.cache_read,
        cache_write_5m=first.cache_write_5m + second.cache_write_5m,
        cache_write_1h=first.cache_write_1h + second.cache_write_1h,
    )
    assert both.prompt_total <= 200_000
    assert usage_cost(TIERED, both) == usage_cost(TIERED, first) + usage_cost(TIERED, second)


@given(usages(2_000_000, 2_000_000))
def test_tiered_cost_is_never_below_the_base_cost(usage: Usage) -> None:
    assert usage_cost(TIERED, usage) >= usage_cost(FULL, usage) >= 0


SNAPSHOT = load_snapshot()
SNAPSHOT_BOOK = PriceBook(SNAPSHOT)
#: The snapshot's names, and each with a release date: the two ways clients name models.
NAMES = sorted(SNAPSHOT.models) + [f"{name}-20250101" for name in sorted(SNAPSHOT.models)[::7]]


@given(st.sampled_from(NAMES), usages(100_000, 100_000))
def test_the_book_s_remembered_prices_equal_pricing_the_entry_afresh(
    name: str, usage: Usage
) -> None:
    # The book remembers resolutions and unit prices per tier; every tier boundary of the
    # real table (100k, 200k, 272k…) is within reach of these prompts.
    found = SNAPSHOT_BOOK.resolve(name)
    assert found is not None
    assert SNAPSHOT_BOOK.cost(name, usage) == usage_cost(SNAPSHOT.models[found.model], usage)


def test_a_swap_forgets_what_the_old_table_resolved() -> None:
    book = PriceBook(table_of({"model-a": FULL}))
    usage = Usage(input=1000, output=1000)
    assert book.cost("model-b", usage) is None
    assert book.cost("model-a-fast", usage) == usage_cost(FULL, usage)  # by prefix
    book.swap(table_of({"model-b": TIERED, "model-a-fast": TIERED}))
    assert book.cost("model-b", usage) == usage_cost(TIERED, usage)
    assert book.cost("model-a-fast", usage) == usage_cost(TIERED, usage)  # now exact
    assert book.cost("model-a", usage) is None
