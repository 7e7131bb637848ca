"""Fake ``ccproxy.plugins`` entry points, for discovery without installing a distribution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeDistribution", "FakeEntryPoint", "fake_entry_point"]


@dataclass(frozen=True)
class FakeDistribution:
    """The metadata discovery reads from a distribution."""

    name: str = "fake-plugin"
    version: str = "0.1.0"
    requires: list[str] | None = field(default_factory=lambda: ["ccproxy-core>=1.0,<2"])


@dataclass(frozen=True)
class FakeEntryPoint:
    """Quacks like ``importlib.metadata.EntryPoint``; ``load()`` calls ``loader``."""

    name: str
    loader: Callable[[], Any]
    dist: FakeDistribution | None = field(default_factory=FakeDistribution)
    value: str = "fake.module:factory"

    def load(self) -> Any:
        return self.loader()


def fake_entry_point(
    name: str,
    factory: Any,
    *,
    distribution: str = "fake-plugin",
    version: str = "0.1.0",
    requires_core: str | None = ">=1.0,<2",
) -> FakeEntryPoint:
    """An entry point named ``name`` loading ``factory`` (a factory or a callable returning one)."""
    requires = [f"ccproxy-core{requires_core}"] if requires_core is not None else []
    return FakeEntryPoint(
        name=name,
        loader=lambda: factory,
        dist=FakeDistribution(name=distribution, version=version, requires=requires),
        value=f"{distribution.replace('-', '_')}:factory",
    )
