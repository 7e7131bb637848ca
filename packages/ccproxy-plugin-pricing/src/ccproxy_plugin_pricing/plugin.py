"""The ``pricing`` entry point: a system plugin providing the ``pricing`` service."""

from __future__ import annotations

from ccproxy.plugins import PluginManifest, RouteSpec, SystemPluginFactory
from ccproxy_plugin_pricing._version import __version__
from ccproxy_plugin_pricing.config import PricingConfig
from ccproxy_plugin_pricing.routes import build_router
from ccproxy_plugin_pricing.runtime import PLUGIN_NAME, PricingRuntime

__all__ = ["PricingFactory", "factory"]


class PricingFactory(SystemPluginFactory):
    """Builds the manifest once; every app gets its own :class:`PricingRuntime` (no shared state)."""

    runtime_class = PricingRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PLUGIN_NAME,
                version=__version__,
                description="API-equivalent prices for every request, from LiteLLM's price table",
                provides=["pricing"],
                routes=[RouteSpec(router=build_router(), prefix="/pricing", tags=["pricing"])],
                config_class=PricingConfig,
            )
        )


#: What the ``ccproxy.plugins`` entry point ``pricing`` loads.
factory = PricingFactory()
