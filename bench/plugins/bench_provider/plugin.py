"""A provider plugin for benchmarks: the core pipeline in front of the bench upstream.

Serves ``/bench_provider/v1/messages`` (Anthropic passthrough) and the Chat and Responses routes
(converted), with a static token. Configure ``plugins.bench_provider.base_url``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from ccproxy.plugins import (
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
)
from ccproxy.proxy.aliases import ModelAliases
from ccproxy.proxy.pipeline import ProviderAdapter, ProviderEndpoint
from ccproxy.proxy.profile import ProviderProfile
from ccproxy.proxy.routes import provider_router
from ccproxy.services import AccountInfo


class BenchConfig(BaseModel):
    base_url: str = "http://127.0.0.1:9"


class StaticToken:
    async def access_token(self) -> str:
        return "bench-token"

    async def refresh(self, rejected: str | None) -> str:
        return "bench-token"

    def account(self) -> AccountInfo:
        return AccountInfo(id="bench")


class BenchRuntime(ProviderPluginRuntime):
    async def _on_initialize(self) -> None:
        config: Any = self.context.config
        endpoint = ProviderEndpoint(
            provider="bench_provider",
            upstream_format="anthropic",
            base_url=config.base_url,
            path="/v1/messages",
            profile=ProviderProfile(headers={"anthropic-version": "2023-06-01"}),
            aliases=ModelAliases({}, provider="bench_provider", is_native=lambda m: True),
        )
        token = StaticToken()
        self.adapter = ProviderAdapter(endpoint, self.context, token_source=lambda: token)


class BenchFactory(ProviderPluginFactory):
    runtime_class = BenchRuntime

    def create_context(self, core_services: Any) -> PluginContext:
        context = super().create_context(core_services)
        registry = context.plugin_registry

        def adapter() -> ProviderAdapter | None:
            runtime = registry.get_runtime("bench_provider")
            return getattr(runtime, "adapter", None)

        async def count_tokens(found: ProviderAdapter, request: Request) -> Response:
            return JSONResponse({"input_tokens": 1})

        context["router"] = provider_router(
            "bench_provider", adapter, models=lambda: ["bench"], count_tokens=count_tokens
        )
        return context


factory = BenchFactory(
    PluginManifest(
        name="bench_provider", version="0.0.1", is_provider=True, config_class=BenchConfig
    )
)
