"""Credentials, token endpoint replies, and the two seams providers fill in.

A provider plugs into :class:`~ccproxy.auth.manager.TokenManager` with a
:class:`CredentialFormat` (how its CLI's file stores tokens) and a :class:`RefreshClient` (how
its token endpoint is called). Neither ``Credentials`` nor ``TokenReply`` ever shows a token in
``repr``/``str``.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from ccproxy.auth.errors import RefreshError, TokenEndpointError

__all__ = [
    "CredentialFormat",
    "Credentials",
    "RefreshClient",
    "TokenReply",
    "credentials_from_reply",
    "decode_jwt_claims",
    "jwt_expiry",
]

# Reply fields that are secrets: kept as attributes, never copied into ``extra``.
_SECRET_REPLY_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})


def decode_jwt_claims(token: str | None) -> dict[str, Any] | None:
    """The payload of a JWT, decoded WITHOUT verifying its signature; ``None`` if not a JWT.

    Only for reading facts the token's owner already trusts (expiry, account id); never for
    authorising anything.
    """
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str | None) -> datetime | None:
    """The ``exp`` claim of a JWT as an aware UTC datetime (``None`` when absent or not a JWT)."""
    claims = decode_jwt_claims(token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _mask(value: str | None) -> str:
    return "None" if value is None else "'<hidden>'"


@dataclass(frozen=True, repr=False)
class Credentials:
    """One OAuth credential as a provider's file holds it.

    ``expires_at`` is aware UTC (``None``: unknown, treated as not expiring); ``extra`` carries
    format-specific, non-secret facts. ``repr`` and ``str`` show no token.
    """

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    account_id: str | None = None
    plan: str | None = None
    id_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def seconds_left(self, now: float) -> float | None:
        """Seconds until expiry at epoch time ``now`` (negative once expired; ``None``: unknown)."""
        return None if self.expires_at is None else self.expires_at.timestamp() - now

    def is_expired(self, now: float) -> bool:
        """Whether the access token is known to be expired at epoch time ``now``."""
        return self.expires_within(now, 0)

    def expires_within(self, now: float, margin: float) -> bool:
        """Whether the access token expires within ``margin`` seconds of ``now`` (or already has)."""
        left = self.seconds_left(now)
        return left is not None and left <= margin

    def __repr__(self) -> str:
        expires = self.expires_at.isoformat() if self.expires_at else None
        return (
            f"Credentials(access_token={_mask(self.access_token)}, "
            f"refresh_token={_mask(self.refresh_token)}, id_token={_mask(self.id_token)}, "
            f"expires_at={expires!r}, scopes={self.scopes!r}, account_id={self.account_id!r}, "
            f"plan={self.plan!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class TokenReply:
    """A successful token endpoint answer (code exchange or refresh). ``repr`` shows no token.

    ``extra`` holds the reply's other, non-secret fields (``token_type``, Claude's ``account``
    and ``organization``, ...).
    """

    access_token: str
    refresh_token: str | None = None
    expires_in: float | None = None
    id_token: str | None = None
    scope: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(
        cls,
        payload: object,
        *,
        status: int = 200,
        error: type[TokenEndpointError] = RefreshError,
    ) -> TokenReply:
        """Parse a token endpoint's JSON body; raises ``error(status, "invalid_response")``."""
        if not isinstance(payload, Mapping):
            raise error(status, "invalid_response", reason="the body is not a JSON object")
        access = payload.get("access_token")
        if not isinstance(access, str) or not access:
            raise error(status, "invalid_response", reason="the reply has no access_token")
        expires_in = payload.get("expires_in")
        try:
            expires = None if expires_in is None else float(expires_in)
        except (TypeError, ValueError, OverflowError):
            expires = None
        return cls(
            access_token=access,
            refresh_token=_optional_str(payload.get("refresh_token")),
            expires_in=expires,
            id_token=_optional_str(payload.get("id_token")),
            scope=_optional_str(payload.get("scope")),
            extra={k: v for k, v in payload.items() if k not in _SECRET_REPLY_FIELDS},
        )

    def __repr__(self) -> str:
        return (
            f"TokenReply(access_token={_mask(self.access_token)}, "
            f"refresh_token={_mask(self.refresh_token)}, id_token={_mask(self.id_token)}, "
            f"expires_in={self.expires_in!r}, scope={self.scope!r})"
        )

    __str__ = __repr__


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def credentials_from_reply(
    reply: TokenReply,
    *,
    now: float,
    previous: Credentials | None = None,
    account_id: str | None = None,
    plan: str | None = None,
) -> Credentials:
    """The credentials a token reply yields, on top of ``previous`` ones.

    Keeps the previous refresh token when the reply has none (not every server rotates), the
    previous scopes when the reply names none, and the previous id token, account and plan unless
    new ones are given. Expiry: ``now + expires_in``, else the access token's JWT ``exp``.
    """
    expires_at: datetime | None = None
    if reply.expires_in is not None:
        # The endpoint has rotated the tokens already: a nonsense expires_in (NaN, beyond the
        # calendar) must not stop them from being saved; it is as if there were none.
        with contextlib.suppress(OverflowError, ValueError, OSError):
            expires_at = datetime.fromtimestamp(now + reply.expires_in, UTC)
    if expires_at is None:
        expires_at = jwt_expiry(reply.access_token)
    prev = previous or Credentials(access_token="")  # nosec B106 # an empty "no previous"
    return Credentials(
        access_token=reply.access_token,
        refresh_token=reply.refresh_token or prev.refresh_token,
        expires_at=expires_at,
        scopes=tuple(reply.scope.split()) if reply.scope else prev.scopes,
        account_id=account_id or prev.account_id,
        plan=plan or prev.plan,
        id_token=reply.id_token or prev.id_token,
        extra=dict(prev.extra),
    )


@runtime_checkable
class CredentialFormat(Protocol):
    """How one provider's CLI stores credentials in its JSON file."""

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """The credentials in the parsed file, or ``None`` when it holds none."""
        ...

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """Write ``creds`` into ``data`` (the parsed file, edited in place: unknown keys stay)."""
        ...


@runtime_checkable
class RefreshClient(Protocol):
    """Calls one provider's token endpoint with ``grant_type=refresh_token``."""

    async def refresh(self, refresh_token: str) -> TokenReply:
        """A fresh token reply; raises :class:`~ccproxy.auth.errors.RefreshError` on failure."""
        ...
