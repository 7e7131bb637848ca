"""Refreshing the price table from ``source_url``: download, validate, cache, swap.

A refresh never leaves the service worse off: the download is validated in full
(:func:`ccproxy_plugin_pricing.litellm.select_models`) before anything changes, the cache file is
replaced atomically, and the table is swapped with one reference assignment. A failure (offline,
HTTP error, timeout, malformed or truncated body) keeps the current table and is remembered in
:attr:`Refresher.last_outcome`, which the plugin's health check reports as ``warn``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from ccproxy_plugin_pricing.litellm import TableError
from ccproxy_plugin_pricing.table import PriceTable, table_from_litellm, write_cache

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy_plugin_pricing.config import PricingConfig
    from ccproxy_plugin_pricing.service import PriceBook

__all__ = ["FetchError", "RefreshOutcome", "Refresher"]


class FetchError(RuntimeError):
    """The download did not produce a body worth parsing (HTTP status, size)."""


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What one refresh attempt did."""

    ok: bool
    source_url: str
    attempted_at: datetime
    models: int = 0
    error: str | None = None
    cache_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the body of ``POST /pricing/refresh``)."""
        return {
            "ok": self.ok,
            "source_url": self.source_url,
            "attempted_at": self.attempted_at.isoformat(),
            "models": self.models,
            "error": self.error,
            "cache_error": self.cache_error,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, TimeoutError) and not text:
        text = "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Refresher:
    """Refreshes one :class:`PriceBook` from the configured source (single flight)."""

    def __init__(
        self,
        book: PriceBook,
        client: httpx.AsyncClient,
        config: PricingConfig,
        logger: BoundLogger,
    ) -> None:
        self._book = book
        self._client = client
        self._config = config
        self._logger = logger
        self._lock = asyncio.Lock()
        self.last_outcome: RefreshOutcome | None = None
        self.last_success: RefreshOutcome | None = None

    def is_due(self, now: datetime | None = None) -> bool:
        """Whether the scheduled check should download: refreshing is on and the table is the
        bundled snapshot or older than ``refresh_interval_hours``."""
        interval = self._config.refresh_interval_seconds
        if interval <= 0:
            return False
        table = self._book.table
        return table.origin == "snapshot" or table.age_seconds(now) >= interval

    async def refresh_if_due(self) -> None:
        """The scheduled task: refresh when :meth:`is_due` (failures are recorded, not raised)."""
        if self.is_due():
            await self.refresh()

    async def refresh(self) -> RefreshOutcome:
        """Download, validate, cache and swap now, whatever the table's age."""
        async with self._lock:
            outcome = await self._attempt()
            self.last_outcome = outcome
            if outcome.ok:
                self.last_success = outcome
            return outcome

    async def _attempt(self) -> RefreshOutcome:
        url = self._config.source_url
        started = datetime.now(UTC)
        try:
            body = await self._download(url)
            table = await asyncio.to_thread(self._parse, body, url, started)
        except (httpx.HTTPError, OSError, TimeoutError, FetchError, TableError, ValueError) as exc:
            error = _describe(exc)
            self._logger.warning(
                "pricing_refresh_failed",
                source_url=url,
                error=error,
                serving=self._book.table.describe(),
            )
            return RefreshOutcome(ok=False, source_url=url, attempted_at=started, error=error)
        cache_error: str | None = None
        try:
            await asyncio.to_thread(write_cache, self._config.cache_file, table)
        except OSError as exc:
            cache_error = _describe(exc)
            self._logger.warning(
                "pricing_cache_write_failed", path=str(self._config.cache_file), error=cache_error
            )
        self._book.swap(table)
        self._logger.info("pricing_refreshed", source_url=url, models=len(table))
        return RefreshOutcome(
            ok=True,
            source_url=url,
            attempted_at=started,
            models=len(table),
            cache_error=cache_error,
        )

    async def _download(self, url: str) -> bytes:
        limit = self._config.max_download_bytes
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self._config.fetch_timeout_seconds):
            # The shared client relays redirects for the proxy; a price table may move.
            request = self._client.stream(
                "GET", url, headers={"accept": "application/json"}, follow_redirects=True
            )
            async with request as response:
                if response.status_code != 200:
                    raise FetchError(f"{url} answered HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(f"{url} sent more than {limit} bytes")
                    chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes, url: str, fetched_at: datetime) -> PriceTable:
        try:
            raw = json.loads(body)
        except ValueError as exc:
            raise TableError(f"the body is not JSON: {exc}") from None
        return table_from_litellm(
            raw, source_url=url, fetched_at=fetched_at, min_models=self._config.min_models
        )
