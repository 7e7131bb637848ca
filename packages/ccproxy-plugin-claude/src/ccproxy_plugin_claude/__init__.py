"""ccproxy-plugin-claude: the Claude subscription (Claude Code OAuth) behind ccproxy.

Two ``ccproxy.plugins`` entry points: ``oauth_claude`` (:mod:`ccproxy_plugin_claude.oauth`, the
``oauth.claude`` credential) and ``claude`` (:mod:`ccproxy_plugin_claude.plugin`, the routes under
``/claude``); and the ``auth.claude`` command, which core builds from the provider description
(:mod:`ccproxy_plugin_claude.oauth_provider`). Importing this package imports nothing else.
"""

from ccproxy_plugin_claude._version import __version__

__all__ = ["__version__"]
