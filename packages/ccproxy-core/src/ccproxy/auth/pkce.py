"""OAuth 2.0 PKCE (RFC 7636, S256), ``state`` values and authorize URLs."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "PKCEPair",
    "build_authorize_url",
    "generate_state",
]

#: RFC 7636 §4.1: the verifier uses the unreserved characters only.
_VERIFIER_ALPHABET: Final = string.ascii_letters + string.digits + "-._~"


@dataclass(frozen=True, repr=False)
class PKCEPair:
    """A code verifier and its S256 challenge. The verifier is a secret: ``repr`` hides it."""

    verifier: str
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls, length: int = 64) -> PKCEPair:
        """A fresh pair whose verifier has ``length`` (43–128) random unreserved characters."""
        if not 43 <= length <= 128:
            raise ValueError(f"PKCE verifier length must be 43-128, got {length}")
        verifier = "".join(secrets.choice(_VERIFIER_ALPHABET) for _ in range(length))
        return cls(verifier=verifier, challenge=cls.challenge_for(verifier))

    @staticmethod
    def challenge_for(verifier: str) -> str:
        """The S256 challenge of ``verifier``: base64url(sha256(verifier)) without padding."""
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def __repr__(self) -> str:
        return f"PKCEPair(verifier=<hidden>, challenge={self.challenge!r}, method={self.method!r})"


def generate_state(nbytes: int = 32) -> str:
    """An unguessable ``state`` value (base64url, ``nbytes`` random bytes)."""
    return secrets.token_urlsafe(nbytes)


def build_authorize_url(base: str, params: Mapping[str, str | None]) -> str:
    """``base`` with ``params`` added to its query string, in the given order.

    Query parameters already in ``base`` are kept (a parameter given in ``params`` replaces one of
    the same name); ``None`` values are left out; spaces are encoded as ``%20`` (scopes).
    """
    parts = urlsplit(base)
    given = {key: value for key, value in params.items() if value is not None}
    existing = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in given
    ]
    query = urlencode([*existing, *given.items()], quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
