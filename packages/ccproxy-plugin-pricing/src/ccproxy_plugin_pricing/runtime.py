"""The pricing plugin's runtime: one price book, its refresher and its scheduled age check."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ccproxy.plugins import (
    HealthCheckResult,
    HealthStatus,
    SystemPluginRuntime,
    TaskSpec,
    health_result,
)
from ccproxy_plugin_pricing.config import PricingConfig
from ccproxy_plugin_pricing.refresh import Refresher
from ccproxy_plugin_pricing.service import PriceBook
from ccproxy_plugin_pricing.table import startup_table

__all__ = ["MAX_CHECK_INTERVAL_SECONDS", "PLUGIN_NAME", "REFRESH_TASK", "PricingRuntime"]

PLUGIN_NAME = "pricing"
#: The name of the scheduled task that checks the table's age.
REFRESH_TASK = "refresh_prices"
#: The age check runs at least this often (more often when the refresh interval is shorter).
MAX_CHECK_INTERVAL_SECONDS = 3600.0


class PricingRuntime(SystemPluginRuntime):
    """Serves the bundled snapshot (or a newer cache) at once; refreshes in the background.

    ``_on_initialize`` reads local files only. The age check is added to the app's scheduler
    here rather than declared in the manifest: a manifest is shared by every app of a process,
    while the task must refresh *this* app's table.
    """

    service_name: ClassVar[str] = "pricing"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._book: PriceBook | None = None
        self._refresher: Refresher | None = None
        self._config = PricingConfig()
        self._cache_problem: str | None = None

    @property
    def config(self) -> PricingConfig:
        """The validated ``plugins.pricing`` table."""
        return self._config

    @property
    def book(self) -> PriceBook:
        """The ``pricing`` service; an error before initialisation."""
        if self._book is None:
            raise RuntimeError("the pricing plugin is not initialised")
        return self._book

    @property
    def refresher(self) -> Refresher:
        """The refresher of :attr:`book`; an error before initialisation."""
        if self._refresher is None:
            raise RuntimeError("the pricing plugin is not initialised")
        return self._refresher

    async def _on_initialize(self) -> None:
        context = self.context
        if isinstance(context.config, PricingConfig):
            self._config = context.config
        config = self._config
        table, self._cache_problem = await asyncio.to_thread(
            startup_table, config.cache_file, min_models=config.min_models
        )
        if self._cache_problem is not None:
            self.logger.warning("pricing_cache_ignored", reason=self._cache_problem)
        self._book = PriceBook(table, config.aliases)
        self._refresher = Refresher(self._book, context.http_client, config, self.logger)
        context.plugin_registry.register_service(
            self.service_name, self._book, provider_plugin=self.name
        )
        if config.refresh_interval_hours > 0:
            context.scheduler.add_task(
                TaskSpec(
                    name=REFRESH_TASK,
                    interval_seconds=min(
                        MAX_CHECK_INTERVAL_SECONDS, config.refresh_interval_seconds
                    ),
                    task=self._refresher.refresh_if_due,
                    initial_delay_seconds=config.initial_refresh_delay_seconds,
                ),
                plugin=self.name,
            )
        self.logger.info("pricing_ready", serving=table.describe(), models=len(table))

    async def health_check(self) -> HealthCheckResult:
        """``pass`` while prices are current; ``warn`` (still serving) after a failed refresh."""
        if not self.initialized or self._book is None or self._refresher is None:
            return await super().health_check()
        table = self._book.table
        last = self._refresher.last_outcome
        details: dict[str, Any] = {
            "table": table.provenance(),
            "refresh_interval_hours": self._config.refresh_interval_hours,
            "source_url": self._config.source_url,
            "cache_file": str(self._config.cache_file),
            "last_refresh": last.as_dict() if last is not None else None,
        }
        problem: str | None = None
        if last is not None and not last.ok:
            problem = f"price refresh from {last.source_url} failed ({last.error})"
        elif last is not None and last.cache_error is not None:
            problem = f"prices refreshed but the cache file was not written ({last.cache_error})"
        elif last is None and self._cache_problem is not None:
            problem = self._cache_problem
        serving = f"serving {len(table)} models from the {table.describe()}"
        status: HealthStatus = "pass" if problem is None else "warn"
        output = serving if problem is None else f"{problem}; {serving}"
        return health_result(
            status,
            component_id=self.name,
            version=self.manifest.version,
            output=output,
            details=details,
        )
