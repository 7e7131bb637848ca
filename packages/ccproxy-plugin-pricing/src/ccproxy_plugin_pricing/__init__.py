"""ccproxy-plugin-pricing: API-equivalent prices for ccproxy requests.

The ``pricing`` service (:class:`PriceBook`) prices normalised usage in ``Decimal`` USD from a
LiteLLM price table: a snapshot bundled with the package, refreshed on a schedule. The plugin
itself (``ccproxy_plugin_pricing.plugin:factory``) and its CLI (``ccproxy_plugin_pricing.cli:app``)
are loaded through entry points and not imported here.
"""

from ccproxy_plugin_pricing._version import __version__
from ccproxy_plugin_pricing.config import DEFAULT_SOURCE_URL, PricingConfig
from ccproxy_plugin_pricing.cost import PRICE_KINDS, UnitPrices, unit_prices, usage_cost
from ccproxy_plugin_pricing.litellm import TableError, select_models
from ccproxy_plugin_pricing.refresh import Refresher, RefreshOutcome
from ccproxy_plugin_pricing.resolve import Resolution, resolve
from ccproxy_plugin_pricing.service import PriceBook
from ccproxy_plugin_pricing.table import PriceTable, load_snapshot

__all__ = [
    "DEFAULT_SOURCE_URL",
    "PRICE_KINDS",
    "PriceBook",
    "PriceTable",
    "PricingConfig",
    "RefreshOutcome",
    "Refresher",
    "Resolution",
    "TableError",
    "UnitPrices",
    "__version__",
    "load_snapshot",
    "resolve",
    "select_models",
    "unit_prices",
    "usage_cost",
]
