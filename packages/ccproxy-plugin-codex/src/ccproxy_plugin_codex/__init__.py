"""ccproxy plugins for the ChatGPT Codex subscription.

Two entry points in ``ccproxy.plugins``: ``codex`` (the provider,
:mod:`ccproxy_plugin_codex.plugin`) and ``oauth_codex`` (ChatGPT OAuth,
:mod:`ccproxy_plugin_codex.oauth`); plus the ``auth.codex`` command
(core builds it from :mod:`ccproxy_plugin_codex.oauth_provider`). This module stays light.
"""

from ccproxy_plugin_codex._version import __version__

__all__ = ["__version__"]
