"""The token ledger behind the OAuth fakes: what was issued, what still works, and why not."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AuthorizationCode",
    "IssuedToken",
    "TokenLedger",
    "TokenStatus",
    "decode_jwt_claims",
    "make_jwt",
    "pkce_challenge",
    "pkce_pair",
]

TokenStatus = Literal["valid", "expired", "revoked", "used", "unknown"]

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: base64url(sha256(verifier)), no padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` pair."""
    verifier = _b64url(secrets.token_bytes(48))
    return verifier, pkce_challenge(verifier)


def valid_verifier(verifier: str) -> bool:
    """RFC 7636: 43 to 128 characters from the unreserved set."""
    return bool(_VERIFIER.match(verifier))


def make_jwt(claims: dict[str, Any]) -> str:
    """An unsigned (``alg: none``) JWT carrying ``claims``."""
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}."


def decode_jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, without checking any signature; ``None`` if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class IssuedToken:
    """One token a fake issued. ``expires_at`` is in seconds since the epoch (``None``: never)."""

    value: str
    kind: Literal["access", "refresh", "id"]
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float | None
    account_id: str | None = None
    revoked: bool = False
    used: bool = False  # a refresh token that was rotated away


@dataclass
class AuthorizationCode:
    """A code the fake issued, waiting for its exchange."""

    code: str
    code_challenge: str
    code_challenge_method: str
    state: str | None
    redirect_uri: str | None
    scopes: tuple[str, ...]
    account_id: str | None
    used: bool = False


@dataclass
class TokenLedger:
    """Tokens by value, with the clock that decides expiry."""

    clock: Callable[[], float]
    tokens: dict[str, IssuedToken] = field(default_factory=dict)

    def add(self, token: IssuedToken) -> IssuedToken:
        self.tokens[token.value] = token
        return token

    def status(self, value: str, kind: str | None = None) -> TokenStatus:
        token = self.tokens.get(value)
        if token is None or (kind is not None and token.kind != kind):
            return "unknown"
        if token.revoked:
            return "revoked"
        if token.used:
            return "used"
        if token.expires_at is not None and token.expires_at <= self.clock():
            return "expired"
        return "valid"

    def get(self, value: str) -> IssuedToken:
        try:
            return self.tokens[value]
        except KeyError:
            raise KeyError("the fake did not issue this token") from None

    def valid(self, kind: str) -> set[str]:
        return {v for v, t in self.tokens.items() if t.kind == kind and self.status(v) == "valid"}
