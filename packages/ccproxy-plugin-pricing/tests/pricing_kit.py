"""Helpers for this package's tests: synthetic LiteLLM tables, a loopback price source, apps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccproxy.plugins import Settings
from ccproxy.testing import fake_entry_point
from ccproxy_plugin_pricing.plugin import factory
from ccproxy_plugin_pricing.table import PriceTable

#: A loopback URL where nothing listens (the discard port): a refresh against it is refused.
DEAD_URL = "http://127.0.0.1:9/model_prices_and_context_window.json"

#: The model whose price the synthetic tables vary.
PROBE = "claude-probe-1"


def litellm_document(
    *, probe_input: object = 1e-06, extra_models: int = 24, **probe_fields: Any
) -> dict[str, Any]:
    """A LiteLLM-shaped table: ``sample_spec``, foreign providers and modes, and
    ``extra_models + 1`` Anthropic/OpenAI chat models (``PROBE`` among them)."""
    document: dict[str, Any] = {
        "sample_spec": {
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
            "mode": "one of: chat, embedding, completion",
            "max_input_tokens": "max input tokens, if the provider specifies it",
        },
        "bedrock/claude-probe-1": {
            "input_cost_per_token": 9.0,
            "output_cost_per_token": 9.0,
            "litellm_provider": "bedrock",
            "mode": "chat",
        },
        "text-embedding-probe": {
            "input_cost_per_token": 1e-07,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "embedding",
        },
        PROBE: {
            "input_cost_per_token": probe_input,
            "output_cost_per_token": 5e-06,
            "cache_read_input_token_cost": 1e-07,
            "cache_creation_input_token_cost": 1.25e-06,
            "litellm_provider": "anthropic",
            "mode": "chat",
            "max_input_tokens": 200000,
            "supports_reasoning": True,
            "search_context_cost_per_query": {"search_context_size_low": 0.01},
            **probe_fields,
        },
    }
    for i in range(extra_models):
        provider = "anthropic" if i % 2 else "openai"
        document[f"{provider}-model-{i}"] = {
            "input_cost_per_token": 1e-06 * (i + 1),
            "output_cost_per_token": 2e-06 * (i + 1),
            "litellm_provider": provider,
            "mode": "responses" if i % 3 == 0 else "chat",
        }
    return document


def table_of(models: Mapping[str, Mapping[str, Any]], **kwargs: Any) -> PriceTable:
    """A table holding exactly ``models`` (defaults: a remote table fetched now)."""
    kwargs.setdefault("origin", "remote")
    kwargs.setdefault("as_of", datetime.now(UTC))
    return PriceTable(models={k: dict(v) for k, v in models.items()}, **kwargs)


def entry(
    input: float, output: float, provider: str = "anthropic", **fields: Any
) -> dict[str, Any]:
    """One table entry."""
    return {
        "input_cost_per_token": input,
        "output_cost_per_token": output,
        "litellm_provider": provider,
        "mode": "chat",
        **fields,
    }


def pricing_settings(**pricing: Any) -> Settings:
    """Settings with only the given ``plugins.pricing`` keys (source defaults to ``DEAD_URL``)."""
    pricing.setdefault("source_url", DEAD_URL)
    security = pricing.pop("security", None)
    data: dict[str, Any] = {
        "plugins": {"pricing": pricing},
        "plugins_disable_local_discovery": True,
    }
    if security is not None:
        data["security"] = security
    return Settings.model_validate(data)


def pricing_entry_points() -> list[Any]:
    """The plugin's entry point, as discovery would find it installed."""
    return [fake_entry_point("pricing", factory, distribution="ccproxy-plugin-pricing")]


def cache_file(tmp_path: Path) -> Path:
    """Where the plugin caches prices under the test's ``XDG_CACHE_HOME``."""
    return tmp_path / "cache" / "ccproxy" / "litellm-prices.json"


class PriceSource:
    """A scriptable LiteLLM price table server: serve it on loopback with ``LiveServer(source.app)``
    or in-process through ``source.transport``. Counts the requests it answers."""

    def __init__(self, document: object | None = None) -> None:
        self.body: bytes = json.dumps(document or litellm_document()).encode()
        self.status = 200
        self.hits = 0
        self.app = Starlette(
            routes=[Route("/model_prices_and_context_window.json", self._endpoint)]
        )

    def serve(self, document: object) -> None:
        """Serve ``document`` (as JSON) from now on."""
        self.body = json.dumps(document).encode()

    def serve_bytes(self, body: bytes, status: int = 200) -> None:
        """Serve raw ``body`` with ``status`` from now on."""
        self.body, self.status = body, status

    async def _endpoint(self, request: Request) -> Response:
        self.hits += 1
        return Response(self.body, status_code=self.status, media_type="application/json")

    @property
    def transport(self) -> httpx.MockTransport:
        """An in-process transport answering every request like the endpoint."""

        def handle(request: httpx.Request) -> httpx.Response:
            self.hits += 1
            return httpx.Response(self.status, content=self.body)

        return httpx.MockTransport(handle)


def url_of(base: str) -> str:
    """The price table URL on a ``LiveServer`` base URL."""
    return f"{base}/model_prices_and_context_window.json"
