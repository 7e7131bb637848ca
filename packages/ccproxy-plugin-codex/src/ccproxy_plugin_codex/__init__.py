"""ccproxy plugins for the ChatGPT Codex subscription.

Two entry points in ``ccproxy.plugins``: ``codex`` (the provider,
:mod:`ccproxy_plugin_codex.plugin`) and ``oauth_codex`` (ChatGPT OAuth,
:mod:`ccproxy_plugin_codex.oauth`); plus the ``auth.codex`` command
(:mod:`ccproxy_plugin_codex.cli`). This module stays light: the CLI imports it.
"""

from ccproxy_plugin_codex._version import __version__

__all__ = ["__version__"]
