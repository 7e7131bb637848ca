"""``oauth_copilot``: GitHub logins and the Copilot tokens minted from them (``oauth.copilot``).

Core's :class:`~ccproxy.auth.OAuthPluginFactory` builds it from
:mod:`ccproxy_plugin_copilot.oauth_provider`: every account (the editor's login or ccproxy's own
file, plus ``--account`` files) gets an :class:`~ccproxy.auth.ExchangedTokenSource` handing out
Copilot tokens kept in memory. On top, the runtime reads each account's plan and premium-request
quota from GitHub every ``usage_refresh_seconds`` (and at start) and serves them in ``GET
/oauth/copilot/status`` under ``usage.accounts`` (never a token). Logging in is ``ccproxy auth
login copilot``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ccproxy.auth import (
    AuthError,
    ExchangedTokenSource,
    OAuthPluginFactory,
    OAuthPluginRuntime,
)
from ccproxy.plugins import TaskSpec
from ccproxy_plugin_copilot._version import __version__
from ccproxy_plugin_copilot.auth_config import CopilotOAuthConfig
from ccproxy_plugin_copilot.credentials import AUTH_PLUGIN_NAME, SERVICE_NAME, STATUS_PATH
from ccproxy_plugin_copilot.github_api import UsageError, fetch_usage
from ccproxy_plugin_copilot.oauth_provider import oauth_provider

__all__ = [
    "AUTH_PLUGIN_NAME",
    "SERVICE_NAME",
    "STATUS_PATH",
    "CopilotAuthFactory",
    "CopilotAuthRuntime",
    "auth_factory",
]


class CopilotAuthRuntime(OAuthPluginRuntime):
    """Core's OAuth runtime plus each account's plan and quota, read from GitHub."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._usage: dict[str, dict[str, Any]] = {}

    @property
    def config(self) -> CopilotOAuthConfig:
        """``plugins.oauth_copilot``."""
        config = self.context.config
        return config if isinstance(config, CopilotOAuthConfig) else CopilotOAuthConfig()

    async def _on_initialize(self) -> None:
        await super()._on_initialize()
        self.context.scheduler.add_task(
            TaskSpec(
                f"{self.name}.usage",
                self.config.usage_refresh_seconds,
                self.refresh_usage,
                initial_delay_seconds=0,
            ),
            plugin=self.name,
        )

    async def refresh_usage(self) -> None:
        """Read every account's plan and quota now (failures are kept as the account's error)."""
        sources = self.accounts.accounts() if self.accounts is not None else {}
        usage: dict[str, dict[str, Any]] = {}
        for name, source in sources.items():
            if not isinstance(source, ExchangedTokenSource) or not source.has_credentials():
                continue
            seen = datetime.fromtimestamp(time.time(), UTC).isoformat()
            try:
                github_token = await source.grant.access_token()
                entry = await fetch_usage(self.config, self.context.http_client, github_token)
            except (AuthError, UsageError) as exc:
                entry = {"error": str(exc)}
            usage[name] = {**entry, "seen_at": seen}
        self._usage = usage

    def quota(self) -> dict[str, dict[str, Any]]:
        """The plan and quota of each account as last read (no secret)."""
        return {name: dict(entry) for name, entry in self._usage.items()}

    def status(self) -> dict[str, Any]:
        """Core's status plus ``usage.accounts``."""
        return {**super().status(), "usage": {"accounts": self.quota()}}


class CopilotAuthFactory(OAuthPluginFactory):
    """The ``oauth_copilot`` plugin: core's OAuth plugin with :class:`CopilotAuthRuntime`."""

    def create_runtime(self) -> CopilotAuthRuntime:
        return CopilotAuthRuntime(self.manifest, self.provider, None)


#: The ``oauth_copilot`` entry point.
auth_factory = CopilotAuthFactory(
    oauth_provider,
    version=__version__,
    description="GitHub Copilot logins (an editor's or ccproxy's own) and the Copilot tokens "
    "minted from them.",
)
