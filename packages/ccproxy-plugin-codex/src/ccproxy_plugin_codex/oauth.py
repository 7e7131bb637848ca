"""``oauth_codex``: ChatGPT OAuth for the Codex provider (the ``oauth.codex`` TokenSource).

Core's :class:`~ccproxy.auth.OAuthPluginFactory` builds it from the provider description
(:mod:`ccproxy_plugin_codex.oauth_provider`): a ``TokenManager`` over the Codex CLI's
``~/.codex/auth.json`` and ``GET /oauth/codex/status`` with the usage windows of the latest
Codex responses.
"""

from __future__ import annotations

from ccproxy.auth import OAuthPluginFactory
from ccproxy_plugin_codex._version import __version__
from ccproxy_plugin_codex.oauth_provider import oauth_provider
from ccproxy_plugin_codex.usage import UsageWindowsHook

__all__ = ["auth_factory"]

#: The ``oauth_codex`` entry point.
auth_factory = OAuthPluginFactory(
    oauth_provider,
    version=__version__,
    description="ChatGPT OAuth for the Codex provider (the Codex CLI's auth.json).",
    usage=UsageWindowsHook,
)
