"""Which entries of LiteLLM's price table this plugin keeps, and the checks they must pass.

LiteLLM's ``model_prices_and_context_window.json`` maps a model name to a dict of per-token USD
prices and limits for every provider it knows. We keep the Anthropic and OpenAI chat/responses
models (``litellm_provider`` in ``anthropic``/``openai``, ``mode`` in ``chat``/``responses``;
the ``sample_spec`` entry documents the schema and is skipped) that carry both an input and an
output price, and of each only the price and limit fields listed here.

The same selection runs on the bundled snapshot (built by ``scripts/update_snapshot.py``), on
the cache file and on a freshly downloaded table, so all three mean the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "BASE_PRICE_FIELDS",
    "INFO_FIELDS",
    "MODES",
    "PROVIDERS",
    "TIER_FIELD",
    "TableError",
    "is_price_field",
    "select_models",
]

#: ``litellm_provider`` values kept.
PROVIDERS: frozenset[str] = frozenset({"anthropic", "openai"})
#: ``mode`` values kept.
MODES: frozenset[str] = frozenset({"chat", "responses"})

#: The standard (non-batch, non-priority) per-token prices this plugin understands.
BASE_PRICE_FIELDS: tuple[str, ...] = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
)

#: A tiered variant of a base price: ``<base>_above_<N>k_tokens`` (N thousand prompt tokens).
TIER_FIELD = re.compile(
    r"^(?P<base>" + "|".join(re.escape(f) for f in BASE_PRICE_FIELDS) + r")"
    r"_above_(?P<thousands>[0-9]+)k_tokens$"
)

#: Informational fields kept when present, with the type each must have (others are dropped).
INFO_FIELDS: Mapping[str, type] = MappingProxyType(
    {
        "litellm_provider": str,
        "mode": str,
        "max_input_tokens": int,
        "max_output_tokens": int,
        "max_tokens": int,
        "supports_reasoning": bool,
        "supports_prompt_caching": bool,
        "supports_vision": bool,
        "supports_function_calling": bool,
        "deprecation_date": str,
    }
)

_SCHEMA_ENTRY = "sample_spec"
_REQUIRED_PRICES = ("input_cost_per_token", "output_cost_per_token")


class TableError(ValueError):
    """A price table that is empty or malformed; the message says what is wrong."""


def is_price_field(name: str) -> bool:
    """Whether ``name`` is a base price or one of its ``_above_<N>k_tokens`` tiers."""
    return name in BASE_PRICE_FIELDS or TIER_FIELD.match(name) is not None


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _keep_info(name: str, value: object) -> bool:
    expected = INFO_FIELDS[name]
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    return isinstance(value, expected)


def _selected(name: object, entry: object) -> bool:
    return (
        isinstance(name, str)
        and name != _SCHEMA_ENTRY
        and isinstance(entry, Mapping)
        and entry.get("litellm_provider") in PROVIDERS
        and entry.get("mode") in MODES
        and all(field in entry for field in _REQUIRED_PRICES)
    )


def _clean_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for field, value in entry.items():
        if is_price_field(field):
            if not _is_number(value):
                raise TableError(
                    f"model {name!r}: {field} must be a non-negative number, got {value!r}"
                )
            kept[field] = value
        elif field in INFO_FIELDS and _keep_info(field, value):
            kept[field] = value
    return dict(sorted(kept.items()))


def select_models(table: object, *, min_models: int = 1) -> dict[str, dict[str, Any]]:
    """The Anthropic/OpenAI chat and responses models of a LiteLLM table, price fields only.

    Raises :class:`TableError` when ``table`` is not a JSON object, when a kept model has a price
    that is not a non-negative number, or when fewer than
    ``min_models`` models remain: a truncated or foreign document must never replace a good table.
    """
    if not isinstance(table, Mapping):
        raise TableError(f"the price table must be a JSON object, got {type(table).__name__}")
    models: dict[str, dict[str, Any]] = {}
    for name, entry in table.items():
        if _selected(name, entry):
            models[name] = _clean_entry(name, entry)
    if len(models) < min_models:
        raise TableError(
            f"the price table has {len(models)} Anthropic/OpenAI chat models, "
            f"fewer than the {min_models} required"
        )
    return dict(sorted(models.items()))
