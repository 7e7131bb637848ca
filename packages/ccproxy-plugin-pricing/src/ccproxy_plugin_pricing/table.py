"""The price table: an immutable set of model prices and where it came from.

A :class:`PriceTable` never changes after it is built; the service swaps whole tables by one
reference assignment, so a reader holding a table always sees all of one table.

Two documents share one JSON shape, ``{"source": "litellm", <provenance>, "models": {...}}``:
the bundled snapshot (``litellm_version``, ``generated_at``) and the cache file written by a
refresh (``source_url``, ``fetched_at``). A downloaded LiteLLM table is a bare
``{model: entry}`` object and goes through :func:`table_from_litellm`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ccproxy_plugin_pricing.litellm import TableError, select_models

__all__ = [
    "PriceTable",
    "TableOrigin",
    "load_snapshot",
    "read_cache",
    "startup_table",
    "table_from_document",
    "table_from_litellm",
    "write_cache",
]

TableOrigin = Literal["snapshot", "cache", "remote"]

_SNAPSHOT_PACKAGE = "ccproxy_plugin_pricing"
_SNAPSHOT_PATH = "data/prices.json"


def _freeze(models: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    # Keys are matched case-insensitively; LiteLLM's names are lower case already.
    frozen: dict[str, Mapping[str, Any]] = {}
    for name, entry in models.items():
        frozen.setdefault(name.lower(), MappingProxyType(dict(entry)))
    return MappingProxyType(frozen)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices of every known model plus provenance. Build with the ``table_from_*`` functions."""

    models: Mapping[str, Mapping[str, Any]] = field(repr=False)
    origin: TableOrigin
    as_of: datetime
    litellm_version: str | None = None
    source_url: str | None = None
    source: str = "litellm"
    #: Model names, longest first: the order the longest-prefix rule tries them in.
    by_length: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", _freeze(self.models))
        if not self.by_length:
            ordered = tuple(sorted(self.models, key=lambda name: (-len(name), name)))
            object.__setattr__(self, "by_length", ordered)

    def __len__(self) -> int:
        return len(self.models)

    def age_seconds(self, now: datetime | None = None) -> float:
        """Seconds since the prices were generated or fetched (never negative)."""
        current = now if now is not None else datetime.now(UTC)
        return max(0.0, (current - self.as_of).total_seconds())

    def describe(self, now: datetime | None = None) -> str:
        """``bundled snapshot (litellm 1.2.3) of 2025-01-01T00:00:00+00:00, 2.0 days old``."""
        if self.origin == "snapshot":
            what = f"bundled snapshot (litellm {self.litellm_version or 'unknown'})"
        else:
            where = "cache of" if self.origin == "cache" else "download from"
            what = f"{where} {self.source_url or 'an unknown URL'}"
        days = self.age_seconds(now) / 86400
        return f"{what} of {self.as_of.isoformat()}, {days:.1f} days old"

    def provenance(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-friendly provenance: source, origin, version, URL, time and age."""
        return {
            "source": self.source,
            "origin": self.origin,
            "litellm_version": self.litellm_version,
            "source_url": self.source_url,
            "as_of": self.as_of.isoformat(),
            "age_seconds": round(self.age_seconds(now), 3),
            "models": len(self.models),
        }

    def to_document(self) -> dict[str, Any]:
        """The JSON document :func:`table_from_document` reads back (the cache file's shape)."""
        stamp = "generated_at" if self.origin == "snapshot" else "fetched_at"
        document: dict[str, Any] = {"source": self.source}
        if self.litellm_version is not None:
            document["litellm_version"] = self.litellm_version
        if self.source_url is not None:
            document["source_url"] = self.source_url
        document[stamp] = self.as_of.isoformat()
        document["models"] = {name: dict(entry) for name, entry in self.models.items()}
        return document


def table_from_litellm(
    raw: object, *, source_url: str, fetched_at: datetime, min_models: int
) -> PriceTable:
    """A table from a downloaded LiteLLM document; :class:`TableError` when it is unusable."""
    models = select_models(raw, min_models=min_models)
    return PriceTable(models=models, origin="remote", as_of=fetched_at, source_url=source_url)


def table_from_document(
    document: object, *, origin: TableOrigin, min_models: int = 1
) -> PriceTable:
    """A table from a snapshot or cache document; :class:`TableError` when it is unusable."""
    if not isinstance(document, Mapping):
        raise TableError("the price document must be a JSON object")
    as_of = _parse_time(document.get("fetched_at")) or _parse_time(document.get("generated_at"))
    if as_of is None:
        raise TableError("the price document has no valid generated_at or fetched_at time")
    models = select_models(document.get("models"), min_models=min_models)
    version = document.get("litellm_version")
    url = document.get("source_url")
    source = document.get("source")
    return PriceTable(
        models=models,
        origin=origin,
        as_of=as_of,
        litellm_version=version if isinstance(version, str) else None,
        source_url=url if isinstance(url, str) else None,
        source=source if isinstance(source, str) else "litellm",
    )


def load_snapshot() -> PriceTable:
    """The snapshot bundled with the package (read with ``importlib.resources``)."""
    text = resources.files(_SNAPSHOT_PACKAGE).joinpath(_SNAPSHOT_PATH).read_text("utf-8")
    return table_from_document(json.loads(text), origin="snapshot")


def read_cache(path: Path, *, min_models: int) -> PriceTable | None:
    """The cached table at ``path``; ``None`` when there is no file.

    Raises :class:`TableError` (or ``OSError``) when a file exists but cannot be used.
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TableError(f"{path} is not valid JSON: {exc}") from None
    return table_from_document(document, origin="cache", min_models=min_models)


def write_cache(path: Path, table: PriceTable) -> None:
    """Write ``table`` to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(table.to_document(), indent=1).encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def startup_table(cache_file: Path, *, min_models: int) -> tuple[PriceTable, str | None]:
    """The table to serve at start-up, and why the cache was ignored (``None`` if it was not).

    The bundled snapshot, unless the cache file is valid and newer than it. Reads local files
    only: start-up never waits on the network.
    """
    snapshot = load_snapshot()
    try:
        cached = read_cache(cache_file, min_models=min_models)
    except (OSError, TableError) as exc:
        return snapshot, f"cache file {cache_file} ignored: {exc}"
    if cached is not None and cached.as_of > snapshot.as_of:
        return cached, None
    return snapshot, None
