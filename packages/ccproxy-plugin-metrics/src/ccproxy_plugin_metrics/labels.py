"""Keeping label values bounded, so that no client can blow up the number of series."""

from __future__ import annotations

from typing import Final

__all__ = [
    "OTHER",
    "BoundedLabel",
    "status_class",
]

#: The label value every value past a label's limit (and every unpriced model) collapses into.
OTHER: Final = "other"


class BoundedLabel:
    """The values one label may take: the first ``limit`` distinct values, then ``other``.

    Label values come from route templates, provider names and the pricing table, which are
    bounded already; the limit is a second line of defence against a misbehaving plugin.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        """``value`` when it is known or there is room for it, else ``other``."""
        if not value:
            return OTHER
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(value)
        return value

    def __len__(self) -> int:
        return len(self._seen)


def status_class(status_code: int) -> str:
    """``2xx``, ``4xx``, ``5xx`` …; ``other`` for anything outside 100-599 (e.g. no status)."""
    if 100 <= status_code <= 599:
        return f"{status_code // 100}xx"
    return OTHER
