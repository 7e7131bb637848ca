"""Keeping label values bounded, so that no client can blow up the number of series."""

from __future__ import annotations

from typing import Final

__all__ = [
    "NO_ACCOUNT",
    "OTHER",
    "AccountLabel",
    "BoundedLabel",
    "status_class",
]

#: The label value every value past a label's limit (and every unpriced model) collapses into.
OTHER: Final = "other"
#: The ``account`` of a request no account served (refused before one was chosen, or a
#: credential without an id). Empty rather than ``default``: counting those under the pool's
#: ``default`` account would charge it requests it never saw, and Prometheus treats an empty
#: label as an absent one, so ``{account=""}`` selects exactly them.
NO_ACCOUNT: Final = ""


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


class AccountLabel:
    """The ``account`` label: per provider, the first ``limit`` distinct account names, then
    ``other``; a request without an account reads :data:`NO_ACCOUNT` (empty).

    Account names come from the configured pool, so they are few; the cap is per provider
    because each provider has its own pool (and ``provider`` is bounded itself).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._per_provider: dict[str, BoundedLabel] = {}

    def __call__(self, provider: str, account: str | None) -> str:
        """The label value for ``account`` of ``provider`` (a bounded provider label)."""
        if not account:
            return NO_ACCOUNT
        bounded = self._per_provider.get(provider)
        if bounded is None:
            bounded = self._per_provider[provider] = BoundedLabel(self.limit)
        return bounded(account)


def status_class(status_code: int) -> str:
    """``2xx``, ``4xx``, ``5xx`` …; ``other`` for anything outside 100-599 (e.g. no status)."""
    if 100 <= status_code <= 599:
        return f"{status_code // 100}xx"
    return OTHER
