"""The credential files of Claude Code and the Codex CLI (facts from WIRE.md).

Both formats edit the parsed file in place and touch only the keys they own, so whatever newer
CLIs add survives a rewrite by ccproxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from ccproxy.auth.tokens import Credentials, decode_jwt_claims, jwt_expiry

__all__ = [
    "ClaudeCodeCredentialFormat",
    "CodexCredentialFormat",
]

#: The id-token claim holding ChatGPT account facts.
OPENAI_AUTH_CLAIM: Final = "https://api.openai.com/auth"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class ClaudeCodeCredentialFormat:
    """``~/.claude/.credentials.json``::

        {"claudeAiOauth": {"accessToken": "...", "refreshToken": "...",
                           "expiresAt": <epoch ms>, "scopes": [...], "subscriptionType": "max"}}

    The file names no account id, so ``Credentials.account_id`` is ``None`` unless a caller sets
    one (it is then kept in memory only); ``plan`` is ``subscriptionType``.
    """

    key: Final = "claudeAiOauth"

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """Credentials from ``claudeAiOauth``; ``None`` when there is no access token."""
        oauth = data.get(self.key)
        if not isinstance(oauth, dict):
            return None
        access = _str(oauth.get("accessToken"))
        if access is None:
            return None
        expires_at = None
        expires_ms = oauth.get("expiresAt")
        if isinstance(expires_ms, (int, float)) and not isinstance(expires_ms, bool):
            try:
                expires_at = datetime.fromtimestamp(expires_ms / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                expires_at = None
        scopes = oauth.get("scopes")
        return Credentials(
            access_token=access,
            refresh_token=_str(oauth.get("refreshToken")),
            expires_at=expires_at,
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
            plan=_str(oauth.get("subscriptionType")),
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """Write into ``claudeAiOauth``, keeping its other keys (and the file's)."""
        oauth = data.get(self.key)
        if not isinstance(oauth, dict):
            oauth = data[self.key] = {}
        oauth["accessToken"] = creds.access_token
        if creds.refresh_token is not None:
            oauth["refreshToken"] = creds.refresh_token
        oauth["expiresAt"] = (
            int(creds.expires_at.timestamp() * 1000) if creds.expires_at is not None else None
        )
        oauth["scopes"] = list(creds.scopes)
        if creds.plan is not None:
            oauth["subscriptionType"] = creds.plan
        return data


class CodexCredentialFormat:
    """``~/.codex/auth.json``::

        {"OPENAI_API_KEY": null,
         "tokens": {"id_token": "<jwt>", "access_token": "<jwt>", "refresh_token": "...",
                    "account_id": "..."},
         "last_refresh": "<ISO 8601>"}

    Expiry is the access token's JWT ``exp``; the account id is ``tokens.account_id``, else the
    id token's ``https://api.openai.com/auth`` → ``chatgpt_account_id``; the plan is that claim's
    ``chatgpt_plan_type``. ``dump`` stamps ``last_refresh`` with ``clock``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """Credentials from ``tokens``; ``None`` when there is no access token (API-key mode)."""
        tokens = data.get("tokens")
        if not isinstance(tokens, dict):
            return None
        access = _str(tokens.get("access_token"))
        if access is None:
            return None
        id_token = _str(tokens.get("id_token"))
        auth = _auth_claim(id_token) or _auth_claim(access)
        claims = decode_jwt_claims(access) or {}
        scopes = claims.get("scp")
        return Credentials(
            access_token=access,
            refresh_token=_str(tokens.get("refresh_token")),
            expires_at=jwt_expiry(access),
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
            account_id=_str(tokens.get("account_id")) or _str(auth.get("chatgpt_account_id")),
            plan=_str(auth.get("chatgpt_plan_type")),
            id_token=id_token,
            extra={"last_refresh": data["last_refresh"]} if _str(data.get("last_refresh")) else {},
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """Write into ``tokens`` and ``last_refresh``, keeping every other key."""
        tokens = data.get("tokens")
        if not isinstance(tokens, dict):
            tokens = data["tokens"] = {}
        data.setdefault("OPENAI_API_KEY", None)
        if creds.id_token is not None:
            tokens["id_token"] = creds.id_token
        tokens["access_token"] = creds.access_token
        if creds.refresh_token is not None:
            tokens["refresh_token"] = creds.refresh_token
        account_id = creds.account_id or _str(_auth_claim(creds.id_token).get("chatgpt_account_id"))
        if account_id is not None:
            tokens["account_id"] = account_id
        now = datetime.fromtimestamp(self._clock(), UTC)
        data["last_refresh"] = now.isoformat().replace("+00:00", "Z")
        return data


def _auth_claim(token: str | None) -> dict[str, Any]:
    claims = decode_jwt_claims(token) or {}
    auth = claims.get(OPENAI_AUTH_CLAIM)
    return auth if isinstance(auth, dict) else {}
