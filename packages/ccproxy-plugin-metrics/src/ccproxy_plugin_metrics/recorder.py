"""The hook that turns request events into metric updates and ledger rows.

Label policy (what keeps the number of series bounded):

- ``route`` is the record's route template (``/claude/v1/messages``), never a raw URL;
- ``model`` is the upstream model when the ``pricing`` service knows it (prices it:
  ``pricing.cost(model, usage) is not None``) or the provider's catalogue does (the record
  carries a ``premium_multiplier`` tag), else ``other``; without either it is always ``other``;
- ``kind`` (upstream errors) is the record's ``error_kind`` (``upstream_429``,
  ``upstream_timeout``…), which the core draws from a fixed set;
- ``window`` comes from a fixed header grammar (see :mod:`ccproxy_plugin_metrics.windows`);
- ``account`` is the record's account (a pool's account name), empty when it names none;
  it is capped per provider, and windows are kept per provider and account.

On top of that every label has a cap of distinct values; past it new values read ``other``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ccproxy.plugins import (
    AppStartup,
    HookEvent,
    HookPayload,
    PricingService,
    RequestCompleted,
    RequestRecord,
    RequestStarted,
)
from ccproxy_plugin_metrics.collector import MetricsSink, PluginInfo
from ccproxy_plugin_metrics.labels import OTHER, AccountLabel, BoundedLabel, status_class
from ccproxy_plugin_metrics.ledger import LedgerRow, LedgerWriter
from ccproxy_plugin_metrics.premium import MULTIPLIER_TAG, premium_use
from ccproxy_plugin_metrics.windows import read_windows

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.plugins import PluginRegistry

__all__ = ["ACCOUNT_LIMIT", "LABEL_LIMITS", "MetricsRecorder"]

#: Most distinct values each label takes before new ones read ``other``.
LABEL_LIMITS: Final[dict[str, int]] = {
    "provider": 32,
    "route": 64,
    "model": 100,
    "kind": 64,
    "window": 16,
}
#: Most distinct accounts each provider's ``account`` label takes before new ones read ``other``.
ACCOUNT_LIMIT: Final = 32
_UPSTREAM_ERROR_PREFIX: Final = "upstream_"


class MetricsRecorder:
    """Subscribes to ``REQUEST_STARTED``, ``REQUEST_COMPLETED`` and ``APP_STARTUP``.

    Work done per request is a few dictionary updates, one pricing lookup and one
    ``put_nowait`` on the ledger queue: nothing waits.
    """

    name: str = "metrics"
    #: Observers run after hooks that may still act on the request.
    priority: int = 1000

    def __init__(
        self,
        collector: MetricsSink,
        *,
        registry: PluginRegistry,
        logger: BoundLogger,
        ledger: LedgerWriter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events: list[HookEvent] = [
            HookEvent.APP_STARTUP,
            HookEvent.REQUEST_STARTED,
            HookEvent.REQUEST_COMPLETED,
        ]
        self.collector = collector
        self.ledger = ledger
        self._registry = registry
        self._logger = logger
        self._clock = clock
        self._labels = {name: BoundedLabel(limit) for name, limit in LABEL_LIMITS.items()}
        self._account = AccountLabel(ACCOUNT_LIMIT)
        # Request ids seen starting and not yet completed (ids come from clients, so they may
        # repeat): a completion only leaves the in-flight gauge if its start was counted.
        self._open: Counter[str] = Counter()
        self._pricing_failed = False
        # The last service object found under "pricing" and whether it passed the Protocol
        # check: an isinstance against a runtime Protocol costs microseconds on every request.
        self._pricing_checked: tuple[object, PricingService | None] = (None, None)

    async def __call__(self, event: HookPayload) -> None:
        """Dispatch one event."""
        if isinstance(event, RequestStarted):
            self._open[event.request_id] += 1
            self.collector.request_started()
        elif isinstance(event, RequestCompleted):
            self._finish(event.request_id)
            self.record(event.record)
        elif isinstance(event, AppStartup):
            self.collector.set_plugins(self._running_plugins())

    def pricing(self) -> PricingService | None:
        """The ``pricing`` service, when a plugin provides it (looked up each time, so a
        service registered or replaced later is found; checked once per service object)."""
        found = self._registry.get_service("pricing")
        if found is None:
            return None
        checked, service = self._pricing_checked
        if found is not checked:
            service = found if isinstance(found, PricingService) else None
            self._pricing_checked = (found, service)
        return service

    def record(self, record: RequestRecord) -> None:
        """Count one completed request and queue its ledger row."""
        labels = self._labels
        provider = labels["provider"](record.provider)
        account = self._account(provider, record.account)
        route = labels["route"](record.route)
        model, cost = self._model_and_cost(record)
        collector = self.collector
        collector.count_request(provider, account, route, model, status_class(record.status_code))
        collector.observe_duration(provider, account, route, max(0.0, record.duration_s))
        if record.ttfb_s is not None:
            collector.observe_ttfb(provider, account, route, max(0.0, record.ttfb_s))
        collector.add_tokens(provider, account, model, record.usage)
        if cost is not None:
            collector.add_cost(provider, account, model, cost)
        premium = premium_use(record.tags, record.status_code) if record.tags else None
        if premium is not None and premium.billed:
            collector.count_premium(provider, account, model, premium.units)
        kind = record.error_kind
        if kind and kind.startswith(_UPSTREAM_ERROR_PREFIX):
            collector.count_upstream_error(provider, account, labels["kind"](kind))
        now = self._clock()
        if record.rate_limits:
            for window, reading in read_windows(record.rate_limits, now=now).items():
                collector.set_window(
                    provider,
                    account,
                    labels["window"](window),
                    used_ratio=reading.used_ratio,
                    reset_at=reading.reset_at,
                )
        if self.ledger is not None:
            self.ledger.submit(LedgerRow.from_record(record, cost=cost, ts=now, premium=premium))

    def _finish(self, request_id: str) -> None:
        if self._open[request_id] > 0:
            self._open[request_id] -= 1
            if self._open[request_id] == 0:
                del self._open[request_id]
            self.collector.request_finished()

    def _model_and_cost(self, record: RequestRecord) -> tuple[str, Decimal | None]:
        """The bounded ``model`` label and the request's cost (``None`` when unpriced)."""
        pricing = self.pricing()
        model = record.upstream_model
        if not model:
            return OTHER, None
        # A provider states a multiplier only for a model of its own catalogue: a bounded set.
        in_catalogue = MULTIPLIER_TAG in record.tags
        if pricing is None:
            return (self._labels["model"](model) if in_catalogue else OTHER), None
        try:
            # One lookup: ``cost`` is None exactly when the model is unknown, and a price table
            # lookup is the costliest part of recording a request.
            priced = pricing.cost(model, record.usage)
        except Exception as exc:  # a broken price table must not cost us the request's record
            if not self._pricing_failed:
                self._pricing_failed = True
                self._logger.warning(
                    "pricing_failed", model=model, error=f"{type(exc).__name__}: {exc}"
                )
            return (self._labels["model"](model) if in_catalogue else OTHER), None
        known = priced is not None
        label = self._labels["model"](model) if known or in_catalogue else OTHER
        return label, _as_decimal(priced)

    def _running_plugins(self) -> list[PluginInfo]:
        found: list[PluginInfo] = []
        for plugin in self._registry.plugins():
            if plugin.state != "initialized":
                continue
            summary: dict[str, Any] = plugin.summary()
            found.append(
                PluginInfo(
                    name=plugin.name,
                    version=str(summary.get("version") or "unknown"),
                    type=str(summary.get("type") or "unknown"),
                )
            )
        return found


def _as_decimal(value: object) -> Decimal | None:
    """A finite ``Decimal`` from what a pricing service returned (tolerating floats and ints)."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, Decimal):
        try:
            value = Decimal(str(value))
        except ArithmeticError:
            return None
    return value if value.is_finite() else None
