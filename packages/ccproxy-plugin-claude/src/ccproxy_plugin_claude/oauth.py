"""The ``oauth_claude`` auth provider plugin: the Claude credential as the ``oauth.claude`` service.

Core's :class:`~ccproxy.auth.OAuthPluginFactory` builds it from the provider description: a
:class:`~ccproxy.auth.TokenManager` over Claude Code's credential file (or a long-lived
``CLAUDE_CODE_OAUTH_TOKEN``) and ``GET /oauth/claude/status``. What is Claude's here is the hook
remembering the last ``anthropic-ratelimit-unified-*`` headers the ``claude`` provider saw.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from ccproxy.auth import OAuthPluginFactory
from ccproxy.plugins import HookEvent, HookPayload, RequestCompleted
from ccproxy_plugin_claude._version import __version__
from ccproxy_plugin_claude.config import PROVIDER
from ccproxy_plugin_claude.oauth_provider import oauth_provider

__all__ = ["RATE_LIMIT_PREFIX", "RateLimitWindows", "auth_factory"]

#: The headers kept: the subscription's usage windows.
RATE_LIMIT_PREFIX: Final = "anthropic-ratelimit-unified-"


class RateLimitWindows:
    """A ``REQUEST_COMPLETED`` hook keeping the last unified rate-limit headers of ``claude``."""

    name = "claude_rate_limit_windows"
    priority = 100

    def __init__(self) -> None:
        self.events = [HookEvent.REQUEST_COMPLETED]
        self.headers: dict[str, str] = {}
        self.seen_at: datetime | None = None

    async def __call__(self, event: HookPayload) -> None:
        if not isinstance(event, RequestCompleted) or event.record.provider != PROVIDER:
            return
        windows = {
            name: value
            for name, value in event.record.rate_limits.items()
            if name.lower().startswith(RATE_LIMIT_PREFIX)
        }
        if windows:
            self.headers = windows
            self.seen_at = datetime.now(UTC)

    def snapshot(self) -> dict[str, Any]:
        """The last windows seen and when (``None`` before the first proxied request)."""
        return {
            "rate_limits": dict(self.headers),
            "rate_limits_seen_at": self.seen_at.isoformat() if self.seen_at else None,
        }


#: The ``oauth_claude`` entry point.
auth_factory = OAuthPluginFactory(
    oauth_provider,
    version=__version__,
    description="Claude OAuth (Claude Code's credentials): provides oauth.claude",
    usage=RateLimitWindows,
)
