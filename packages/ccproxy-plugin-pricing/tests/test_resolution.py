"""Model resolution: each rule in order, aliases, and unknown names giving ``None``."""

from __future__ import annotations

import pytest

from ccproxy_plugin_pricing.resolve import normalize_aliases, resolve
from ccproxy_plugin_pricing.service import PriceBook
from pricing_kit import entry, table_of

TABLE = table_of(
    {
        "claude-sonnet-4-5": entry(3e-06, 1.5e-05),
        "claude-sonnet-4-5-20250929": entry(3e-06, 1.5e-05),
        "claude-opus-4-8": entry(5e-06, 2.5e-05),
        "claude-opus-4": entry(1.5e-05, 7.5e-05),
        "o3": entry(2e-06, 8e-06, provider="openai"),
        "gpt-4.1": entry(2e-06, 8e-06, provider="openai"),
        "gpt-5": entry(1.25e-06, 1e-05, provider="openai"),
        "gpt-4": entry(3e-05, 6e-05, provider="openai"),
    }
)


def rule_of(name: object, aliases: dict[str, str] | None = None) -> tuple[str, str] | None:
    found = resolve(name, TABLE, normalize_aliases(aliases or {}))
    return None if found is None else (found.model, found.rule)


def test_exact_name_wins_even_when_it_carries_a_date() -> None:
    assert rule_of("claude-sonnet-4-5-20250929") == ("claude-sonnet-4-5-20250929", "exact")
    assert rule_of("gpt-5") == ("gpt-5", "exact")


def test_exact_match_ignores_case_and_surrounding_space() -> None:
    assert rule_of("  Claude-Opus-4-8 ") == ("claude-opus-4-8", "exact")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("claude-opus-4-8-20260101", "claude-opus-4-8"),  # -YYYYMMDD
        ("gpt-4.1-2025-04-14", "gpt-4.1"),  # -YYYY-MM-DD
        ("o3-2025-04-16", "o3"),
        ("claude-opus-4-8@20260101", "claude-opus-4-8"),  # Vertex-style
    ],
)
def test_date_suffix_is_dropped(name: str, model: str) -> None:
    assert rule_of(name) == (model, "date_suffix")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("anthropic/claude-opus-4-8", "claude-opus-4-8"),
        ("openai/gpt-5", "gpt-5"),
        ("anthropic/claude-opus-4-8-20260101", "claude-opus-4-8"),  # prefix and date
        ("OpenAI/GPT-4.1-2025-04-14", "gpt-4.1"),
    ],
)
def test_provider_prefix_is_dropped(name: str, model: str) -> None:
    assert rule_of(name) == (model, "provider_prefix")


def test_only_known_providers_are_stripped() -> None:
    # bedrock/ is not a provider prefix of this table, and "bedrock" is no model: unknown.
    assert rule_of("bedrock/claude-opus-4-8") is None


def test_alias_maps_a_name_to_a_table_model() -> None:
    aliases = {
        "house-model": "claude-sonnet-4-5",
        "team-*": "gpt-5",
        "team-big-*": "claude-opus-4-8",
    }
    found = resolve("house-model", TABLE, normalize_aliases(aliases))
    assert found is not None
    assert (found.model, found.rule, found.alias) == ("claude-sonnet-4-5", "alias", "house-model")
    # The longest prefix key wins; an exact key beats any prefix.
    assert rule_of("team-big-one", aliases) == ("claude-opus-4-8", "alias")
    assert rule_of("team-small", aliases) == ("gpt-5", "alias")
    aliases["team-big-one"] = "o3"
    assert rule_of("team-big-one", aliases) == ("o3", "alias")


def test_alias_keys_match_without_provider_prefix_and_targets_resolve_with_the_rules() -> None:
    aliases = {"house": "anthropic/claude-opus-4-8-20260101", "Dated": "GPT-4.1-2025-04-14"}
    assert rule_of("openai/house", aliases) == ("claude-opus-4-8", "alias")
    assert rule_of("dated", aliases) == ("gpt-4.1", "alias")


def test_direct_rules_win_over_aliases() -> None:
    assert rule_of("gpt-5", {"gpt-5": "o3"}) == ("gpt-5", "exact")


def test_alias_to_an_unknown_model_falls_through() -> None:
    assert rule_of("house", {"house": "no-such-model"}) is None
    # ...and a name the prefix rule knows still resolves by prefix.
    assert rule_of("gpt-5-turbo", {"gpt-5-turbo": "no-such-model"}) == ("gpt-5", "prefix")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("claude-opus-4-8-fast", "claude-opus-4-8"),
        ("claude-opus-4-8[1m]", "claude-opus-4-8"),
        ("claude-opus-4-1", "claude-opus-4"),  # the longest known prefix at a separator
        ("openai/gpt-4.1-mini-preview", "gpt-4.1"),
        ("o3-mini-high", "o3"),
    ],
)
def test_longest_known_prefix(name: str, model: str) -> None:
    assert rule_of(name) == (model, "prefix")


@pytest.mark.parametrize(
    "name",
    [
        "gpt-40",  # a prefix must end at a separator
        "gpt-5.9",  # "." continues a version number: a different model
        "gpt-4o",  # not gpt-4
        "llama-3",
        "claude",
        "",
        "   ",
        "anthropic/",
    ],
)
def test_unknown_models_resolve_to_none(name: str) -> None:
    assert rule_of(name) is None


def test_non_string_names_resolve_to_none() -> None:
    assert rule_of(None) is None
    assert rule_of(42) is None


def test_service_gives_none_for_unknown_models_and_never_raises() -> None:
    book = PriceBook(TABLE)
    assert book.cost("gpt-40", {"input": 10}) is None
    assert book.model_info("gpt-40") is None
    assert book.cost(None, None) is None  # type: ignore[arg-type]


def test_model_info_reports_the_resolution() -> None:
    book = PriceBook(TABLE, {"house": "gpt-5"})
    info = book.model_info("house")
    assert info is not None
    assert info["model"] == "gpt-5"
    assert info["requested"] == "house"
    assert info["resolution"] == {"rule": "alias", "alias": "house"}
