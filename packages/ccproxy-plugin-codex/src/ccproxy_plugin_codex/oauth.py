"""``oauth_codex``: ChatGPT OAuth for the Codex provider (the ``oauth.codex`` TokenSource).

Core's :class:`~ccproxy.auth.OAuthPluginFactory` builds it from the provider description: it
reads and refreshes the Codex CLI's ``~/.codex/auth.json`` through ``ccproxy.auth.TokenManager``
(single-flight refresh, atomic 0600 writes, unknown keys kept) and serves ``GET
/oauth/codex/status`` (no token, ever) with the usage windows of the latest Codex responses.
Logging in is ``ccproxy auth login codex``, which core builds from
:mod:`ccproxy_plugin_codex.oauth_provider`.
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
