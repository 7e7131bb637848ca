"""Pure parsers: subscription windows from headers, and the times usage queries accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy_plugin_metrics.usage import UsageQueryError, parse_instant
from ccproxy_plugin_metrics.windows import WindowReading, read_windows

NOW = 1_750_000_000.0


def test_anthropic_unified_windows() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-reset": "1750003600",
        "anthropic-ratelimit-unified-5h-utilization": "0.31",
        "anthropic-ratelimit-unified-5h-reset": "1750003600",
        "Anthropic-Ratelimit-Unified-7d-Utilization": "0.9",
        "anthropic-ratelimit-unified-7d-reset": "2025-06-20T00:00:00Z",
        "anthropic-ratelimit-unified-7d_opus-utilization": "1",
        "anthropic-ratelimit-unified-fallback-percentage": "0.5",
        "anthropic-ratelimit-unified-overage-reset": "1750003600",
        "retry-after": "30",
    }
    assert read_windows(headers, now=NOW) == {
        "5h": WindowReading(used_ratio=0.31, reset_at=1_750_003_600.0),
        "7d": WindowReading(used_ratio=0.9, reset_at=datetime(2025, 6, 20, tzinfo=UTC).timestamp()),
        "7d_opus": WindowReading(used_ratio=1.0, reset_at=None),
    }


def test_codex_windows_are_percentages_and_relative_resets() -> None:
    headers = {
        "x-codex-primary-used-percent": "12.5",
        "x-codex-primary-reset-after-seconds": "3600",
        "x-codex-primary-window-minutes": "300",
        "x-codex-secondary-used-percent": "100",
        "x-codex-secondary-reset-at": "1750500000",
        "x-codex-tertiary-used-percent": "5",
    }
    assert read_windows(headers, now=NOW) == {
        "primary": WindowReading(used_ratio=0.125, reset_at=NOW + 3600),
        "secondary": WindowReading(used_ratio=1.0, reset_at=1_750_500_000.0),
    }


def test_garbage_values_are_ignored() -> None:
    headers = {
        "anthropic-ratelimit-unified-5h-utilization": "lots",
        "anthropic-ratelimit-unified-5h-reset": "soon",
        "x-codex-primary-used-percent": "nan",
        "x-codex-primary-reset-after-seconds": "-5",
        "x-codex-secondary-used-percent": "inf",
    }
    assert read_windows(headers, now=NOW) == {}


@given(st.dictionaries(st.text(max_size=60), st.text(max_size=40), max_size=8))
def test_any_headers_never_raise(headers: dict[str, str]) -> None:
    for window, reading in read_windows(headers, now=NOW).items():
        assert window
        assert reading.used_ratio is None or reading.used_ratio >= 0
        assert reading.reset_at is None or reading.reset_at >= 0


@given(
    prefix=st.sampled_from(["anthropic-ratelimit-unified-5h-", "x-codex-primary-"]),
    suffix=st.sampled_from(["utilization", "reset", "used-percent", "reset-after-seconds"]),
    value=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_valid_numbers_always_read(prefix: str, suffix: str, value: float) -> None:
    readings = read_windows({prefix + suffix: repr(value)}, now=NOW)
    matched = (prefix.startswith("anthropic") and suffix in ("utilization", "reset")) or (
        prefix.startswith("x-codex") and suffix in ("used-percent", "reset-after-seconds")
    )
    assert bool(readings) == matched


NOW_DT = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW_DT - timedelta(days=7)),
        ("24h", NOW_DT - timedelta(hours=24)),
        ("90m", NOW_DT - timedelta(minutes=90)),
        ("2w", NOW_DT - timedelta(weeks=2)),
        ("30s", NOW_DT - timedelta(seconds=30)),
        ("1.5d", NOW_DT - timedelta(hours=36)),
        (" 7D ", NOW_DT - timedelta(days=7)),
        ("now", NOW_DT),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T10:00:00", datetime(2025, 1, 31, 10, tzinfo=UTC)),
        ("2025-01-31T10:00:00Z", datetime(2025, 1, 31, 10, tzinfo=UTC)),
        ("2025-01-31T12:00:00+02:00", datetime(2025, 1, 31, 10, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text, now=NOW_DT) == expected


def test_a_bare_date_as_an_end_includes_that_day() -> None:
    assert parse_instant("2025-01-31", now=NOW_DT, end_of_day=True) == datetime(
        2025, 2, 1, tzinfo=UTC
    )
    assert parse_instant("7d", now=NOW_DT, end_of_day=True) == NOW_DT - timedelta(days=7)


@pytest.mark.parametrize("text", ["", "yesterday", "7 days", "-7d", "2025-13-01", "d7"])
def test_parse_instant_rejects_what_it_does_not_know(text: str) -> None:
    with pytest.raises(UsageQueryError, match="relative time like 7d"):
        parse_instant(text, now=NOW_DT)
