"""ccproxy-plugin-metrics: Prometheus metrics and a SQLite usage ledger for ccproxy.

Entry points: ``metrics`` in ``ccproxy.plugins`` (:mod:`ccproxy_plugin_metrics.plugin`) and
``usage`` in ``ccproxy.commands`` (:mod:`ccproxy_plugin_metrics.cli`). Importing this package
imports nothing else, so ``ccproxy usage`` stays fast; import the modules for the rest.
"""

from ccproxy_plugin_metrics._version import __version__

__all__ = ["__version__"]
