"""ccproxy plugins for the GitHub Copilot subscription.

Two entry points in ``ccproxy.plugins``: ``copilot`` (the provider,
:mod:`ccproxy_plugin_copilot.plugin`) and ``oauth_copilot`` (the GitHub login and the Copilot
token minted from it, :mod:`ccproxy_plugin_copilot.oauth`); plus the ``auth.copilot`` command
(core builds it from :mod:`ccproxy_plugin_copilot.oauth_provider`). This module stays light.
"""

from ccproxy_plugin_copilot._version import __version__

__all__ = ["__version__"]
