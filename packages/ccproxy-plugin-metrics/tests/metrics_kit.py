"""Test helpers: a fake ``pricing`` service, two test providers, settings and a metrics scraper.

Nothing here imports another plugin: the pricing service is a fake implementing the core's
``PricingService`` Protocol, and the providers are defined on the core's pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import JSONResponse

from ccproxy.plugins import (
    AccountInfo,
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
    RequestCompleted,
    RequestRecord,
    RequestStarted,
    Settings,
    SystemPluginFactory,
    SystemPluginRuntime,
    Usage,
)
from ccproxy.plugins.provider import (
    ModelAliases,
    ProviderAdapter,
    ProviderEndpoint,
    ProviderProfile,
    provider_router,
)
from ccproxy.testing import FakeEntryPoint, fake_entry_point
from ccproxy_plugin_metrics.plugin import factory as metrics_factory

MILLION = Decimal(1_000_000)
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


# --- pricing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


SONNET_PRICE = Price(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"))


class FakePricing:
    """Implements ``ccproxy.services.PricingService`` from a small table of prices."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices
        self.lookups = 0  # calls of either method: each one is a price table lookup

    def model_info(self, model: str) -> dict[str, Any] | None:
        self.lookups += 1
        price = self.prices.get(model)
        return None if price is None else {"input_cost_per_million": price.input}

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        self.lookups += 1
        price = self.prices.get(model)
        if price is None:
            return None
        return (
            usage.input * price.input
            + usage.output * price.output
            + usage.cache_read * price.cache_read
            + (usage.cache_write_5m + usage.cache_write_1h) * price.cache_write
        ) / MILLION


def pricing_plugin(prices: dict[str, Price] | FakePricing) -> FakeEntryPoint:
    """A system plugin named ``fakepricing`` providing the ``pricing`` service (``prices``, or
    a :class:`FakePricing` over them)."""
    service = prices if isinstance(prices, FakePricing) else FakePricing(prices)

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            self.context.plugin_registry.register_service(
                "pricing", service, provider_plugin=self.name
            )

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    manifest = PluginManifest(name="fakepricing", version="9.9.9", provides=["pricing"])
    return fake_entry_point("fakepricing", Factory(manifest), distribution="fake-pricing")


# --- the metrics plugin under test ---------------------------------------------------------------


def metrics_plugin() -> FakeEntryPoint:
    """The real metrics factory behind a fake entry point (so a test lists its plugins)."""
    return fake_entry_point(
        "metrics", metrics_factory, distribution="ccproxy-plugin-metrics", version="0.1.0"
    )


def settings(ledger: Path | None = None, *, token: str | None = None, **metrics: Any) -> Settings:
    """Settings with local discovery off, the ledger at ``ledger`` (or disabled) and ``metrics``."""
    table: dict[str, Any] = dict(metrics)
    if ledger is None:
        table.setdefault("ledger_enabled", False)
    else:
        table["ledger_path"] = str(ledger)
    security = {"auth_token": token} if token else {}
    return Settings.model_validate(
        {
            "plugins_disable_local_discovery": True,
            "plugins": {"metrics": table},
            "security": security,
        }
    )


# --- a provider on the real pipeline -----------------------------------------------------------


class StaticTokens:
    """A ``TokenSource`` with one token that never changes."""

    def __init__(self, token: str = "tok") -> None:
        self.token = token

    async def access_token(self) -> str:
        return self.token

    async def refresh(self, rejected: str | None) -> str:
        return self.token

    def account(self) -> AccountInfo:
        return AccountInfo(id="acct-test", source="test")


class StaticAccounts:
    """An ``AccountSet``: one :class:`StaticTokens` per account name (a provider's pool)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.sources = {name: StaticTokens(token) for name, token in tokens.items()}

    def accounts(self) -> Mapping[str, StaticTokens]:
        return self.sources


def pipeline_provider(
    name: str = "testprov",
    *,
    base_url: str = "http://upstream.test",
    upstream_format: str = "anthropic",
    path: str = "/v1/messages",
    profile: ProviderProfile | None = None,
    stream_only: bool = False,
    native_prefix: str = "claude-",
    accounts: Mapping[str, str] | None = None,
) -> FakeEntryPoint:
    """A provider plugin whose routes run the core pipeline against an upstream speaking
    ``upstream_format`` (Anthropic Messages unless told otherwise) at ``base_url + path``.

    Its credential is the token ``tok`` (account id ``acct-test``), or with ``accounts`` a pool
    of accounts (account name → token) that the core spreads requests over."""
    tokens: StaticTokens | StaticAccounts = (
        StaticTokens() if accounts is None else StaticAccounts(accounts)
    )

    class Runtime(ProviderPluginRuntime):
        async def _on_initialize(self) -> None:
            endpoint = ProviderEndpoint(
                provider=name,
                upstream_format=upstream_format,
                base_url=base_url,
                path=path,
                profile=profile or ProviderProfile(headers=ANTHROPIC_HEADERS),
                stream_only=stream_only,
                aliases=ModelAliases(
                    {}, provider=name, is_native=lambda m: m.startswith(native_prefix)
                ),
            )
            self.adapter = ProviderAdapter(endpoint, self.context, token_source=lambda: tokens)

    class Factory(ProviderPluginFactory):
        runtime_class = Runtime

        def create_context(self, core_services: Any) -> PluginContext:
            context = super().create_context(core_services)
            registry = context.plugin_registry

            def adapter() -> ProviderAdapter | None:
                return getattr(registry.get_runtime(name), "adapter", None)

            async def count_tokens(found: ProviderAdapter, request: Request) -> JSONResponse:
                return JSONResponse({"input_tokens": 1})

            context["router"] = provider_router(
                name, adapter, models=list, count_tokens=count_tokens
            )
            return context

    manifest = PluginManifest(name=name, is_provider=True)
    return fake_entry_point(name, Factory(manifest), distribution=f"fake-{name}")


# --- a tiny provider emitting hand-built records ---------------------------------------------------


def tiny_provider(gate: asyncio.Event | None = None) -> FakeEntryPoint:
    """``POST /tiny/items/{item_id}?model=...&status=...``: emits REQUEST_STARTED, waits on
    ``gate`` (when given), then emits REQUEST_COMPLETED with a record whose route is the
    template ``/tiny/items/{item_id}`` and whose usage is 10 input and 5 output tokens.

    ``provider`` (default ``tiny``) and ``account`` (default none) name the record's provider
    and account; each ``rl=name=value`` becomes a rate-limit header of the record and each
    ``tag=name=value`` a tag (as GitHub Copilot's ``initiator`` and ``premium_multiplier``)."""

    class Factory(SystemPluginFactory):
        def create_context(self, core_services: Any) -> PluginContext:
            context = super().create_context(core_services)
            hooks = context.hook_manager
            router = APIRouter()

            @router.post("/items/{item_id}")
            async def item(item_id: str, request: Request) -> JSONResponse:
                request_id = f"req_{item_id}"
                await hooks.emit(RequestStarted(request_id=request_id, provider="tiny"))
                if gate is not None:
                    await gate.wait()
                query = request.query_params
                status = int(query.get("status", "200"))
                record = RequestRecord(
                    request_id=request_id,
                    provider=query.get("provider", "tiny"),
                    route="/tiny/items/{item_id}",
                    client_format="anthropic",
                    upstream_format="anthropic",
                    client_model=query.get("model"),
                    upstream_model=query.get("model"),
                    streaming=False,
                    status_code=status,
                    error_kind=query.get("error_kind"),
                    duration_s=float(query.get("duration", "1.5")),
                    ttfb_s=0.4,
                    usage=Usage(input=10, output=5),
                    rate_limits=dict(
                        item.split("=", 1) for item in query.getlist("rl") if "=" in item
                    ),
                    account=query.get("account"),
                    tags=dict(item.split("=", 1) for item in query.getlist("tag") if "=" in item),
                )
                await hooks.emit(
                    RequestCompleted(request_id=request_id, provider="tiny", record=record)
                )
                return JSONResponse({"ok": True}, status_code=status)

            context["router"] = router
            return context

    return fake_entry_point("tiny", Factory(PluginManifest(name="tiny")), distribution="fake-tiny")


# --- reading /metrics ----------------------------------------------------------------------------


async def scrape(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Metric]:
    """``GET /metrics`` parsed with prometheus-client's own parser: family name → family."""
    response = await client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, Metric], sample_name: str, **labels: str) -> float | None:
    """The value of the one sample named ``sample_name`` with exactly ``labels``, or None."""
    family_name = sample_name.removesuffix("_total")
    for suffix in ("_bucket", "_count", "_sum"):
        if family_name.endswith(suffix) and family_name.removesuffix(suffix) in families:
            family_name = family_name.removesuffix(suffix)
    family = families.get(family_name)
    if family is None:
        return None
    for sample in family.samples:
        if sample.name == sample_name and sample.labels == labels:
            return sample.value
    return None


def series(families: dict[str, Metric], prefix: str = "ccproxy_") -> int:
    """How many samples the exposition holds under ``prefix``."""
    return sum(len(f.samples) for name, f in families.items() if name.startswith(prefix))


def label_values(families: dict[str, Metric], family: str, label: str) -> set[str]:
    """Every value ``label`` takes in ``family``."""
    return {s.labels[label] for s in families[family].samples if label in s.labels}


def exposed_names(families: Iterable[Metric]) -> set[str]:
    """Every name a PromQL query may use: family names, counters' ``_total``, sample names."""
    names: set[str] = set()
    for family in families:
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll ``condition`` until it holds (fail after ``seconds``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
