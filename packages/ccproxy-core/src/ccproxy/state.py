"""State that several ccproxy processes must agree on: kept in this process, or in Redis.

Without ``state.redis_url`` everything lives in the process (as a single instance needs). With
it, every process and host pointed at the same Redis sees the same keys, and a lock taken by one
holds for all (redis-py's lock: a key with a lease, released by its owner only).

Values are bytes with a time to live; nothing is kept forever. Redis errors surface as
:class:`StateUnavailable`, whose message names the server but never its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "LocalState",
    "RedisState",
    "SharedState",
    "StateUnavailable",
    "build_shared_state",
    "redacted_url",
]


class StateUnavailable(Exception):
    """The shared state could not be read or written (Redis unreachable, a lock not acquired)."""


@runtime_checkable
class SharedState(Protocol):
    """Keys with a time to live, and named locks, shared by every process that uses the store.

    ``shared`` tells whether other processes see the same state (True for Redis).
    """

    shared: bool

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None when it is absent or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is absent)."""
        ...

    def lock(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        """Hold the lock ``name`` for the ``async with`` block.

        Waits at most ``wait_seconds`` for it (then :class:`StateUnavailable`); the lease makes a
        crashed holder's lock expire after ``lease_seconds``.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class LocalState:
    """The state of one process: a bounded map with expiry and asyncio locks."""

    shared = False

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires_at = found
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        return value

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        self._entries[key] = (value, self._clock() + ttl_seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    @asynccontextmanager
    async def lock(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            async with asyncio.timeout(wait_seconds):
                await lock.acquire()
        except TimeoutError:
            raise StateUnavailable(f"lock {name!r} not acquired within {wait_seconds:g}s") from None
        try:
            yield
        finally:
            lock.release()
            if not lock.locked() and self._locks.get(name) is lock:
                del self._locks[name]

    async def aclose(self) -> None:
        self._entries.clear()


class RedisState:
    """State in a Redis server, under ``key_prefix``, through redis-py's asyncio client."""

    shared = True

    def __init__(self, url: str, *, key_prefix: str = "ccproxy:", timeout_seconds: float = 5.0):
        from redis.asyncio import Redis

        self._where = redacted_url(url)
        self._prefix = key_prefix
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            health_check_interval=30,
        )

    def __repr__(self) -> str:
        return f"RedisState({self._where!r})"

    async def ping(self) -> None:
        """Raise :class:`StateUnavailable` unless the server answers."""
        await self._call(self._client.ping())

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._client.get(self._prefix + key))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        milliseconds = max(1, round(ttl_seconds * 1000))
        await self._call(self._client.set(self._prefix + key, value, px=milliseconds))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete(self._prefix + key))

    @asynccontextmanager
    async def lock(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AsyncIterator[None]:
        from redis.exceptions import LockError, RedisError

        lock = self._client.lock(
            f"{self._prefix}lock:{name}",
            timeout=lease_seconds,
            blocking_timeout=wait_seconds,
            thread_local=False,
        )
        acquired = await self._call(lock.acquire())
        if not acquired:
            raise StateUnavailable(f"lock {name!r} not acquired within {wait_seconds:g}s")
        try:
            yield
        finally:
            # LockError: the lease ran out first, and the next holder already owns the lock;
            # RedisError: Redis went away, and the lease frees the lock when it runs out.
            with contextlib.suppress(LockError, RedisError):
                await lock.release()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, pending: Awaitable[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            return await pending
        except RedisError as exc:
            raise StateUnavailable(f"Redis at {self._where}: {type(exc).__name__}: {exc}") from None


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, errors and status)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def build_shared_state(redis_url: str | None, *, key_prefix: str = "ccproxy:") -> SharedState:
    """Redis when ``redis_url`` is set, else this process's own state."""
    if redis_url:
        return RedisState(redis_url, key_prefix=key_prefix)
    return LocalState()
