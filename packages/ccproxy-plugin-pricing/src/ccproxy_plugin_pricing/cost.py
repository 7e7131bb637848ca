"""What a request costs, in ``Decimal`` USD, from a model's table entry and normalised usage.

Usage follows DESIGN §3.4: ``input`` excludes cache reads and writes, ``output`` includes
reasoning (``reasoning`` is informational and never priced on top), cache writes are split into
5-minute and 1-hour lifetimes. Each kind has a per-token price:

==============  ====================================================  ==========================
usage field     price field                                           when the field is absent
==============  ====================================================  ==========================
input           ``input_cost_per_token``                              (always present)
output          ``output_cost_per_token``                             (always present)
cache_read      ``cache_read_input_token_cost``                       the input price
cache_write_5m  ``cache_creation_input_token_cost``                   the input price
cache_write_1h  ``cache_creation_input_token_cost_above_1hr``         the 5-minute write price
==============  ====================================================  ==========================

The 1-hour fallback is the 5-minute price, not an estimate (Anthropic's 1-hour writes cost 1.6×
the 5-minute ones, but the table lists that price wherever it applies).

**Tiers.** A price field may have variants ``<field>_above_<N>k_tokens`` (LiteLLM's
``*_above_200k_tokens``; the current table also has 100k and 272k tiers). When the prompt —
``input + cache_read + cache_write_5m + cache_write_1h`` — is *larger than* N×1000 tokens, every
price kind (input side and output alike) uses its tiered value where the entry has one, taking the
highest tier below the prompt size; a kind without a tiered value keeps its base price (and the
fallbacks above apply to the resolved values). Prices are converted with ``Decimal(str(x))``, so
``3e-06`` is exactly ``0.000003``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from ccproxy_plugin_pricing.litellm import TIER_FIELD

__all__ = [
    "ONE_MILLION",
    "PRICE_FIELDS",
    "PRICE_KINDS",
    "PriceKind",
    "UnitPrices",
    "priced_tokens",
    "prompt_tokens",
    "tier_thresholds",
    "to_decimal",
    "unit_prices",
    "usage_cost",
    "usage_tokens",
]

PriceKind = Literal["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]

#: Price kinds in display order; each is also the name of a ``Usage`` field.
PRICE_KINDS: tuple[PriceKind, ...] = (
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
)

#: The base price field of each kind.
PRICE_FIELDS: Mapping[PriceKind, str] = MappingProxyType(
    {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
        "cache_write_5m": "cache_creation_input_token_cost",
        "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    }
)

ONE_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)


def to_decimal(value: Any) -> Decimal:
    """A table number as an exact ``Decimal`` of its shortest text form."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _tiers_of(entry: Mapping[str, Any]) -> dict[str, dict[int, Any]]:
    """Base field → {threshold in tokens: value} of the entry's tiered prices."""
    tiers: dict[str, dict[int, Any]] = {}
    for name, value in entry.items():
        match = TIER_FIELD.match(name)
        if match is not None:
            threshold = int(match["thousands"]) * 1000
            tiers.setdefault(match["base"], {})[threshold] = value
    return tiers


def tier_thresholds(entry: Mapping[str, Any]) -> tuple[int, ...]:
    """Every tier threshold (in prompt tokens) the entry has, ascending."""
    return tuple(sorted({t for by_threshold in _tiers_of(entry).values() for t in by_threshold}))


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """Per-token USD prices of each kind, resolved for one prompt size.

    ``tier`` is the highest threshold whose tiered price was used, ``None`` for base prices.
    """

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    tier: int | None = None

    def price(self, kind: PriceKind) -> Decimal:
        """The per-token price of ``kind``."""
        value: Decimal = getattr(self, kind)
        return value

    def per_million(self) -> dict[PriceKind, Decimal]:
        """Each kind's price per million tokens."""
        return {kind: self.price(kind) * ONE_MILLION for kind in PRICE_KINDS}


def unit_prices(entry: Mapping[str, Any], prompt_total: int = 0) -> UnitPrices:
    """The prices that apply to a prompt of ``prompt_total`` tokens (see the module docstring)."""
    tiers = _tiers_of(entry)
    used: list[int] = []

    def pick(field: str) -> Decimal | None:
        above = [t for t in tiers.get(field, {}) if prompt_total > t]
        if above:
            threshold = max(above)
            used.append(threshold)
            return to_decimal(tiers[field][threshold])
        value = entry.get(field)
        return None if value is None else to_decimal(value)

    input_price = pick(PRICE_FIELDS["input"])
    output_price = pick(PRICE_FIELDS["output"])
    input_price = _ZERO if input_price is None else input_price  # selection guarantees both
    output_price = _ZERO if output_price is None else output_price
    cache_read = pick(PRICE_FIELDS["cache_read"])
    write_5m = pick(PRICE_FIELDS["cache_write_5m"])
    write_1h = pick(PRICE_FIELDS["cache_write_1h"])
    write_5m = input_price if write_5m is None else write_5m
    return UnitPrices(
        input=input_price,
        output=output_price,
        cache_read=input_price if cache_read is None else cache_read,
        cache_write_5m=write_5m,
        cache_write_1h=write_5m if write_1h is None else write_1h,
        tier=max(used) if used else None,
    )


def usage_tokens(usage: Any) -> dict[PriceKind, int]:
    """The token count of each price kind in ``usage`` (an object or a mapping; bad values are 0)."""
    counts: dict[PriceKind, int] = {}
    for kind in PRICE_KINDS:
        value = usage.get(kind, 0) if isinstance(usage, Mapping) else getattr(usage, kind, 0)
        is_count = isinstance(value, int) and not isinstance(value, bool) and value > 0
        counts[kind] = value if is_count else 0
    return counts


def prompt_tokens(tokens: Mapping[PriceKind, int]) -> int:
    """``input + cache_read + cache_write_5m + cache_write_1h``: what a tier compares against."""
    return (
        tokens["input"] + tokens["cache_read"] + tokens["cache_write_5m"] + tokens["cache_write_1h"]
    )


def priced_tokens(prices: UnitPrices, tokens: Mapping[PriceKind, int]) -> Decimal:
    """USD cost of ``tokens`` (from :func:`usage_tokens`) at ``prices`` (exact arithmetic)."""
    total = _ZERO
    for kind in PRICE_KINDS:
        if tokens[kind]:
            total += prices.price(kind) * tokens[kind]
    return total


def usage_cost(entry: Mapping[str, Any], usage: Any) -> Decimal:
    """USD cost of ``usage`` at ``entry``'s prices (exact ``Decimal`` arithmetic)."""
    tokens = usage_tokens(usage)
    return priced_tokens(unit_prices(entry, prompt_tokens(tokens)), tokens)
