"""The metrics of one worker among several (``ccproxy serve --workers N``), summed at scrape time.

One process keeps its numbers in :class:`~ccproxy_plugin_metrics.collector.MetricsCollector`.
Several workers cannot see each other's memory, so here every update goes to a prometheus-client
metric object whose value lives in a memory-mapped file of the directory named by
``PROMETHEUS_MULTIPROC_DIR`` (``ccproxy serve`` makes a fresh private one per run), and a scrape on
any worker merges every worker's files with ``MultiProcessCollector``. Same names, labels, help
texts and families as the single-process collector. How series from several workers combine:

- counters and histograms: summed (a worker that died still counts what it served);
- ``ccproxy_in_flight_requests``: summed over the live workers (``livesum``; the supervisor
  drops a dead worker's share);
- the subscription window gauges: the most recent reading of any worker (``mostrecent``);
- ``ccproxy_build_info`` and ``ccproxy_plugin_info``: the maximum (1 wherever set).

An update is a dictionary lookup and a write into the mapped file (no system call); label values
arrive bounded per worker, so across N workers a label holds at most N times its cap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ccproxy_plugin_metrics.collector import (
    DURATION_BUCKETS,
    TOKEN_TYPES,
    TTFB_BUCKETS,
    MetricsCollector,
    PluginInfo,
)

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ccproxy.plugins import Usage

__all__ = ["MULTIPROC_DIR_ENV", "MultiprocessMetrics", "multiprocess_directory"]

#: The variable prometheus-client reads (before its first import) to keep values in files.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

LabelValues = tuple[str, ...]


def multiprocess_directory(workers: int) -> str | None:
    """The directory to share metrics through: ``PROMETHEUS_MULTIPROC_DIR`` when this app is one
    of several workers and prometheus-client was loaded in multiprocess mode; else None."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if workers <= 1 or not directory or not os.path.isdir(directory):
        return None
    from prometheus_client import values

    # The value class is chosen when prometheus-client is first imported: if that happened
    # before the variable was set, values would stay in this process's memory.
    if values.ValueClass is values.MutexValue:
        return None
    return directory


class MultiprocessMetrics:
    """The same update methods as :class:`MetricsCollector`, recorded in shared files; a
    prometheus-client collector that exposes every worker's sum."""

    def __init__(self, *, core_version: str, directory: str) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.core_version = core_version
        self.directory = directory
        # The single-process collector describes the families (names, help texts, types).
        self._template = MetricsCollector(core_version=core_version)
        self._requests = Counter(
            "ccproxy_requests",
            "",
            ("provider", "account", "route", "model", "status_class"),
            registry=None,
        )
        self._duration = Histogram(
            "ccproxy_request_duration_seconds",
            "",
            ("provider", "account", "route"),
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self._ttfb = Histogram(
            "ccproxy_time_to_first_byte_seconds",
            "",
            ("provider", "account", "route"),
            buckets=TTFB_BUCKETS,
            registry=None,
        )
        self._tokens = Counter(
            "ccproxy_tokens", "", ("provider", "account", "model", "type"), registry=None
        )
        self._cost = Counter(
            "ccproxy_cost_usd", "", ("provider", "account", "model"), registry=None
        )
        self._premium = Counter(
            "ccproxy_premium_requests", "", ("provider", "account", "model"), registry=None
        )
        self._premium_units = Counter(
            "ccproxy_premium_request_units", "", ("provider", "account", "model"), registry=None
        )
        self._in_flight = Gauge(
            "ccproxy_in_flight_requests", "", registry=None, multiprocess_mode="livesum"
        )
        self._upstream_errors = Counter(
            "ccproxy_upstream_errors", "", ("provider", "account", "kind"), registry=None
        )
        self._window_used = Gauge(
            "ccproxy_subscription_window_used_ratio",
            "",
            ("provider", "account", "window"),
            registry=None,
            multiprocess_mode="mostrecent",
        )
        self._window_reset = Gauge(
            "ccproxy_subscription_window_reset_timestamp_seconds",
            "",
            ("provider", "account", "window"),
            registry=None,
            multiprocess_mode="mostrecent",
        )
        self._plugin_info = Gauge(
            "ccproxy_plugin_info",
            "",
            ("name", "version", "type"),
            registry=None,
            multiprocess_mode="max",
        )
        self._dropped = Counter("ccproxy_ledger_dropped_rows", "", registry=None)
        build_info = Gauge(
            "ccproxy_build_info", "", ("version",), registry=None, multiprocess_mode="max"
        )
        build_info.labels(core_version).set(1)
        # Children by label values: .labels() takes a lock and validates on every call.
        self._children: dict[tuple[int, LabelValues], Any] = {}

    def _child(self, metric: Any, values: LabelValues) -> Any:
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # --- updates (see MetricsCollector for what each means) --------------------------------------

    def request_started(self) -> None:
        """One more request in flight."""
        self._in_flight.inc()

    def request_finished(self) -> None:
        """One request fewer in flight."""
        self._in_flight.dec()

    def count_request(
        self, provider: str, account: str, route: str, model: str, status_class: str
    ) -> None:
        """One finished request."""
        self._child(self._requests, (provider, account, route, model, status_class)).inc()

    def observe_duration(self, provider: str, account: str, route: str, seconds: float) -> None:
        """A whole request's duration."""
        self._child(self._duration, (provider, account, route)).observe(seconds)

    def observe_ttfb(self, provider: str, account: str, route: str, seconds: float) -> None:
        """The time until the upstream's response headers arrived."""
        self._child(self._ttfb, (provider, account, route)).observe(seconds)

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
            self._child(self._tokens, (provider, account, model, token_type)).inc(max(0, amount))

    def add_cost(self, provider: str, account: str, model: str, cost: Decimal) -> None:
        """A request's API-equivalent cost in USD."""
        self._child(self._cost, (provider, account, model)).inc(float(cost))

    def count_premium(self, provider: str, account: str, model: str, units: Decimal) -> None:
        """One premium request, costing ``units`` of the quota."""
        key = (provider, account, model)
        self._child(self._premium, key).inc()
        self._child(self._premium_units, key).inc(float(units))

    def count_upstream_error(self, provider: str, account: str, kind: str) -> None:
        """One request that failed upstream."""
        self._child(self._upstream_errors, (provider, account, kind)).inc()

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
        last one)."""
        key = (provider, account, window)
        if used_ratio is not None:
            self._child(self._window_used, key).set(used_ratio)
        if reset_at is not None:
            self._child(self._window_reset, key).set(reset_at)

    def set_plugins(self, plugins: Iterable[PluginInfo]) -> None:
        """The plugins running in this worker."""
        for plugin in plugins:
            self._plugin_info.labels(plugin.name, plugin.version, plugin.type).set(1)

    def count_dropped_rows(self, rows: int) -> None:
        """Ledger rows lost."""
        self._dropped.inc(rows)

    # --- exposition ----------------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        """The families exposed (as the single-process collector's)."""
        return self._template.describe()

    def collect(self) -> Iterator[Metric]:
        """Every family, with the samples of all workers merged."""
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = {
            metric.name: metric
            for metric in MultiProcessCollector(None, path=self.directory).collect()  # type: ignore[no-untyped-call]
        }
        for family in self._template.describe():
            found = merged.get(family.name)
            if found is not None:
                family.samples = sorted(found.samples, key=_sample_order)
            yield family


def _sample_order(sample: Any) -> tuple[Any, ...]:
    """Series by label values; within a histogram series: buckets by bound, then count, sum."""
    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
    bound = sample.labels.get("le")
    if bound is None:
        return (labels, 1, float("inf"), sample.name)
    return (labels, 0, float(bound), sample.name)
