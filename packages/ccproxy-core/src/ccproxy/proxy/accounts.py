"""Choosing one of a provider's accounts for each request.

A conversation stays on one account while that account is ready (its prompt cache is warm
there); a ``previous_response_id`` always goes to the account that produced it (its encrypted
reasoning belongs to that account). New conversations spread over the ready accounts
(``round_robin``) or fill one before the next (``fill_first``). An account that answered 429
cools down until its window resets; one whose credential cannot be used is ``invalid`` until its
token source changes (its file was re-read). Cooldowns, pins and the response map live in the
shared state, so every instance on the same Redis agrees on them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ccproxy.logging import get_logger
from ccproxy.proxy.rate_windows import cooldown_seconds, served_from_overage

if TYPE_CHECKING:
    from ccproxy.services import TokenSource
    from ccproxy.state import SharedState

__all__ = [
    "DEFAULT_ACCOUNT",
    "AccountChoice",
    "AccountPool",
    "AccountState",
    "AccountStrategy",
    "AllAccountsCoolingDown",
    "NoUsableAccount",
    "affinity_key",
    "ordered_names",
]

AccountStrategy = Literal["round_robin", "fill_first"]
AccountState = Literal["ready", "cooling_down", "invalid"]

_log = get_logger("ccproxy.accounts")

#: The account backed by the provider CLI's own credential file sorts first.
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class AccountChoice:
    """The account chosen for one upstream attempt."""

    name: str
    source: TokenSource


class AllAccountsCoolingDown(Exception):
    """Every usable account is cooling down; ``retry_after`` is seconds to the earliest reset."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"every account is cooling down for {retry_after:.0f}s more")
        self.retry_after = retry_after


class NoUsableAccount(Exception):
    """No account is left: none configured, or every one is invalid."""


@runtime_checkable
class _DescribesCredential(Protocol):
    def status(self) -> dict[str, Any]: ...


def ordered_names(accounts: Collection[str]) -> list[str]:
    """``default`` first, then the others by name: the order ``fill_first`` fills."""
    return sorted(accounts, key=lambda name: (name != DEFAULT_ACCOUNT, name))


class AccountPool:
    """The account state of one provider; see the module docstring for the rules."""

    def __init__(
        self,
        provider: str,
        state: SharedState,
        *,
        strategy: AccountStrategy = "round_robin",
        allow_overage: bool = False,
        pin_ttl_seconds: float = 6 * 3600.0,
        response_ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.strategy = strategy
        self.allow_overage = allow_overage
        self._state = state
        self._pin_ttl = pin_ttl_seconds
        self._response_ttl = response_ttl_seconds
        self._clock = clock
        self._turn = itertools.count()
        # Per process: an invalid credential is this process's token source, re-read on change.
        self._invalid: dict[str, tuple[int, str]] = {}
        self._windows: dict[str, tuple[dict[str, str], float]] = {}

    # --- choosing ----------------------------------------------------------------------------

    async def choose(
        self,
        accounts: Mapping[str, TokenSource],
        *,
        affinity: str | None = None,
        previous_response_id: str | None = None,
        exclude: Collection[str] = (),
    ) -> AccountChoice:
        """The account for the next attempt (raises when none may be used now)."""
        self._forget_replaced(accounts)
        usable = [
            name
            for name in ordered_names(accounts)
            if name not in self._invalid and name not in exclude
        ]
        if previous_response_id:
            owner = await self._get(f"response:{previous_response_id}")
            if owner is not None and owner in accounts and owner not in self._invalid:
                # Its encrypted reasoning belongs to the owner: no other account can continue.
                until = await self._cooldown_until(owner)
                if until is not None:
                    raise AllAccountsCoolingDown(until - self._clock())
                if owner in exclude:
                    raise NoUsableAccount(f"{self.provider} account {owner!r} already refused")
                return AccountChoice(owner, accounts[owner])
        cooling = {name: until for name in usable if (until := await self._cooldown_until(name))}
        ready = [name for name in usable if name not in cooling]
        if not ready:
            if cooling:
                raise AllAccountsCoolingDown(min(cooling.values()) - self._clock())
            raise NoUsableAccount(f"no usable {self.provider} account")
        if affinity:
            pin_key = f"pin:{_digest(affinity)}"
            pinned = await self._get(pin_key)
            name = pinned if pinned in ready else self._pick(ready)
            await self._set(pin_key, name, self._pin_ttl)
        else:
            name = self._pick(ready)
        return AccountChoice(name, accounts[name])

    def _pick(self, ready: list[str]) -> str:
        if self.strategy == "fill_first":
            return ready[0]
        return ready[next(self._turn) % len(ready)]

    # --- what the upstream said --------------------------------------------------------------

    async def cool_down(self, name: str, seconds: float, reason: str) -> None:
        """Rest ``name`` for ``seconds`` (every instance sharing the state sees it)."""
        until = self._clock() + seconds
        value = json.dumps({"until": until, "reason": reason})
        await self._write(f"cooldown:{name}", value, seconds)

    async def observe(self, name: str, headers: Mapping[str, str]) -> bool:
        """Keep the windows ``name``'s answer announced; True (and ``name`` cooled down until
        its window resets) when it was served from paid overage that is not allowed."""
        self.note_windows(name, {k.lower(): v for k, v in headers.items() if _is_window_header(k)})
        if self.allow_overage or not served_from_overage(headers):
            return False
        seconds = cooldown_seconds({**headers, "anthropic-ratelimit-unified-status": "rejected"})
        await self.cool_down(name, seconds, "served from paid overage")
        return True

    def note_windows(self, name: str, windows: Mapping[str, str]) -> None:
        """Keep the rate-limit windows an answer for ``name`` announced (nothing is copied)."""
        if windows:
            self._windows[name] = (dict(windows), self._clock())

    def mark_invalid(self, name: str, source: TokenSource, reason: str) -> None:
        """Skip ``name`` until its token source is replaced (its credential file changed)."""
        self._invalid[name] = (id(source), reason)

    async def remember_response(self, response_id: str, name: str) -> None:
        """``previous_response_id`` = ``response_id`` will go to ``name``."""
        await self._set(f"response:{response_id}", name, self._response_ttl)

    # --- reporting ---------------------------------------------------------------------------

    async def describe(self, accounts: Mapping[str, TokenSource]) -> list[dict[str, Any]]:
        """``GET /api/accounts`` rows: name, state, cooldown, the last windows seen and the
        credential's facts when its source tells them (file, plan, expiry; never a token)."""
        self._forget_replaced(accounts)
        rows = []
        for name in ordered_names(accounts):
            cooldown = await self._cooldown(name)
            state: AccountState = "ready"
            reason = None
            if name in self._invalid:
                state, reason = "invalid", self._invalid[name][1]
            elif cooldown is not None:
                state, reason = "cooling_down", cooldown["reason"]
            windows, seen = self._windows.get(name, ({}, None))
            source = accounts[name]
            credentials = source.status() if isinstance(source, _DescribesCredential) else None
            rows.append(
                {
                    "name": name,
                    "state": state,
                    "reason": reason,
                    "cooldown_until": None if cooldown is None else _iso(cooldown["until"]),
                    "windows": dict(windows),
                    "windows_seen_at": None if seen is None else _iso(seen),
                    "credentials": credentials,
                }
            )
        return rows

    # --- state ---------------------------------------------------------------------------------

    def _forget_replaced(self, accounts: Mapping[str, TokenSource]) -> None:
        for name, (source_id, _) in list(self._invalid.items()):
            if name not in accounts or id(accounts[name]) != source_id:
                del self._invalid[name]

    async def _cooldown(self, name: str) -> dict[str, Any] | None:
        raw = await self._state.get(self._key(f"cooldown:{name}"))
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value if float(value["until"]) > self._clock() else None

    async def _cooldown_until(self, name: str) -> float | None:
        cooldown = await self._cooldown(name)
        return None if cooldown is None else float(cooldown["until"])

    async def _get(self, key: str) -> str | None:
        raw = await self._state.get(self._key(key))
        return None if raw is None else raw.decode()

    async def _set(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._write(key, value, ttl_seconds)

    async def _write(self, key: str, value: str, ttl_seconds: float) -> None:
        """Best effort: an answer already on its way is not failed because Redis is away (the
        next read of the state answers 503 until it is back)."""
        from ccproxy.state import StateUnavailable

        try:
            await self._state.set(self._key(key), value.encode(), ttl_seconds=ttl_seconds)
        except StateUnavailable as exc:
            _log.warning("account_state_not_written", provider=self.provider, error=str(exc))

    def _key(self, key: str) -> str:
        return f"accounts:{self.provider}:{key}"


def affinity_key(
    client_format: str, body: Mapping[str, Any], headers: Mapping[str, str]
) -> str | None:
    """What names a conversation in a passthrough body: Claude Code's session (the session part
    of ``metadata.user_id``, or ``x-claude-code-session-id``); for Responses, ``prompt_cache_key``
    or the ``session_id`` header. None when the request names no conversation."""
    if client_format == "anthropic":
        metadata = body.get("metadata")
        user_id = metadata.get("user_id") if isinstance(metadata, Mapping) else None
        if isinstance(user_id, str) and "_session_" in user_id:
            return "session:" + user_id.rsplit("_session_", 1)[1]
        session = headers.get("x-claude-code-session-id")
        return f"session:{session}" if session else None
    if client_format == "responses":
        key = body.get("prompt_cache_key")
        if isinstance(key, str) and key:
            return key
        return headers.get("session_id") or headers.get("session-id") or None
    return None


def _is_window_header(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(("anthropic-ratelimit-unified-", "x-codex-")) or lower == "retry-after"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()[:32]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
