"""A memory of recent Responses turns, to expand ``previous_response_id``.

The Codex backend runs with ``store: false``, so it cannot resolve ``previous_response_id``
itself: the proxy remembers each response's input and output items (for ``ttl_seconds``) and
replaces the id with the full conversation. In one process the memory is a bounded LRU; with a
shared state (``state.redis_url``) every instance sees every turn, so a conversation may move
between instances behind a load balancer.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccproxy.state import SharedState

__all__ = ["ResponseStore", "StoredTurn"]

_KEY_PREFIX = "responses:"


@dataclass(frozen=True)
class StoredTurn:
    """The full input of one response (its own history expanded) and the items it produced."""

    input_items: list[dict[str, Any]]
    output_items: list[dict[str, Any]]
    instructions: str | None
    stored_at: float


class ResponseStore:
    """Keeps turns for ``ttl_seconds``: at most ``max_entries`` in this process, or in ``state``
    when that state is shared with other processes (where its own TTL bounds it)."""

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        state: SharedState | None = None,
    ) -> None:
        self._entries: OrderedDict[str, StoredTurn] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._shared = state if state is not None and state.shared else None

    def __len__(self) -> int:
        """Turns held in this process (0 when they live in the shared state)."""
        return len(self._entries)

    @property
    def ttl_seconds(self) -> float:
        """How long a response's turn is kept."""
        return self._ttl

    async def put(
        self,
        response_id: str,
        input_items: list[dict[str, Any]],
        output_items: list[dict[str, Any]],
        instructions: str | None = None,
    ) -> None:
        """Remember a finished response."""
        turn = StoredTurn(list(input_items), list(output_items), instructions, self._clock())
        if self._shared is not None:
            value = json.dumps(
                {
                    "input": turn.input_items,
                    "output": turn.output_items,
                    "instructions": instructions,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            await self._shared.set(_KEY_PREFIX + response_id, value, ttl_seconds=self._ttl)
            return
        self._entries[response_id] = turn
        self._entries.move_to_end(response_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get(self, response_id: str) -> StoredTurn | None:
        """The turn of ``response_id`` if it is known and fresh."""
        if self._shared is not None:
            raw = await self._shared.get(_KEY_PREFIX + response_id)
            if raw is None:
                return None
            data = json.loads(raw)
            return StoredTurn(data["input"], data["output"], data["instructions"], self._clock())
        turn = self._entries.get(response_id)
        if turn is None:
            return None
        if self._clock() - turn.stored_at > self._ttl:
            del self._entries[response_id]
            return None
        self._entries.move_to_end(response_id)
        return turn

    async def history(self, response_id: str) -> list[dict[str, Any]] | None:
        """Every item of the conversation up to and including ``response_id``'s output."""
        turn = await self.get(response_id)
        if turn is None:
            return None
        return [*turn.input_items, *turn.output_items]
