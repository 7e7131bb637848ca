"""The ``metrics`` system plugin: factory (entry point ``metrics``) and per-app runtime.

Per app it owns a private ``CollectorRegistry`` (never prometheus-client's global one), the
hook that records every proxied request, the usage ledger writer and, when configured, the
Pushgateway task. Routes: ``GET /metrics``, ``GET /metrics/usage`` and the dashboard
(:mod:`ccproxy_plugin_metrics.dashboard`).

When the app is one of several workers of ``ccproxy serve --workers N`` (``server.workers`` > 1
and ``PROMETHEUS_MULTIPROC_DIR`` set, as serve does), the numbers go to
:class:`~ccproxy_plugin_metrics.multiprocess.MultiprocessMetrics` instead, so that every
worker's ``/metrics`` shows the sum over all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, runtime_checkable

from ccproxy import __version__ as core_version
from ccproxy.plugins import (
    HealthCheckResult,
    PluginContext,
    PluginManifest,
    SystemPluginFactory,
    SystemPluginRuntime,
    TaskSpec,
    health_result,
)
from ccproxy_plugin_metrics._version import __version__
from ccproxy_plugin_metrics.collector import MetricsCollector, MetricsSink
from ccproxy_plugin_metrics.config import MetricsConfig
from ccproxy_plugin_metrics.dashboard import DASHBOARD_PUBLIC_PATHS, dashboard_router
from ccproxy_plugin_metrics.ledger import LedgerWriter
from ccproxy_plugin_metrics.multiprocess import MultiprocessMetrics, multiprocess_directory
from ccproxy_plugin_metrics.premium import QUOTA_PLUGIN, quota_windows
from ccproxy_plugin_metrics.pushgateway import push
from ccproxy_plugin_metrics.recorder import MetricsRecorder
from ccproxy_plugin_metrics.routes import LedgerUnavailableError, MetricsSource, metrics_router
from ccproxy_plugin_metrics.usage import UsageReport, read_usage

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    from ccproxy.plugins import CoreServices

__all__ = ["PLUGIN_NAME", "MetricsFactory", "MetricsRuntime", "factory"]

PLUGIN_NAME: Final = "metrics"
#: How long ``/metrics/usage`` waits for queued rows to reach the ledger before reading it.
USAGE_FLUSH_TIMEOUT_SECONDS: Final = 5.0


@runtime_checkable
class _StatusReporter(Protocol):
    """A runtime answering its ``GET /oauth/<name>/status`` body (an auth plugin's)."""

    def status(self) -> dict[str, Any]: ...


class MetricsRuntime(SystemPluginRuntime):
    """The metrics of one app: collector, registry, recorder hook, ledger and push task."""

    def __init__(self, manifest: PluginManifest) -> None:
        super().__init__(manifest)
        self.collector: MetricsSink = MetricsCollector(core_version=core_version)
        self._registry: CollectorRegistry | None = None
        self.recorder: MetricsRecorder | None = None
        self.ledger: LedgerWriter | None = None
        self.ledger_error: str | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """The app's private registry, made (with prometheus-client) on first exposition."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            registry.register(cast("Collector", self.collector))
            self._registry = registry
        return self._registry

    @property
    def config(self) -> MetricsConfig:
        """The validated ``plugins.metrics`` table (defaults when the core passed none)."""
        config = self.context.config
        return config if isinstance(config, MetricsConfig) else MetricsConfig()

    async def _on_initialize(self) -> None:
        config = self.config
        workers = getattr(self.context.settings.server, "workers", 1)
        directory = multiprocess_directory(workers)
        if directory is not None:
            self.collector = MultiprocessMetrics(core_version=core_version, directory=directory)
        elif workers > 1:
            self.logger.warning(
                "metrics_per_worker",
                workers=workers,
                reason="PROMETHEUS_MULTIPROC_DIR is not set (ccproxy serve sets it): "
                "/metrics shows only the worker that answers",
            )
        self.recorder = MetricsRecorder(
            self.collector, registry=self.context.plugin_registry, logger=self.logger
        )
        self.context.hook_manager.register(self.recorder, plugin=self.name)
        if config.pushgateway_url is not None:
            self.context.scheduler.add_task(
                TaskSpec("pushgateway", config.pushgateway_interval_seconds, self.push),
                plugin=self.name,
            )
        # Last, so that nothing after it can fail and leave the writer task running.
        if config.ledger_enabled:
            self.recorder.ledger = await self._open_ledger(config)

    async def _open_ledger(self, config: MetricsConfig) -> LedgerWriter | None:
        writer = LedgerWriter(
            config.ledger_path,
            logger=self.logger,
            queue_size=config.ledger_queue_size,
            on_drop=self._count_dropped,
        )
        try:
            await writer.start()
        except Exception as exc:  # metrics still work without the ledger: degrade, do not fail
            self.ledger_error = f"{type(exc).__name__}: {exc}"
            self.logger.error(
                "ledger_unavailable", ledger_path=str(config.ledger_path), error=self.ledger_error
            )
            return None
        self.ledger = writer
        return writer

    def _count_dropped(self, rows: int) -> None:
        self.collector.count_dropped_rows(rows)

    async def _on_shutdown(self) -> None:
        if self.recorder is not None:
            self.context.hook_manager.unregister(self.recorder)
        if self.ledger is not None:
            await self.ledger.close()

    # --- what the routes and the scheduler call ----------------------------------------------

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The private registry in the format ``accept`` asks for (Prometheus text by default)."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    async def usage(self, *, since: datetime | None, until: datetime, group_by: str) -> UsageReport:
        """Ledger totals, after the rows queued so far are written (waiting a bounded time)."""
        if not self.config.ledger_enabled:
            raise LedgerUnavailableError(
                "The usage ledger is disabled (plugins.metrics.ledger_enabled = false).", 404
            )
        if self.ledger is None:
            raise LedgerUnavailableError(
                f"The usage ledger could not be opened: {self.ledger_error}", 503
            )
        await self.ledger.flush(USAGE_FLUSH_TIMEOUT_SECONDS)
        return await asyncio.to_thread(
            read_usage, self.ledger.path, since=since, until=until, group_by=group_by
        )

    def premium_quota(self, now: float) -> list[dict[str, Any]]:
        """Each GitHub Copilot account's premium-request quota, as the ``oauth_copilot`` plugin
        of this app last read it, shaped as dashboard windows; empty without that plugin. Read
        from its runtime's ``status()`` (the body of its status route): no import of it."""
        runtime = self.context.plugin_registry.get_runtime(QUOTA_PLUGIN)
        if runtime is None or not runtime.initialized:
            return []
        reporter: object = runtime  # typed as the base runtime, which has no status()
        if not isinstance(reporter, _StatusReporter):
            return []
        try:
            status = reporter.status()
        except Exception:  # another plugin's status must not break the dashboard
            return []
        return quota_windows(status, provider="copilot", now=now)

    async def push(self) -> None:
        """Push the registry to the configured Pushgateway once (the scheduled task)."""
        config = self.config
        if config.pushgateway_url is None:
            return
        await push(
            self.context.http_client,
            self.registry,
            base_url=config.pushgateway_url,
            job=config.pushgateway_job,
        )

    async def health_check(self) -> HealthCheckResult:
        """``pass``; ``warn`` when the ledger could not be opened or its last write failed."""
        if not self.initialized:
            return await super().health_check()
        config = self.config
        details: dict[str, Any] = {
            "ledger_enabled": config.ledger_enabled,
            "pushgateway_url": config.pushgateway_url,
        }
        problem = None
        if config.ledger_enabled:
            details["ledger_path"] = str(config.ledger_path)
            if self.ledger is None:
                problem = f"usage ledger unavailable: {self.ledger_error}"
            else:
                details.update(
                    ledger_rows_written=self.ledger.written,
                    ledger_rows_dropped=self.ledger.dropped,
                    ledger_rows_queued=self.ledger.queued,
                )
                if self.ledger.last_error is not None:
                    problem = f"last usage ledger write failed: {self.ledger.last_error}"
        return health_result(
            "warn" if problem else "pass",
            component_id=self.name,
            version=self.manifest.version,
            output=problem,
            details=details,
        )


class MetricsFactory(SystemPluginFactory):
    """Builds the ``metrics`` manifest, a runtime per app and the per-app routes."""

    runtime_class = MetricsRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PLUGIN_NAME,
                version=__version__,
                description="Prometheus metrics at /metrics and a SQLite usage ledger "
                "(/metrics/usage, ccproxy usage).",
                optional_requires=["pricing"],
                config_class=MetricsConfig,
                public_paths=list(DASHBOARD_PUBLIC_PATHS),
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The core's context plus the routes (mounted under ``/metrics``) bound to this app."""
        context = super().create_context(core_services)
        registry = context.plugin_registry

        def running() -> MetricsSource | None:
            runtime = registry.get_runtime(PLUGIN_NAME)
            if isinstance(runtime, MetricsRuntime) and runtime.initialized:
                return runtime
            return None

        router = metrics_router(running)
        router.include_router(dashboard_router(running_runtime(registry), context.settings))
        context["router"] = router
        return context


def running_runtime(registry: Any) -> Callable[[], MetricsRuntime | None]:
    """The running runtime of the app whose plugin registry is ``registry`` (for the routes)."""

    def running() -> MetricsRuntime | None:
        runtime = registry.get_runtime(PLUGIN_NAME)
        return runtime if isinstance(runtime, MetricsRuntime) and runtime.initialized else None

    return running


#: The ``ccproxy.plugins`` entry point.
factory = MetricsFactory()
