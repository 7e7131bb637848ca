"""The ``claude`` provider plugin: the Claude subscription behind ``/claude``.

Every route runs the core pipeline against the Anthropic Messages API: native Messages
(``/claude/v1/messages``, with ``?beta=true`` as Claude Code sends it) takes the passthrough
branch, Chat Completions and Responses are converted. ``count_tokens`` is a passthrough to the
upstream's own ``/v1/messages/count_tokens`` through a second adapter with the same profile.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from fastapi import Request
from starlette.responses import Response

from ccproxy.plugins import (
    CoreServices,
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
)
from ccproxy.plugins.provider import (
    ModelAliases,
    ProviderAdapter,
    ProviderEndpoint,
    provider_router,
)
from ccproxy_plugin_claude._version import __version__
from ccproxy_plugin_claude.config import DEFAULT_MODEL_ALIASES, PROVIDER, ClaudeConfig
from ccproxy_plugin_claude.credentials import LOGIN_HINT

__all__ = [
    "COUNT_TOKENS_PATH",
    "ClaudeAdapter",
    "ClaudeProviderFactory",
    "ClaudeProviderRuntime",
    "provider_factory",
]

COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"


class ClaudeAdapter(ProviderAdapter):
    """The core pipeline with one Claude-specific edit on converted traffic.

    OpenAI clients often send both ``temperature`` and ``top_p``, which the upstream refuses for
    some models: a converted request keeps ``temperature`` only. Native Messages requests are
    the client's business and stay as sent.
    """

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        if converted and body.get("temperature") is not None and body.get("top_p") is not None:
            return {key: value for key, value in body.items() if key != "top_p"}
        return body


class ClaudeProviderRuntime(ProviderPluginRuntime):
    """The adapters of one app: Messages/Chat/Responses, and count_tokens."""

    count_tokens_adapter: ProviderAdapter

    @property
    def config(self) -> ClaudeConfig:
        """The validated ``plugins.claude`` table (defaults when the context has none)."""
        config = self.context.config
        return config if isinstance(config, ClaudeConfig) else ClaudeConfig()

    async def _on_initialize(self) -> None:
        config = self.config
        endpoint = ProviderEndpoint(
            provider=PROVIDER,
            upstream_format="anthropic",
            base_url=config.base_url,
            path="/v1/messages",
            profile=config.profile,
            aliases=ModelAliases(
                config.model_aliases,
                provider=PROVIDER,
                is_native=lambda name: name.startswith("claude-"),
                default_model=config.default_model,
            ),
            login_hint=LOGIN_HINT,
            account_strategy=config.account_strategy,
            allow_overage=config.allow_overage,
        )
        self.adapter = ClaudeAdapter(endpoint, self.context, token_source=self.token_source)
        self.count_tokens_adapter = ClaudeAdapter(
            replace(endpoint, path=COUNT_TOKENS_PATH),
            self.context,
            token_source=self.token_source,
        )

    def models(self) -> list[str]:
        """What ``GET /claude/v1/models`` lists: aliases, their targets and the default aliases'
        targets (listed even when the user's table removes those aliases)."""
        listed = self.adapter.endpoint.aliases.listed_models() if self.adapter else []
        return sorted({*listed, *DEFAULT_MODEL_ALIASES.values()})

    async def count_tokens(self, request: Request) -> Response:
        """``POST /claude/v1/messages/count_tokens``: the pipeline's passthrough branch."""
        return await self.count_tokens_adapter.handle(
            request, "anthropic", route=f"/{PROVIDER}{COUNT_TOKENS_PATH}"
        )

    def health_details(self) -> dict[str, Any]:
        return {"base_url": self.config.base_url}


class ClaudeProviderFactory(ProviderPluginFactory):
    """Builds the ``claude`` runtime and mounts its routes under ``/claude``; stateless."""

    runtime_class = ClaudeProviderRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PROVIDER,
                version=__version__,
                description="The Claude subscription as the Anthropic Messages, OpenAI Chat and "
                "Responses APIs under /claude",
                is_provider=True,
                optional_requires=[f"oauth.{PROVIDER}"],
                config_class=ClaudeConfig,
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        context = super().create_context(core_services)
        registry = context.plugin_registry

        def runtime() -> ClaudeProviderRuntime | None:
            found = registry.get_runtime(PROVIDER)
            if isinstance(found, ClaudeProviderRuntime) and found.initialized:
                return found
            return None

        def adapter() -> ProviderAdapter | None:
            found = runtime()
            return found.adapter if found is not None else None

        def models() -> list[str]:
            found = runtime()
            return found.models() if found is not None else []

        async def count_tokens(_: ProviderAdapter, request: Request) -> Response:
            found = runtime()
            assert found is not None  # the route checked adapter() first
            return await found.count_tokens(request)

        context["router"] = provider_router(
            PROVIDER, adapter, models=models, count_tokens=count_tokens
        )
        return context


#: The ``claude`` entry point.
provider_factory = ClaudeProviderFactory()
