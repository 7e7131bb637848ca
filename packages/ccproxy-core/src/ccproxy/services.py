"""Protocols for the well-known services plugins share, so that plugins never import each other.

Register with ``registry.register_service(name, instance, provider_plugin=...)`` and look up with
``registry.get_service(name, Protocol)``, which returns ``None`` when the service is absent or
does not implement the Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AccountInfo",
    "AccountSet",
    "PermissionService",
    "PricingService",
    "TokenSource",
]


@dataclass(frozen=True)
class AccountInfo:
    """Which credential serves a provider; never carries a secret."""

    id: str | None
    plan: str | None = None
    expires_at: datetime | None = None
    source: str = ""
    #: The API base URL this credential must be used with, when the provider hands one out per
    #: account (GitHub Copilot's ``endpoints.api``); ``None``: the provider's configured one.
    api_base: str | None = None


@runtime_checkable
class TokenSource(Protocol):
    """``oauth.<provider>``: hands out access tokens and refreshes them single-flight.

    A failure that may pass (the token endpoint unreachable) raises an exception whose
    ``lasting`` attribute is False (as :class:`ccproxy.auth.CredentialError` does): the proxy
    then answers 503 and rests the account briefly instead of calling it invalid.
    """

    async def access_token(self) -> str:
        """A currently valid access token (refreshed first when close to expiry)."""
        ...

    async def refresh(self, rejected: str | None) -> str:
        """Refresh only if ``rejected`` is still the current token; return the current token."""
        ...

    def account(self) -> AccountInfo:
        """Who the credential belongs to."""
        ...


@runtime_checkable
class AccountSet(Protocol):
    """``oauth.<provider>`` when it holds several accounts: a token source per account name.

    ``default`` is the provider CLI's own credential file. The mapping may change while the
    server runs (accounts added, removed, re-read); a re-read account gets a new token source
    object, which clears an ``invalid`` mark.
    """

    def accounts(self) -> Mapping[str, TokenSource]:
        """The accounts by name, now."""
        ...


@runtime_checkable
class PricingService(Protocol):
    """``pricing``: what a request cost, from its normalised usage."""

    def cost(self, model: str, usage: Any) -> Decimal | None:
        """USD cost of ``usage`` on ``model``; ``None`` when the model is unknown."""
        ...

    def model_info(self, model: str) -> dict[str, Any] | None:
        """Prices and limits known for ``model``; ``None`` when unknown."""
        ...


@runtime_checkable
class PermissionService(Protocol):
    """``permissions``: decides whether a tool call may run."""

    async def check(
        self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None = None
    ) -> dict[str, Any]:
        """``{"behavior": "allow", "updatedInput": {...}}`` or ``{"behavior": "deny", "message": ...}``."""
        ...
