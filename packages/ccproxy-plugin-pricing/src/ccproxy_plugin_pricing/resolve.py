"""Model resolution: which entry of the price table a client's model name means.

Rules, in order (names compare case-insensitively):

1. ``exact`` — the name is a model of the table.
2. ``date_suffix`` — the name without a trailing release date (``-20250514``, ``-2025-04-16``,
   ``@20250514``) is a model of the table.
3. ``provider_prefix`` — without a leading ``anthropic/`` or ``openai/``, rule 1 or 2 applies.
4. ``alias`` — the configured alias table (``plugins.pricing.aliases``) maps the name (or the
   name without its provider prefix) to a target, which rules 1–3 and 5 then resolve. Alias keys
   are exact names or prefixes ending in ``*``; an exact key beats a prefix, the longest prefix
   wins.
5. ``prefix`` — the longest model of the table that the name (without provider prefix) starts
   with, where the name continues after it with a separator: any character but a letter, a
   digit or ``.`` (``claude-opus-4-8-fast`` → ``claude-opus-4-8``; neither ``gpt-40`` nor
   ``gpt-5.9`` matches ``gpt-5``, because a different number is a different model).

Anything else is unknown: resolution returns ``None`` and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ccproxy_plugin_pricing.table import PriceTable

__all__ = ["PROVIDER_PREFIXES", "Resolution", "ResolutionRule", "normalize_aliases", "resolve"]

ResolutionRule = Literal["exact", "date_suffix", "provider_prefix", "alias", "prefix"]

#: Provider prefixes stripped by the ``provider_prefix`` rule.
PROVIDER_PREFIXES: tuple[str, ...] = ("anthropic/", "openai/")

_DATE_SUFFIX = re.compile(r"[-@](?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2})$")


@dataclass(frozen=True, slots=True)
class Resolution:
    """How ``requested`` was resolved: to table entry ``model`` by ``rule`` (via ``alias``)."""

    requested: str
    model: str
    rule: ResolutionRule
    alias: str | None = None


def normalize_aliases(aliases: Mapping[str, str]) -> Mapping[str, str]:
    """Aliases with lower-cased, stripped keys and targets."""
    return {key.strip().lower(): value.strip().lower() for key, value in aliases.items()}


def _strip_date(name: str) -> str:
    return _DATE_SUFFIX.sub("", name)


def _strip_provider(name: str) -> str | None:
    for prefix in PROVIDER_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return None


def _direct(name: str, table: PriceTable) -> tuple[str, ResolutionRule] | None:
    """Rules 1–3."""
    models = table.models
    if name in models:
        return name, "exact"
    undated = _strip_date(name)
    if undated != name and undated in models:
        return undated, "date_suffix"
    bare = _strip_provider(name)
    if bare is not None:
        found = _direct(bare, table)
        if found is not None:
            return found[0], "provider_prefix"
    return None


def _is_separator(char: str) -> bool:
    return not char.isalnum() and char != "."


def _longest_prefix(name: str, table: PriceTable) -> str | None:
    """Rule 5, on the name without its provider prefix."""
    bare = _strip_provider(name) or name
    for model in table.by_length:  # longest first: the first hit is the longest
        if len(model) < len(bare) and bare.startswith(model) and _is_separator(bare[len(model)]):
            return model
    return None


def _alias_target(name: str, aliases: Mapping[str, str]) -> tuple[str, str] | None:
    """The ``(alias key, target)`` for ``name``: exact key first, then the longest ``*`` prefix."""
    candidates = [name]
    bare = _strip_provider(name)
    if bare is not None:
        candidates.append(bare)
    for candidate in candidates:
        if candidate in aliases:
            return candidate, aliases[candidate]
    best: tuple[str, str] | None = None
    for key, target in aliases.items():
        if not key.endswith("*"):
            continue
        stem = key[:-1]
        if any(c.startswith(stem) for c in candidates) and (
            best is None or len(key) > len(best[0])
        ):
            best = (key, target)
    return best


def resolve(name: object, table: PriceTable, aliases: Mapping[str, str]) -> Resolution | None:
    """Resolve ``name`` against ``table``; ``aliases`` must come from :func:`normalize_aliases`.

    A ``name`` that is not a non-empty string (a caller passing ``None``) resolves to ``None``.
    """
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    if not key:
        return None
    found = _direct(key, table)
    if found is not None:
        return Resolution(requested=name, model=found[0], rule=found[1])
    alias = _alias_target(key, aliases)
    if alias is not None:
        target = _direct(alias[1], table)
        model = target[0] if target is not None else _longest_prefix(alias[1], table)
        if model is not None:
            return Resolution(requested=name, model=model, rule="alias", alias=alias[0])
    prefix = _longest_prefix(key, table)
    if prefix is not None:
        return Resolution(requested=name, model=prefix, rule="prefix")
    return None
