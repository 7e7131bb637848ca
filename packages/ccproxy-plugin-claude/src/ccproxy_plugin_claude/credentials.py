"""Claude Code's credential file, as ccproxy reads and writes it.

The file is Claude Code's own ``~/.claude/.credentials.json``; ccproxy edits only the
``claudeAiOauth`` entry in place, so every other key survives. The one key ccproxy adds inside
that entry is ``ccproxyAccount`` (the account a ``ccproxy auth login`` was for, never a secret),
because the file itself names no account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from ccproxy.auth import Credentials
from ccproxy_plugin_claude.config import OAUTH_TOKEN_ENV

__all__ = [
    "ACCOUNT_KEY",
    "LOGIN_HINT",
    "ClaudeCredentialFormat",
]

#: The key ccproxy adds inside ``claudeAiOauth``: who logged in (an e-mail address or uuid).
ACCOUNT_KEY: Final = "ccproxyAccount"
#: What a client is told when there is no usable credential (``ProviderEndpoint.login_hint``).
LOGIN_HINT: Final = (
    "No usable Claude credentials: run `ccproxy auth login claude` "
    f"(or set {OAUTH_TOKEN_ENV} to a token from `claude setup-token`)."
)


class ClaudeCredentialFormat:
    """Claude Code's ``~/.claude/.credentials.json``::

        {"claudeAiOauth": {"accessToken": "...", "refreshToken": "...",
                           "expiresAt": <epoch ms>, "scopes": [...], "subscriptionType": "max"}}

    ``plan`` is ``subscriptionType``; the account is ``ccproxyAccount``. Only these keys are
    written; all others are kept.
    """

    key: Final = "claudeAiOauth"

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """Credentials from ``claudeAiOauth``; ``None`` when there is no access token."""
        oauth = data.get(self.key)
        if not isinstance(oauth, dict):
            return None
        access = _text(oauth.get("accessToken"))
        if access is None:
            return None
        scopes = oauth.get("scopes")
        return Credentials(
            access_token=access,
            refresh_token=_text(oauth.get("refreshToken")),
            expires_at=_from_epoch_ms(oauth.get("expiresAt")),
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
            account_id=_text(oauth.get(ACCOUNT_KEY)),
            plan=_text(oauth.get("subscriptionType")),
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
        if creds.account_id:
            oauth[ACCOUNT_KEY] = creds.account_id
        else:
            oauth.pop(ACCOUNT_KEY, None)  # a new login for an unnamed account
        return data


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _from_epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
