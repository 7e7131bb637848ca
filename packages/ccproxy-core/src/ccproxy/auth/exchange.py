"""A token source whose token is exchanged for the stored one (a derived, short-lived token).

Some providers' APIs do not take the token a login stores: the stored (long-lived) token only
buys short-lived API tokens at the provider's own endpoint. :class:`ExchangedTokenSource` wraps
the credential file's :class:`~ccproxy.auth.TokenManager` (the *grant*) and a provider's
:class:`TokenExchange`:

- the exchanged token lives in memory only (never written to disk) and is exchanged again after
  the provider's ``refresh_after_seconds``, ``refresh_margin_seconds`` before its expiry, or when
  the stored token changed (another login rewrote the file);
- exchanges are single flight: concurrent callers wait for the one running exchange, which
  finishes even when the caller that started it is cancelled;
- ``refresh(rejected)`` exchanges again only when ``rejected`` is still the current token;
- a grant the exchange refuses is a lasting failure (the account becomes invalid), an
  unreachable or failing endpoint a passing one (``CredentialError(lasting=False)``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ccproxy.auth.errors import AuthError, CredentialError
from ccproxy.auth.store import LoopLock
from ccproxy.hooks import AuthFailed
from ccproxy.logging import get_logger
from ccproxy.services import AccountInfo

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.auth.manager import TokenManager
    from ccproxy.auth.store import CredentialFile
    from ccproxy.hooks import HookManager

__all__ = ["ExchangedToken", "ExchangedTokenSource", "TokenExchange"]


@dataclass(frozen=True, repr=False)
class ExchangedToken:
    """What one exchange yields. ``repr`` hides the token.

    ``expires_at`` is aware UTC (``None``: unknown); ``refresh_after_seconds`` is how long after
    it arrived the provider wants it exchanged again. ``account_id``, ``plan`` and ``api_base``
    become the source's :class:`~ccproxy.services.AccountInfo`; ``facts`` (non-secret) go into
    its ``status()``.
    """

    token: str
    expires_at: datetime | None = None
    refresh_after_seconds: float | None = None
    account_id: str | None = None
    plan: str | None = None
    api_base: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __repr__(self) -> str:
        expires = self.expires_at.isoformat() if self.expires_at else None
        return (
            f"ExchangedToken(token='<hidden>', expires_at={expires!r}, "
            f"account_id={self.account_id!r}, plan={self.plan!r}, api_base={self.api_base!r})"
        )

    __str__ = __repr__


@runtime_checkable
class TokenExchange(Protocol):
    """A provider's exchange of the stored token (the grant) for a short-lived API token."""

    async def exchange(self, grant: str) -> ExchangedToken:
        """The token ``grant`` buys now.

        Raises :class:`~ccproxy.auth.CredentialError`: ``lasting=True`` when the grant itself was
        refused (logging in again is the fix), ``lasting=False`` when trying later may work.
        The message names no secret.
        """
        ...


@dataclass(frozen=True)
class _Held:
    token: ExchangedToken
    grant: str
    obtained_at: float
    refresh_at: float | None

    def expired(self, now: float) -> bool:
        expires = self.token.expires_at
        return expires is not None and expires.timestamp() <= now

    def due(self, now: float) -> bool:
        return self.expired(now) or (self.refresh_at is not None and now >= self.refresh_at)


class ExchangedTokenSource:
    """The ``TokenSource`` of one account whose API token is exchanged for the stored one.

    ``grant`` manages the credential file (and refreshes the stored token when it can);
    ``exchange`` buys the API token. ``clock`` returns epoch seconds (tests inject one).
    :meth:`account` is complete once :meth:`access_token` has returned.
    """

    def __init__(
        self,
        grant: TokenManager,
        exchange: TokenExchange,
        *,
        refresh_margin_seconds: float = 180.0,
        retry_after_failure_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        hooks: HookManager | None = None,
        logger: BoundLogger | None = None,
    ) -> None:
        self.grant = grant
        self.exchange = exchange
        self.refresh_margin_seconds = refresh_margin_seconds
        self._clock = clock
        self._hooks = hooks
        base = logger or get_logger("ccproxy.auth", provider=grant.provider)
        self._log = base.bind(account=grant.account_name)
        self._held: _Held | None = None
        self._flight: asyncio.Task[_Held] | None = None
        self._lock = LoopLock()
        self._last_error: CredentialError | None = None
        self._exchanges = 0
        self._retry_delay = retry_after_failure_seconds
        # After a passing failure while the held token is still valid: no new exchange before
        # this (epoch s), so a failing endpoint is not asked once per request.
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return (
            f"ExchangedTokenSource(provider={self.provider!r}, account={self.account_name!r}, "
            f"source={self.source!r})"
        )

    # what the stored credential says ---------------------------------------------------------

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.grant.provider

    @property
    def account_name(self) -> str:
        """The account's name among the provider's accounts."""
        return self.grant.account_name

    @property
    def file(self) -> CredentialFile:
        """The stored credential's file."""
        return self.grant.file

    @property
    def source(self) -> str:
        """Where the stored credential comes from (``file:<path>``)."""
        return self.grant.source

    @property
    def is_static(self) -> bool:
        """Whether a configured long-lived token stands in for the file."""
        return self.grant.is_static

    @property
    def login_hint(self) -> str:
        """What to tell a person whose credential is unusable."""
        return self.grant.login_hint

    @property
    def exchange_count(self) -> int:
        """How many exchanges this source has run (successful or not)."""
        return self._exchanges

    def has_credentials(self) -> bool:
        """Whether a stored token is there to exchange."""
        return self.grant.has_credentials()

    # TokenSource -----------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid exchanged token, exchanged first when due.

        When a due exchange fails for a passing reason while the held token is still valid,
        that token is returned (and the failure logged).
        """
        grant = await self.grant.access_token()
        held = self._held
        now = self._clock()
        resting = now < self._retry_at  # a passing failure just now: keep the held token
        if (
            held is not None
            and held.grant == grant
            and (not held.due(now) or (resting and not held.expired(now)))
        ):
            return held.token.token
        try:
            return (await self._run_flight()).token.token
        except CredentialError as exc:
            held = self._held
            if (
                not exc.lasting
                and held is not None
                and held.grant == grant
                and not held.expired(self._clock())
            ):
                self._retry_at = self._clock() + self._retry_delay
                self._log.warning("token_exchange_failed_using_current", error=str(exc))
                return held.token.token
            raise

    async def refresh(self, rejected: str | None = None) -> str:
        """Exchange again if ``rejected`` is still the current token (``None``: always).

        A token exchanged since ``rejected`` was handed out is returned without a new exchange.
        """
        held = self._held
        if (
            rejected is not None
            and held is not None
            and held.token.token != rejected
            and not held.expired(self._clock())
        ):
            return held.token.token
        return (await self._run_flight(join=rejected is not None)).token.token

    def account(self) -> AccountInfo:
        """The stored credential's account, completed with what the last exchange said."""
        base = self.grant.account()
        held = self._held
        if held is None:
            return base
        token = held.token
        return AccountInfo(
            id=token.account_id or base.id,
            plan=token.plan or base.plan,
            expires_at=token.expires_at,
            source=base.source,
            api_base=token.api_base,
        )

    # for the CLI and health checks -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The stored credential's facts plus the exchanged token's (``exchanged``); never a token."""
        facts = self.grant.status()
        held, now = self._held, self._clock()
        exchanged: dict[str, Any] = {"exchanges": self._exchanges}
        if held is not None:
            token = held.token
            left = None if token.expires_at is None else token.expires_at.timestamp() - now
            exchanged.update(token.facts)  # the provider's facts; ours win on a shared key
            exchanged.update(
                obtained_at=_iso(held.obtained_at),
                expires_at=token.expires_at.isoformat() if token.expires_at else None,
                expires_in_seconds=None if left is None else int(left),
                refresh_at=_iso(held.refresh_at),
                api_base=token.api_base,
            )
            facts["account_id"] = token.account_id or facts.get("account_id")
            facts["plan"] = token.plan or facts.get("plan")
        if self._last_error is not None:
            exchanged["error"] = str(self._last_error)
            exchanged["error_lasting"] = self._last_error.lasting
        facts["exchanged"] = exchanged
        return facts

    # internals -------------------------------------------------------------------------------

    async def _run_flight(self, *, join: bool = True) -> _Held:
        # One exchange at a time; shielded: a cancelled caller must not abandon one mid-way.
        async with self._lock.get():
            flight = self._flight
            if flight is None or flight.done() or not join:
                if flight is not None and not flight.done():
                    await asyncio.shield(flight)  # a forced exchange follows the running one
                flight = self._flight = asyncio.ensure_future(self._exchange_now())
                flight.add_done_callback(_retrieve)
        return await asyncio.shield(flight)

    async def _exchange_now(self) -> _Held:
        grant = await self.grant.access_token()
        self._exchanges += 1
        try:
            token = await self.exchange.exchange(grant)
        except AuthError as exc:
            lasting = exc.lasting if isinstance(exc, CredentialError) else True
            hint = f"; {self.login_hint}" if lasting else ""
            error = CredentialError(
                f"{self.provider} token exchange failed: {exc}{hint}", lasting=lasting
            )
            self._last_error = error
            self._log.warning("token_exchange_failed", error=str(exc), lasting=lasting)
            if self._hooks is not None:
                await self._hooks.emit(
                    AuthFailed(provider=self.provider, error=str(error), source=self.source)
                )
            raise error from None
        now = self._clock()
        due: list[float] = []
        if token.refresh_after_seconds is not None:
            due.append(now + max(0.0, token.refresh_after_seconds))
        if token.expires_at is not None:
            due.append(token.expires_at.timestamp() - self.refresh_margin_seconds)
        held = self._held = _Held(token, grant, now, min(due, default=None))
        self._retry_at = 0.0
        self._last_error = None
        self._log.info(
            "token_exchanged",
            account_id=token.account_id,
            expires_at=token.expires_at.isoformat() if token.expires_at else None,
        )
        return held


def _iso(moment: float | None) -> str | None:
    try:
        return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()
    except (OverflowError, OSError, ValueError):  # a refresh_in beyond the calendar
        return None


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: nobody may be awaiting a shielded flight any more
