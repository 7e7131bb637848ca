"""A small test provider's credential format: what the toolkit tests store and read.

It stores one object under ``key`` in camelCase, the shape ``FakeClaudeOAuth.credentials_file``
writes, so the strict fakes of ``ccproxy.testing`` can mint what it reads. No provider's own
format lives in core: each plugin tests its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ccproxy.auth import Credentials

__all__ = ["DemoFormat"]


class DemoFormat:
    """``{key: {"accessToken", "refreshToken", "expiresAt" (epoch ms), "scopes",
    "subscriptionType"}}``; every other key is kept."""

    def __init__(self, key: str = "claudeAiOauth") -> None:
        self.key = key

    def load(self, data: dict[str, Any]) -> Credentials | None:
        entry = data.get(self.key)
        if not isinstance(entry, dict) or not entry.get("accessToken"):
            return None
        expires = entry.get("expiresAt")
        return Credentials(
            access_token=entry["accessToken"],
            refresh_token=entry.get("refreshToken") or None,
            expires_at=datetime.fromtimestamp(expires / 1000, UTC)
            if isinstance(expires, int | float)
            else None,
            scopes=tuple(entry.get("scopes") or ()),
            plan=entry.get("subscriptionType"),
        )

    def dump(self, creds: Credentials, data: dict[str, Any]) -> dict[str, Any]:
        entry = data.setdefault(self.key, {})
        entry["accessToken"] = creds.access_token
        if creds.refresh_token is not None:
            entry["refreshToken"] = creds.refresh_token
        entry["expiresAt"] = int(creds.expires_at.timestamp() * 1000) if creds.expires_at else None
        entry["scopes"] = list(creds.scopes)
        if creds.plan is not None:
            entry["subscriptionType"] = creds.plan
        return data
