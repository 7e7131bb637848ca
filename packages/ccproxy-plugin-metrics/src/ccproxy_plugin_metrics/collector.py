"""The metrics of one app, kept as plain numbers and exposed through a prometheus-client collector.

A custom collector (rather than prometheus-client's ``Counter``/``Histogram`` objects) gives one
exact series per label set: no ``_created`` companions and no process-wide defaults to toggle.
Every update happens on the event loop; ``collect()`` copies what it reads first.

prometheus-client is imported when metrics are first exposed (a scrape or a push), not before:
the numbers themselves need none of it, and a proxy nobody scrapes does not load it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )

    from ccproxy.plugins import Usage

__all__ = [
    "DURATION_BUCKETS",
    "METRIC_NAMES",
    "TOKEN_TYPES",
    "TTFB_BUCKETS",
    "MetricsCollector",
    "MetricsSink",
    "PluginInfo",
]

#: Whole-request latency in seconds: LLM answers take from a second to many minutes.
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
#: Time until the upstream's response headers: sub-second to a couple of minutes (long thinking).
TTFB_BUCKETS: Final[tuple[float, ...]] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
#: The ``type`` label of ``ccproxy_tokens_total`` (``reasoning`` is a part of ``output``).
TOKEN_TYPES: Final[tuple[str, ...]] = ("input", "output", "cache_read", "cache_write", "reasoning")

#: Every metric name as it appears in the exposition (counters with ``_total``).
METRIC_NAMES: Final[tuple[str, ...]] = (
    "ccproxy_requests_total",
    "ccproxy_request_duration_seconds",
    "ccproxy_time_to_first_byte_seconds",
    "ccproxy_tokens_total",
    "ccproxy_cost_usd_total",
    "ccproxy_premium_requests_total",
    "ccproxy_premium_request_units_total",
    "ccproxy_in_flight_requests",
    "ccproxy_upstream_errors_total",
    "ccproxy_subscription_window_used_ratio",
    "ccproxy_subscription_window_reset_timestamp_seconds",
    "ccproxy_build_info",
    "ccproxy_plugin_info",
    "ccproxy_ledger_dropped_rows_total",
)


class MetricsSink(Protocol):
    """What the recorder updates: this module's collector in one process, or
    :class:`~ccproxy_plugin_metrics.multiprocess.MultiprocessMetrics` among several workers."""

    def request_started(self) -> None: ...
    def request_finished(self) -> None: ...
    def count_request(
        self, provider: str, account: str, route: str, model: str, status_class: str
    ) -> None: ...
    def observe_duration(self, provider: str, account: str, route: str, seconds: float) -> None: ...
    def observe_ttfb(self, provider: str, account: str, route: str, seconds: float) -> None: ...
    def add_tokens(self, provider: str, account: str, model: str, usage: Usage) -> None: ...
    def add_cost(self, provider: str, account: str, model: str, cost: Decimal) -> None: ...
    def count_premium(self, provider: str, account: str, model: str, units: Decimal) -> None: ...
    def count_upstream_error(self, provider: str, account: str, kind: str) -> None: ...
    def set_window(
        self,
        provider: str,
        account: str,
        window: str,
        *,
        used_ratio: float | None,
        reset_at: float | None,
    ) -> None: ...
    def set_plugins(self, plugins: Iterable[PluginInfo]) -> None: ...
    def count_dropped_rows(self, rows: int) -> None: ...
    def describe(self) -> Iterator[Metric]: ...
    def collect(self) -> Iterator[Metric]: ...


@dataclass(frozen=True)
class PluginInfo:
    """One running plugin, for ``ccproxy_plugin_info``."""

    name: str
    version: str
    type: str


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, the last one is +Inf
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return buckets


LabelValues = tuple[str, ...]


class MetricsCollector:
    """Holds and exposes the ``ccproxy_*`` metrics of one app (a prometheus-client collector:
    register it with a ``CollectorRegistry``).

    Callers pass label values already bounded (see :mod:`ccproxy_plugin_metrics.recorder`).
    """

    def __init__(self, *, core_version: str) -> None:
        self.core_version = core_version
        self.in_flight = 0
        self.plugins: list[PluginInfo] = []
        self.ledger_dropped_rows = 0
        self._requests: dict[LabelValues, int] = {}
        self._duration: dict[LabelValues, _Histogram] = {}
        self._ttfb: dict[LabelValues, _Histogram] = {}
        self._tokens: dict[LabelValues, int] = {}
        self._cost: dict[LabelValues, Decimal] = {}
        self._premium: dict[LabelValues, int] = {}
        self._premium_units: dict[LabelValues, Decimal] = {}
        self._upstream_errors: dict[LabelValues, int] = {}
        self._window_used: dict[LabelValues, float] = {}
        self._window_reset: dict[LabelValues, float] = {}

    # --- updates -------------------------------------------------------------------------------

    def request_started(self) -> None:
        """One more request in flight."""
        self.in_flight += 1

    def request_finished(self) -> None:
        """One request fewer in flight."""
        self.in_flight -= 1

    def count_dropped_rows(self, rows: int) -> None:
        """Ledger rows lost to a full queue or a failed write."""
        self.ledger_dropped_rows += rows

    def count_request(
        self, provider: str, account: str, route: str, model: str, status_class: str
    ) -> None:
        """One finished request."""
        key = (provider, account, route, model, status_class)
        self._requests[key] = self._requests.get(key, 0) + 1

    def observe_duration(self, provider: str, account: str, route: str, seconds: float) -> None:
        """A whole request's duration."""
        key = (provider, account, route)
        self._histogram(self._duration, DURATION_BUCKETS, key).observe(seconds)

    def observe_ttfb(self, provider: str, account: str, route: str, seconds: float) -> None:
        """The time until the upstream's response headers arrived."""
        self._histogram(self._ttfb, TTFB_BUCKETS, (provider, account, route)).observe(seconds)

    def add_tokens(self, provider: str, account: str, model: str, usage: Usage) -> None:
        """A request's token counts, by type (zero counts still create the series)."""
        amounts = (
            usage.input,
            usage.output,
            usage.cache_read,
            usage.cache_write_5m + usage.cache_write_1h,
            usage.reasoning,
        )
        for token_type, amount in zip(TOKEN_TYPES, amounts, strict=True):
            key = (provider, account, model, token_type)
            self._tokens[key] = self._tokens.get(key, 0) + max(0, amount)

    def add_cost(self, provider: str, account: str, model: str, cost: Decimal) -> None:
        """A request's API-equivalent cost in USD."""
        key = (provider, account, model)
        self._cost[key] = self._cost.get(key, Decimal(0)) + cost

    def count_premium(self, provider: str, account: str, model: str, units: Decimal) -> None:
        """One premium request (a served one a person started), costing ``units`` of the quota."""
        key = (provider, account, model)
        self._premium[key] = self._premium.get(key, 0) + 1
        self._premium_units[key] = self._premium_units.get(key, Decimal(0)) + units

    def count_upstream_error(self, provider: str, account: str, kind: str) -> None:
        """One request that failed upstream."""
        key = (provider, account, kind)
        self._upstream_errors[key] = self._upstream_errors.get(key, 0) + 1

    def set_window(
        self,
        provider: str,
        account: str,
        window: str,
        *,
        used_ratio: float | None,
        reset_at: float | None,
    ) -> None:
        """The latest reading of one account's subscription window (a missing value keeps the
        last one; each account of a provider has windows of its own)."""
        key = (provider, account, window)
        if used_ratio is not None:
            self._window_used[key] = used_ratio
        if reset_at is not None:
            self._window_reset[key] = reset_at

    def set_plugins(self, plugins: Iterable[PluginInfo]) -> None:
        """The plugins running in this app."""
        self.plugins = sorted(plugins, key=lambda p: p.name)

    # --- exposition ----------------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        """The families this collector exposes (lets the registry detect name clashes)."""
        return self._families(empty=True)

    def collect(self) -> Iterator[Metric]:
        """Every family with its current samples."""
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

        def samples(
            source: dict[LabelValues, int] | dict[LabelValues, float],
        ) -> list[tuple[LabelValues, float]]:
            return [] if empty else [(k, float(v)) for k, v in sorted(source.items())]

        yield _counter(
            "ccproxy_requests_total",
            "Proxied requests, by provider, account, route template, model and status class.",
            ("provider", "account", "route", "model", "status_class"),
            samples(self._requests),
        )
        yield _histogram(
            "ccproxy_request_duration_seconds",
            "Duration of proxied requests, until the client response ended.",
            ("provider", "account", "route"),
            {} if empty else dict(self._duration),
        )
        yield _histogram(
            "ccproxy_time_to_first_byte_seconds",
            "Time until the upstream's response headers arrived.",
            ("provider", "account", "route"),
            {} if empty else dict(self._ttfb),
        )
        yield _counter(
            "ccproxy_tokens_total",
            "Tokens by type: input (without cache), output (with reasoning), cache_read, "
            "cache_write, reasoning (part of output).",
            ("provider", "account", "model", "type"),
            samples(self._tokens),
        )
        costs = [] if empty else [(k, float(v)) for k, v in sorted(self._cost.items())]
        yield _counter(
            "ccproxy_cost_usd_total",
            "API-equivalent cost in USD (needs the pricing plugin).",
            ("provider", "account", "model"),
            costs,
        )
        yield _counter(
            "ccproxy_premium_requests_total",
            "Premium requests (served requests a person started, on providers that bill them: "
            "GitHub Copilot).",
            ("provider", "account", "model"),
            samples(self._premium),
        )
        units = [] if empty else [(k, float(v)) for k, v in sorted(self._premium_units.items())]
        yield _counter(
            "ccproxy_premium_request_units_total",
            "Premium requests times the model's multiplier: what they took of the quota.",
            ("provider", "account", "model"),
            units,
        )
        in_flight = GaugeMetricFamily(
            "ccproxy_in_flight_requests", "Proxied requests started and not yet completed."
        )
        if not empty:
            in_flight.add_metric([], float(self.in_flight))
        yield in_flight
        yield _counter(
            "ccproxy_upstream_errors_total",
            "Requests that failed upstream (timeouts, unreachable, error statuses, broken streams).",
            ("provider", "account", "kind"),
            samples(self._upstream_errors),
        )
        yield _gauge(
            "ccproxy_subscription_window_used_ratio",
            "Share of an account's subscription usage window used (0..1), from the upstream's "
            "headers.",
            ("provider", "account", "window"),
            samples(self._window_used),
        )
        yield _gauge(
            "ccproxy_subscription_window_reset_timestamp_seconds",
            "When an account's subscription usage window resets (Unix time).",
            ("provider", "account", "window"),
            samples(self._window_reset),
        )
        yield _gauge(
            "ccproxy_build_info",
            "The ccproxy core version (value 1).",
            ("version",),
            [] if empty else [((self.core_version,), 1.0)],
        )
        yield _gauge(
            "ccproxy_plugin_info",
            "Plugins running in this app, from the plugin registry at start-up (value 1).",
            ("name", "version", "type"),
            [] if empty else [((p.name, p.version, p.type), 1.0) for p in self.plugins],
        )
        dropped = CounterMetricFamily(
            "ccproxy_ledger_dropped_rows_total",
            "Usage ledger rows dropped because the write queue was full or a write failed.",
        )
        if not empty:
            dropped.add_metric([], float(self.ledger_dropped_rows))
        yield dropped

    @staticmethod
    def _histogram(
        store: dict[LabelValues, _Histogram], bounds: tuple[float, ...], key: LabelValues
    ) -> _Histogram:
        found = store.get(key)
        if found is None:
            found = store[key] = _Histogram(bounds)
        return found


def _counter(
    name: str,
    documentation: str,
    labels: Sequence[str],
    samples: Iterable[tuple[LabelValues, float]],
) -> CounterMetricFamily:
    from prometheus_client.metrics_core import CounterMetricFamily

    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def _gauge(
    name: str,
    documentation: str,
    labels: Sequence[str],
    samples: Iterable[tuple[LabelValues, float]],
) -> GaugeMetricFamily:
    from prometheus_client.metrics_core import GaugeMetricFamily

    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def _histogram(
    name: str,
    documentation: str,
    labels: Sequence[str],
    histograms: dict[LabelValues, _Histogram],
) -> HistogramMetricFamily:
    from prometheus_client.metrics_core import HistogramMetricFamily

    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, histogram in sorted(histograms.items()):
        family.add_metric(list(values), histogram.cumulative(), histogram.total)
    return family
