"""Errors of :mod:`ccproxy.auth`. Their messages never contain a token, code or verifier."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "AuthError",
    "CredentialError",
    "RefreshError",
    "TokenEndpointError",
]

# An OAuth error code is a short identifier; anything else (HTML, prose, an echoed body) is not
# repeated in a message, because it could carry what we must never print.
_ERROR_CODE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class AuthError(Exception):
    """Base class of every error raised by :mod:`ccproxy.auth`."""


class CredentialError(AuthError):
    """Credentials are missing, unreadable, or expired and could not be refreshed.

    ``lasting`` is False when trying again later may work (the token endpoint was unreachable
    or busy, a shared lock was not available): the account is then rested, not marked invalid.
    """

    def __init__(self, message: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


class TokenEndpointError(AuthError):
    """The OAuth token endpoint refused a request, answered garbage, or could not be reached.

    ``status`` is the HTTP status (``None`` when no response arrived) and ``error_code`` the OAuth
    ``error`` (or Codex ``error.code``) when the body carried a well-formed one.
    """

    action = "token request"

    def __init__(self, status: int | None, error_code: str | None, *, reason: str = "") -> None:
        self.status = status
        self.error_code = (
            error_code
            if isinstance(error_code, str) and _ERROR_CODE.fullmatch(error_code)
            else None
        )
        answer = "unreachable" if status is None else f"answered HTTP {status}"
        text = f"{self.action} failed: token endpoint {answer}"
        if self.error_code:
            text += f" ({self.error_code})"
        if reason:
            text += f": {reason}"
        super().__init__(text)

    @property
    def needs_login(self) -> bool:
        """True when retrying cannot help: the grant itself was refused (4xx other than 429)."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


class RefreshError(TokenEndpointError):
    """A ``grant_type=refresh_token`` request failed (e.g. a rotated, reused refresh token)."""

    action = "token refresh"
