"""The GitHub token files ccproxy reads (the editors' logins and its own) and the names around them.

The Copilot editor plugins keep the GitHub OAuth token in ``$XDG_CONFIG_HOME/github-copilot/``:

- ``apps.json`` (copilot.vim, VS Code-style):
  ``{"github.com:<client id>": {"user", "oauth_token", "githubAppId"}}``;
- ``hosts.json`` (copilot.lua and older plugins): ``{"github.com": {"user", "oauth_token"}}``.

ccproxy reads them as they are and never writes them. Its own logins are stored in the
``hosts.json`` shape: ``$XDG_CONFIG_HOME/ccproxy/copilot.json`` for the default account,
``$XDG_CONFIG_HOME/ccproxy/accounts/copilot/<name>.json`` for the others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ccproxy.auth import Credentials

__all__ = [
    "AUTH_PLUGIN_NAME",
    "DEFAULT_CLIENT_ID",
    "GITHUB_HOST",
    "PROVIDER",
    "SERVICE_NAME",
    "STATUS_PATH",
    "GitHubTokenFormat",
    "config_home",
]

#: The provider name: the ``oauth.copilot`` service, ``ccproxy auth login copilot``.
PROVIDER: Final = "copilot"
#: The auth provider plugin's name (its configuration lives under ``plugins.oauth_copilot``).
AUTH_PLUGIN_NAME: Final = f"oauth_{PROVIDER}"
#: The TokenSource service the auth plugin registers and the provider uses.
SERVICE_NAME: Final = f"oauth.{PROVIDER}"
#: Where the running server reports the accounts, the minted tokens and the quota.
STATUS_PATH: Final = f"/oauth/{PROVIDER}/status"
#: The Copilot editor app's public OAuth client id (VS Code, copilot.vim, copilot.lua).
DEFAULT_CLIENT_ID: Final = "Iv1.b507a08c87ecfe98"
#: The host key the token files use.
GITHUB_HOST: Final = "github.com"


def config_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME`` (``~/.config`` when unset)."""
    env = os.environ if env is None else env
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")


class GitHubTokenFormat:
    """A GitHub OAuth token under ``github.com`` (hosts.json, ccproxy's files) or
    ``github.com:<client id>`` (apps.json; the editor app's client id first).

    The editor app's token usually does not expire and has no refresh token; when GitHub hands
    out an expiring user token, its ``refresh_token`` and ``expires_at`` (unix seconds) are kept
    next to it. The account id is the ``user`` next to it. ``dump`` writes the ``hosts.json``
    shape and keeps every other key.
    """

    key: Final = GITHUB_HOST

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.client_id = client_id

    def entry(self, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The object holding the token, or ``None``."""
        keys = [self.key, f"{self.key}:{self.client_id}"]
        keys += sorted(k for k in data if k.startswith(f"{self.key}:") and k not in keys)
        for key in keys:
            entry = data.get(key)
            if isinstance(entry, Mapping) and _text(entry.get("oauth_token")):
                return entry
        return None

    def load(self, data: dict[str, Any]) -> Credentials | None:
        """The token of the first entry that has one; ``None`` when none has."""
        entry = self.entry(data)
        if entry is None:
            return None
        app_id = _text(entry.get("githubAppId"))
        return Credentials(
            access_token=str(entry["oauth_token"]),
            refresh_token=_text(entry.get("refresh_token")),
            expires_at=_moment(entry.get("expires_at")),
            account_id=_text(entry.get("user")),
            extra={"github_app_id": app_id} if app_id else {},
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        """``{"github.com": {"user", "oauth_token"[, "refresh_token", "expires_at"]}}``, other
        keys kept."""
        entry = data.get(self.key)
        if not isinstance(entry, dict):
            entry = data[self.key] = {}
        entry["oauth_token"] = creds.access_token
        if creds.account_id is not None:
            entry["user"] = creds.account_id
        # The credential is the whole truth: a token without them must not keep stale ones.
        if creds.refresh_token is not None:
            entry["refresh_token"] = creds.refresh_token
        else:
            entry.pop("refresh_token", None)
        if creds.expires_at is not None:
            entry["expires_at"] = int(creds.expires_at.timestamp())
        else:
            entry.pop("expires_at", None)
        return data


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _moment(value: object) -> datetime | None:
    """Unix seconds as aware UTC (``None``: absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
