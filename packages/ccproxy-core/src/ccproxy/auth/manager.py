"""``TokenManager``: the ``oauth.<provider>`` TokenSource over one credential file.

- ``access_token()`` is the hot path: one ``os.stat`` to notice rewrites by other processes, a
  re-read only when the file changed, and a proactive refresh when the token is within
  ``refresh_margin_seconds`` of expiry. It never returns a token known to be expired.
- ``refresh(rejected)`` is single flight per credential: an asyncio lock in the process, the
  shared state's lock across hosts (when ``state.redis_url`` is set) and the file lock across
  processes; under them the file is re-read first, because Claude Code, the Codex CLI or another
  ccproxy may already have rotated it.
- A refresh, once started, finishes even if the request that triggered it is cancelled: refresh
  tokens rotate, and a reply dropped on the floor would strand the stored credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal

from ccproxy.auth.errors import AuthError, CredentialError, TokenEndpointError
from ccproxy.auth.store import CredentialFile, FileStamp, LoopLock
from ccproxy.auth.tokens import (
    CredentialFormat,
    Credentials,
    RefreshClient,
    TokenReply,
    credentials_from_reply,
)
from ccproxy.hooks import AuthFailed, AuthTokenRefreshed
from ccproxy.logging import get_logger
from ccproxy.services import AccountInfo

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger

    from ccproxy.hooks import HookManager

__all__ = ["TokenManager"]

Trigger = Literal["proactive", "rejected", "forced"]
#: ``shared_lock(name)``: a lock every host sharing the state agrees on (see ``SharedState.lock``).
SharedLock = Callable[[str], AbstractAsyncContextManager[None]]


class TokenManager:
    """Access tokens for one provider credential, refreshed single-flight.

    ``file``/``credential_format`` say where and how the credential is stored, ``refresh_client`` how to
    refresh it. ``static_token`` (e.g. ``CLAUDE_CODE_OAUTH_TOKEN``) wins over the file and is
    never refreshed; ``static_source`` names where it came from (``"env"`` or ``"static"``).
    ``clock`` returns epoch seconds (tests inject one). With ``hooks``, a refresh emits
    ``AUTH_TOKEN_REFRESHED`` and a failure ``AUTH_FAILED``, neither carrying a token.
    ``account`` names the credential among the provider's accounts (logs, lock names);
    ``shared_lock`` serialises refreshes of it across hosts.
    """

    def __init__(
        self,
        file: CredentialFile,
        credential_format: CredentialFormat,
        refresh_client: RefreshClient,
        *,
        provider: str,
        refresh_margin_seconds: float = 300.0,
        hooks: HookManager | None = None,
        clock: Callable[[], float] = time.time,
        static_token: str | None = None,
        static_source: str = "static",
        retry_after_failure_seconds: float = 30.0,
        logger: BoundLogger | None = None,
        account: str = "default",
        shared_lock: SharedLock | None = None,
        refresh_deadline_seconds: float = 60.0,
    ) -> None:
        self.file = file
        #: Under ``shared_lock``, the token call gives up after this long (keep it well under the
        #: lock's lease).
        self.refresh_deadline_seconds = refresh_deadline_seconds
        self.provider = provider
        self.account_name = account
        self._shared_lock = shared_lock
        self.refresh_margin_seconds = refresh_margin_seconds
        self._format = credential_format
        self._client = refresh_client
        self._hooks = hooks
        self._clock = clock
        self._static = static_token or None
        self._static_source = static_source
        self._retry_delay = retry_after_failure_seconds
        self._log = (logger or get_logger("ccproxy.auth", provider=provider)).bind(account=account)
        self._lock = LoopLock()
        self._creds: Credentials | None = None
        self._stamp: FileStamp | None = None
        self._retry_at = 0.0  # no proactive refresh before this (epoch s) after a failure
        self._flights: set[asyncio.Task[str]] = set()

    def __repr__(self) -> str:
        return (
            f"TokenManager(provider={self.provider!r}, account={self.account_name!r}, "
            f"source={self.source!r})"
        )

    @property
    def source(self) -> str:
        """``file:<path>``, or ``static_source`` when a static token is configured."""
        return self._static_source if self._static is not None else f"file:{self.file.path}"

    @property
    def is_static(self) -> bool:
        """Whether a configured long-lived token stands in for the file."""
        return self._static is not None

    @property
    def login_hint(self) -> str:
        """What to tell a person whose credential is unusable."""
        account = "" if self.account_name == "default" else f" --account {self.account_name}"
        return f"run `ccproxy auth login {self.provider}{account}`"

    # TokenSource -----------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access token, refreshed first when within the margin of its expiry.

        If a proactive refresh fails while the token is still valid, that token is returned (and
        a warning logged; no new attempt for ``retry_after_failure_seconds``). Raises
        :class:`CredentialError` when there are no credentials, or the token has expired and
        could not be refreshed.
        """
        if self._static is not None:
            return self._static
        try:
            creds = self._current()
            if creds is None:
                raise CredentialError(
                    f"no {self.provider} credentials in {self.file.path}; {self.login_hint}"
                )
        except CredentialError as exc:
            await self._emit_failed(str(exc))
            raise
        now = self._clock()
        if not creds.expires_within(now, self.refresh_margin_seconds):
            return creds.access_token
        if not creds.is_expired(now) and (creds.refresh_token is None or now < self._retry_at):
            return creds.access_token
        try:
            return await self._run_flight(creds.access_token, "proactive")
        except AuthError as exc:
            latest = self._creds or creds
            if not latest.is_expired(self._clock()):
                self._retry_at = self._clock() + self._retry_delay
                self._log.warning(
                    "token_refresh_failed_using_current",
                    error=str(exc),
                    seconds_left=_seconds(latest.seconds_left(self._clock())),
                )
                await self._emit_failed(str(exc))
                return latest.access_token
            raise await self._failure(exc, expired=True) from None

    async def refresh(self, rejected: str | None = None) -> str:
        """Refresh if ``rejected`` is still the current token; return the current token.

        ``rejected`` is the token an upstream refused. When the file (re-read under the locks)
        already holds a different, unexpired token, that one is returned without calling the
        token endpoint. ``None`` forces a refresh (``ccproxy auth refresh``). A static token is
        returned unchanged. Raises :class:`CredentialError` (with the login hint) on failure.
        """
        if self._static is not None:
            return self._static
        try:
            return await self._run_flight(rejected, "rejected" if rejected else "forced")
        except AuthError as exc:
            raise await self._failure(exc, expired=False) from None

    def account(self) -> AccountInfo:
        """Whose credential this is (no secret); unknown fields are ``None``."""
        creds = None if self._static is not None else self._readable()
        if creds is None:
            return AccountInfo(id=None, source=self.source)
        return AccountInfo(
            id=creds.account_id, plan=creds.plan, expires_at=creds.expires_at, source=self.source
        )

    # for the CLI and health checks -----------------------------------------------------------

    def has_credentials(self) -> bool:
        """Whether a token is configured or the file holds one (expired or not)."""
        return self._static is not None or self._readable() is not None

    def status(self) -> dict[str, Any]:
        """Facts for ``ccproxy auth status`` and health output; never a token."""
        info: dict[str, Any] = {
            "provider": self.provider,
            "source": self.source,
            "path": None if self._static is not None else str(self.file.path),
        }
        if self._static is not None:
            info.update(has_credentials=True, refreshable=False, expires_at=None)
            return info
        try:
            creds = self._current()
        except CredentialError as exc:
            info.update(has_credentials=False, error=str(exc))
            return info
        if creds is None:
            info.update(has_credentials=False, hint=self.login_hint)
            return info
        now = self._clock()
        info.update(
            has_credentials=True,
            account_id=creds.account_id,
            plan=creds.plan,
            scopes=list(creds.scopes),
            expires_at=creds.expires_at.isoformat() if creds.expires_at else None,
            expires_in_seconds=_seconds(creds.seconds_left(now)),
            expired=creds.is_expired(now),
            refreshable=creds.refresh_token is not None,
        )
        return info

    async def store_login(
        self, reply: TokenReply, *, account_id: str | None = None, plan: str | None = None
    ) -> AccountInfo:
        """Persist the tokens of a fresh login (``ccproxy auth login``).

        Creates the file (0600) and its directory (0700) when missing and keeps the file's
        unknown keys. ``account_id``/``plan`` override what the format derives.
        """
        new = credentials_from_reply(reply, now=self._clock(), account_id=account_id, plan=plan)
        async with self._lock.get():
            written = await self.file.update(lambda data: self._format.dump(new, data))
            self._remember(written, new)
        self._retry_at = 0.0
        self._log.info("credentials_stored", path=str(self.file.path), account_id=new.account_id)
        return self.account()

    # internals -------------------------------------------------------------------------------

    def _current(self) -> Credentials | None:
        """The cached credentials, re-read when the file's stamp changed."""
        stamp = self.file.stamp()
        if stamp is None:
            self._creds, self._stamp = None, None
            return None
        if stamp == self._stamp:
            return self._creds
        try:
            return self._reload(stamp)
        except CredentialError as exc:
            # Another program may be mid-write without an atomic rename: keep serving what we
            # had while it is still valid, and re-read on the next call.
            cached = self._creds
            if cached is not None and not cached.is_expired(self._clock()):
                self._log.warning("credential_file_unreadable_using_cached", error=str(exc))
                return cached
            raise

    def _readable(self) -> Credentials | None:
        """:meth:`_current`, with an unreadable file as no credentials."""
        try:
            return self._current()
        except CredentialError:
            return None

    def _reload(self, stamp: FileStamp | None) -> Credentials | None:
        data = self.file.read()
        self._creds = self._format.load(data) if data is not None else None
        self._stamp = stamp
        return self._creds

    def _remember(self, written: dict[str, Any], fallback: Credentials) -> Credentials:
        self._creds = self._format.load(written) or fallback
        self._stamp = self.file.stamp()
        return self._creds

    async def _run_flight(self, rejected: str | None, trigger: Trigger) -> str:
        # Shielded: a cancelled caller must not abandon a refresh whose reply rotates tokens.
        task = asyncio.ensure_future(self._flight(rejected, trigger))
        self._flights.add(task)
        task.add_done_callback(self._flight_done)
        return await asyncio.shield(task)

    def _flight_done(self, task: asyncio.Task[str]) -> None:
        self._flights.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be awaiting a shielded flight any more

    async def _flight(self, rejected: str | None, trigger: Trigger) -> str:
        async with self._lock.get(), self._across_hosts(), self.file.lock():
            creds = self._reload(self.file.stamp())
            if creds is None:
                raise CredentialError(f"no {self.provider} credentials in {self.file.path}")
            now = self._clock()
            usable = (
                not creds.expires_within(now, self.refresh_margin_seconds)
                if trigger == "proactive"
                else not creds.is_expired(now)
            )
            if rejected is not None and creds.access_token != rejected and usable:
                self._log.info("token_already_rotated", trigger=trigger)
                return creds.access_token
            if creds.refresh_token is None:
                raise CredentialError(
                    f"the {self.provider} credential in {self.file.path} has no refresh token"
                )
            reply = await self._refresh_within_lease(creds.refresh_token)
            new = credentials_from_reply(reply, now=self._clock(), previous=creds)
            try:
                written = await self.file.update(lambda data: self._format.dump(new, data))
            except OSError as exc:
                # The server has rotated the refresh token already: keep the new tokens in this
                # process (requests go on) and say plainly that the file is behind.
                self._creds, self._stamp = new, self.file.stamp()
                reason = exc.strerror or type(exc).__name__
                self._log.error(
                    "refreshed_tokens_not_saved", path=str(self.file.path), error=reason
                )
                raise CredentialError(
                    f"refreshed {self.provider} tokens could not be saved to {self.file.path}: "
                    f"{reason}",
                    lasting=False,
                ) from None
            current = self._remember(written, new)
        self._retry_at = 0.0
        self._log.info(
            "token_refreshed",
            trigger=trigger,
            account_id=current.account_id,
            expires_in_seconds=_seconds(current.seconds_left(self._clock())),
        )
        if self._hooks is not None:
            await self._hooks.emit(
                AuthTokenRefreshed(
                    provider=self.provider,
                    account_id=current.account_id,
                    expires_at=current.expires_at,
                    trigger=trigger,
                )
            )
        return current.access_token

    async def _refresh_within_lease(self, refresh_token: str) -> TokenReply:
        """The token call; under a cross-host lock, bounded so that it ends before the lease
        does (else another host could take the lock and spend the same refresh token)."""
        if self._shared_lock is None:
            return await self._client.refresh(refresh_token)
        try:
            async with asyncio.timeout(self.refresh_deadline_seconds):
                return await self._client.refresh(refresh_token)
        except TimeoutError:
            raise TokenEndpointError(
                None, None, reason=f"no answer within {self.refresh_deadline_seconds:g}s"
            ) from None

    @contextlib.asynccontextmanager
    async def _across_hosts(self) -> AsyncIterator[None]:
        if self._shared_lock is None:
            yield
            return
        name = f"refresh:{self.provider}:{self.account_name}"
        try:
            held = self._shared_lock(name)
            await held.__aenter__()
        except Exception as exc:
            # Refreshing without it could spend a refresh token another host is rotating.
            raise CredentialError(
                f"the shared refresh lock of {self.provider} account {self.account_name!r} "
                f"could not be taken ({type(exc).__name__})",
                lasting=False,
            ) from None
        try:
            yield
        finally:
            try:
                await held.__aexit__(None, None, None)
            except Exception as exc:
                # The refresh is done and saved; the lease frees the lock when it runs out.
                self._log.warning("shared_refresh_lock_not_released", error=type(exc).__name__)

    async def _failure(self, exc: AuthError, *, expired: bool) -> CredentialError:
        """Log, emit ``AUTH_FAILED`` and build the error for a refresh that failed."""
        what = "expired and could not be refreshed" if expired else "could not be refreshed"
        message = f"{self.provider} access token {what}: {exc}; {self.login_hint}"
        fields: dict[str, Any] = {"error": str(exc)}
        lasting = exc.lasting if isinstance(exc, CredentialError) else True
        if isinstance(exc, TokenEndpointError):
            fields.update(status=exc.status, error_code=exc.error_code)
            lasting = exc.needs_login
        self._log.warning("token_refresh_failed", **fields)
        await self._emit_failed(message)
        return CredentialError(message, lasting=lasting)

    async def _emit_failed(self, message: str) -> None:
        if self._hooks is not None:
            await self._hooks.emit(
                AuthFailed(provider=self.provider, error=message, source=self.source)
            )


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)
