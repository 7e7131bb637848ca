"""The Codex CLI's ``auth.json``, as ccproxy reads and writes it, and the names around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from ccproxy.auth import Credentials, decode_jwt_claims, jwt_expiry

__all__ = ["LOGIN_HINT", "PROVIDER", "SERVICE_NAME", "CodexCredentialFormat"]

#: The provider name: the ``oauth.codex`` service, ``ccproxy auth login codex``.
PROVIDER = "codex"
#: The TokenSource service the auth plugin registers and the provider uses.
SERVICE_NAME = f"oauth.{PROVIDER}"
#: What a person without usable credentials is told.
LOGIN_HINT = "No usable ChatGPT (Codex) credentials: run `ccproxy auth login codex`."
#: The id-token claim holding ChatGPT account facts.
OPENAI_AUTH_CLAIM: Final = "https://api.openai.com/auth"


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

    key: Final = "tokens"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """Credentials from ``tokens``; ``None`` when there is no access token (API-key mode)."""
        tokens = data.get(self.key)
        if not isinstance(tokens, dict):
            return None
        access = _text(tokens.get("access_token"))
        if access is None:
            return None
        id_token = _text(tokens.get("id_token"))
        auth = _auth_claim(id_token) or _auth_claim(access)
        scopes = (decode_jwt_claims(access) or {}).get("scp")
        return Credentials(
            access_token=access,
            refresh_token=_text(tokens.get("refresh_token")),
            expires_at=jwt_expiry(access),
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
            account_id=_text(tokens.get("account_id")) or _text(auth.get("chatgpt_account_id")),
            plan=_text(auth.get("chatgpt_plan_type")),
            id_token=id_token,
            extra={"last_refresh": data["last_refresh"]} if _text(data.get("last_refresh")) else {},
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """Write into ``tokens`` and ``last_refresh``, keeping every other key."""
        tokens = data.get(self.key)
        if not isinstance(tokens, dict):
            tokens = data[self.key] = {}
        data.setdefault("OPENAI_API_KEY", None)
        if creds.id_token is not None:
            tokens["id_token"] = creds.id_token
        tokens["access_token"] = creds.access_token
        if creds.refresh_token is not None:
            tokens["refresh_token"] = creds.refresh_token
        account_id = creds.account_id or _text(
            _auth_claim(creds.id_token).get("chatgpt_account_id")
        )
        if account_id is not None:
            tokens["account_id"] = account_id
        now = datetime.fromtimestamp(self._clock(), UTC)
        data["last_refresh"] = now.isoformat().replace("+00:00", "Z")
        return data


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _auth_claim(token: str | None) -> dict[str, Any]:
    auth = (decode_jwt_claims(token) or {}).get(OPENAI_AUTH_CLAIM)
    return auth if isinstance(auth, dict) else {}
