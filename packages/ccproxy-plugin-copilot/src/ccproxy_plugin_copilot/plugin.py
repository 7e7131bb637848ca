"""``copilot``: the GitHub Copilot subscription as the Messages, Chat Completions and Responses APIs.

Routes under ``/copilot`` (all running the core pipeline):

- ``POST /v1/messages`` (also ``?beta=true``), ``/v1/chat/completions`` and ``/v1/responses`` —
  each sent to the Copilot endpoint its model serves (:mod:`ccproxy_plugin_copilot.routing`):
  passthrough when that is the client's own format, converted through the IR otherwise;
- ``POST /v1/messages/count_tokens`` — an offline estimate (core's ``estimated_count_tokens``);
- ``GET /v1/models`` — the account's catalogue in the client's dialect; ``HEAD /`` and ``GET /``.

Credentials come from the ``oauth.copilot`` service (the ``oauth_copilot`` plugin): a TokenSource
handing out minted Copilot tokens, whose ``account().api_base`` is the API base to use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import JSONResponse

from ccproxy.plugins import (
    AccountSet,
    Dialect,
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
    TokenSource,
    dialect_for,
)
from ccproxy.plugins.provider import (
    ProviderAdapter,
    ProviderEndpoint,
    ProviderProfile,
    ResponseStore,
    WireFormat,
    estimated_count_tokens,
    provider_router,
)
from ccproxy_plugin_copilot._version import __version__
from ccproxy_plugin_copilot.adapter import CopilotAdapter
from ccproxy_plugin_copilot.config import DEFAULT_API_BASE, CopilotConfig
from ccproxy_plugin_copilot.models import Catalogue, CopilotModelAliases
from ccproxy_plugin_copilot.routing import (
    CopilotRouter,
    ModelDirectory,
    fetch_models,
    first_source,
)

if TYPE_CHECKING:
    from ccproxy.plugins import CoreServices

__all__ = [
    "LOGIN_HINT",
    "PLUGIN_NAME",
    "SERVICE_NAME",
    "UPSTREAM_PATHS",
    "CopilotProviderFactory",
    "CopilotProviderRuntime",
    "load_profile",
    "models_body",
    "provider_factory",
]

PLUGIN_NAME = "copilot"
SERVICE_NAME = "oauth.copilot"
LOGIN_HINT = "No GitHub Copilot credentials. Run: ccproxy auth login copilot"
#: The Copilot API path of each upstream format.
UPSTREAM_PATHS: dict[WireFormat, str] = {
    "chat": "/chat/completions",
    "responses": "/responses",
    "anthropic": "/v1/messages",
}


def load_profile(config: CopilotConfig) -> ProviderProfile:
    """The shipped ``profile.toml`` with the editor headers and ``plugins.copilot.profile``."""
    overrides = dict(config.profile)
    headers = overrides.get("headers")
    overrides["headers"] = {
        **config.editor_headers(),
        **(headers if isinstance(headers, dict) else {}),
    }
    return ProviderProfile.load("ccproxy_plugin_copilot", overrides)


def models_body(dialect: Dialect, catalogue: Catalogue, aliases: list[str]) -> dict[str, Any]:
    """``GET /v1/models`` in the client's dialect: the catalogue, then the alias names."""
    names = catalogue.ids() + sorted(set(aliases) - set(catalogue.models))
    if dialect == Dialect.ANTHROPIC:
        data = []
        for name in names:
            entry = catalogue.get(name)
            data.append(
                {
                    "type": "model",
                    "id": name,
                    "display_name": (entry.name if entry and entry.name else name),
                    "created_at": "2025-01-01T00:00:00Z",
                }
            )
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": (
                    entry.vendor
                    if (entry := catalogue.get(name)) and entry.vendor
                    else "github-copilot"
                ),
            }
            for name in names
        ],
    }


class CopilotProviderRuntime(ProviderPluginRuntime):
    """Builds the catalogue, one adapter per Copilot endpoint and the router for one app."""

    @property
    def config(self) -> CopilotConfig:
        """The validated ``plugins.copilot`` table."""
        config = self.context.config
        return config if isinstance(config, CopilotConfig) else CopilotConfig()

    def _token_source(self) -> TokenSource | AccountSet | None:
        # Looked up per request: the auth plugin may start, stop or be swapped independently.
        registry = self.context.plugin_registry
        found = registry.get_service(SERVICE_NAME, AccountSet)
        return found if found is not None else registry.get_service(SERVICE_NAME, TokenSource)

    async def _on_initialize(self) -> None:
        config = self.config
        context = self.context
        profile = load_profile(config)
        catalogue = Catalogue()
        aliases = CopilotModelAliases(
            config.model_aliases, catalogue, default_model=config.default_model
        )
        base_url = config.base_url or DEFAULT_API_BASE

        async def fetch() -> Any:
            source = first_source(self._token_source())
            api_base = config.base_url
            if api_base is None and source is not None:
                # The API base is the mint's endpoints.api: known only once a token is held.
                await source.access_token()
                api_base = source.account().api_base
            return await fetch_models(
                context,
                source,
                base_url=api_base or DEFAULT_API_BASE,
                headers=profile.headers,
                timeout_seconds=config.models_timeout_seconds,
            )

        self.directory = ModelDirectory(
            catalogue,
            fetch,
            ttl_seconds=config.models_ttl_seconds,
            miss_refresh_seconds=config.models_miss_refresh_seconds,
            timeout_seconds=config.models_timeout_seconds,
            context=context,
        )
        store = ResponseStore(
            max_entries=config.response_store_max_entries,
            ttl_seconds=config.response_store_ttl_seconds,
            state=context.shared_state,
        )

        def endpoint(upstream_format: WireFormat) -> ProviderEndpoint:
            return ProviderEndpoint(
                provider=PLUGIN_NAME,
                upstream_format=upstream_format,
                base_url=base_url,
                path=UPSTREAM_PATHS[upstream_format],
                profile=profile,
                aliases=aliases,
                login_hint=LOGIN_HINT,
                account_strategy=config.account_strategy,
            )

        adapters: dict[WireFormat, ProviderAdapter] = {
            upstream_format: CopilotAdapter(
                endpoint(upstream_format),
                context,
                token_source=self._token_source,
                catalogue=catalogue,
                response_store=store,
                fixed_base_url=config.base_url is not None,
                on_unknown_model=self.directory.invalidate,
            )
            for upstream_format in UPSTREAM_PATHS
        }
        self.adapter = CopilotRouter(
            endpoint("chat"),
            context,
            token_source=self._token_source,
            adapters=adapters,
            aliases=aliases,
            directory=self.directory,
        )
        # One account state for the provider: an account found invalid, cooling down or with
        # its windows seen through one endpoint is so on the others (and in /api/accounts,
        # which reads the router's pool); fill_first and round_robin turns are shared too. The
        # Chat adapter's pool is the one built with the response store's TTL.
        pool = adapters["chat"].account_pool
        self.adapter.account_pool = pool
        for adapter in adapters.values():
            adapter.account_pool = pool

    async def _on_shutdown(self) -> None:
        directory = getattr(self, "directory", None)
        if directory is not None:
            await directory.close()

    def health_details(self) -> dict[str, Any]:
        directory = getattr(self, "directory", None)
        return {
            "base_url": self.config.base_url or "the credential's endpoints.api",
            "models": len(directory.catalogue.models) if directory is not None else 0,
            "models_error": directory.last_error if directory is not None else None,
        }


class CopilotProviderFactory(ProviderPluginFactory):
    """Builds ``copilot`` runtimes and mounts the provider routes under ``/copilot``."""

    runtime_class = CopilotProviderRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PLUGIN_NAME,
                version=__version__,
                description="GitHub Copilot subscription as the Messages, Chat and Responses APIs.",
                is_provider=True,
                optional_requires=[SERVICE_NAME],
                config_class=CopilotConfig,
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The context, with ``router`` (mounted under ``/copilot``) set."""
        context = super().create_context(core_services)
        registry = context.plugin_registry

        def router_adapter() -> CopilotRouter | None:
            runtime = registry.get_runtime(PLUGIN_NAME)
            if runtime is None or not runtime.initialized:
                return None
            found = getattr(runtime, "adapter", None)
            return found if isinstance(found, CopilotRouter) else None

        def listed() -> list[str]:
            found = router_adapter()
            return found.aliases.listed_models() if found is not None else []

        router = provider_router(
            PLUGIN_NAME, router_adapter, models=listed, count_tokens=estimated_count_tokens
        )
        # The catalogue is fetched on demand, so the models route is this plugin's own.
        router.routes[:] = [r for r in router.routes if getattr(r, "path", None) != "/v1/models"]

        @router.get("/v1/models")
        async def list_models(request: Request) -> JSONResponse:
            dialect = dialect_for(request.url.path, request.headers)
            found = router_adapter()
            if found is None:
                return JSONResponse(models_body(dialect, Catalogue(), []))
            await found.directory.ensure()
            aliases = [k for k in found.aliases.table if not k.endswith("*")]
            return JSONResponse(models_body(dialect, found.aliases.catalogue, aliases))

        context["router"] = router
        return context


#: The ``copilot`` entry point.
provider_factory = CopilotProviderFactory()
