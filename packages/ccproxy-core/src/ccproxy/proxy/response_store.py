"""A bounded memory of recent Responses turns, to expand ``previous_response_id``.

The Codex backend runs with ``store: false``, so it cannot resolve ``previous_response_id``
itself: the proxy remembers each response's input and output items (LRU + TTL) and replaces the
id with the full conversation.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ResponseStore", "StoredTurn"]


@dataclass(frozen=True)
class StoredTurn:
    """The full input of one response (its own history expanded) and the items it produced."""

    input_items: list[dict[str, Any]]
    output_items: list[dict[str, Any]]
    instructions: str | None
    stored_at: float


class ResponseStore:
    """Keeps at most ``max_entries`` turns for ``ttl_seconds`` each."""

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, StoredTurn] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def put(
        self,
        response_id: str,
        input_items: list[dict[str, Any]],
        output_items: list[dict[str, Any]],
        instructions: str | None = None,
    ) -> None:
        """Remember a finished response."""
        self._entries[response_id] = StoredTurn(
            list(input_items), list(output_items), instructions, self._clock()
        )
        self._entries.move_to_end(response_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def get(self, response_id: str) -> StoredTurn | None:
        """The turn of ``response_id`` if it is known and fresh."""
        turn = self._entries.get(response_id)
        if turn is None:
            return None
        if self._clock() - turn.stored_at > self._ttl:
            del self._entries[response_id]
            return None
        self._entries.move_to_end(response_id)
        return turn

    def history(self, response_id: str) -> list[dict[str, Any]] | None:
        """Every item of the conversation up to and including ``response_id``'s output."""
        turn = self.get(response_id)
        if turn is None:
            return None
        return [*turn.input_items, *turn.output_items]
