"""``/pricing`` routes, the service registration and the plugin's health in ``/health``."""

from __future__ import annotations

from ccproxy.app import create_app, get_plugin_host, shutdown_plugins
from ccproxy.plugins import PricingService
from ccproxy.testing import app_client, started_app
from ccproxy_plugin_pricing.service import PriceBook
from pricing_kit import PROBE, PriceSource, litellm_document, pricing_entry_points, pricing_settings


async def test_models_lists_prices_per_million_with_source_version_and_age() -> None:
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            response = await client.get("/pricing/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert body["count"] == len(body["data"]) == 147
    source = body["source"]
    assert (source["source"], source["origin"], source["litellm_version"]) == (
        "litellm",
        "snapshot",
        "1.110.2",
    )
    assert source["age_seconds"] >= 0
    assert source["as_of"]
    assert body["last_refresh"] is None
    sonnet = next(m for m in body["data"] if m["model"] == "claude-sonnet-4-5")
    assert sonnet["provider"] == "anthropic"
    assert sonnet["prices_per_million"] == {
        "input": 3.0,
        "output": 15.0,
        "cache_read": 0.3,
        "cache_write_5m": 3.75,
        "cache_write_1h": 6.0,
    }
    assert sonnet["max_input_tokens"] == 200000
    gpt = next(m for m in body["data"] if m["model"] == "gpt-5.4")
    assert gpt["tiers"] == [
        {
            "above_prompt_tokens": 272000,
            "prices_per_million": {
                "input": 5.0,
                "output": 22.5,
                "cache_read": 0.5,
                "cache_write_5m": 5.0,
                "cache_write_1h": 5.0,
            },
        }
    ]


async def test_models_can_be_filtered_by_provider() -> None:
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            body = (await client.get("/pricing/models", params={"provider": "anthropic"})).json()
    assert body["count"] > 10
    assert {m["provider"] for m in body["data"]} == {"anthropic"}


async def test_one_model_shows_its_resolution() -> None:
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            response = await client.get("/pricing/models/anthropic/claude-opus-4-8-20260101")
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "claude-opus-4-8"
    assert body["requested"] == "anthropic/claude-opus-4-8-20260101"
    assert body["resolution"] == {"rule": "provider_prefix", "alias": None}
    assert body["prices_per_million"]["output"] == 25.0
    assert body["prices_per_token"]["input_cost_per_token"] == 5e-06
    assert body["source"]["litellm_version"] == "1.110.2"


async def test_aliases_from_configuration_apply_to_routes() -> None:
    settings = pricing_settings(aliases={"house-model": "claude-haiku-4-5"})
    async with started_app(settings, entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            body = (await client.get("/pricing/models/house-model")).json()
    assert body["model"] == "claude-haiku-4-5"
    assert body["resolution"] == {"rule": "alias", "alias": "house-model"}


async def test_an_unknown_model_is_a_404_in_openai_error_format() -> None:
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            response = await client.get("/pricing/models/llama-3-70b")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model 'llama-3-70b' has no known price.",
            "type": "not_found_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


async def test_refresh_route_refreshes_now_and_reports_the_outcome() -> None:
    source = PriceSource(litellm_document(probe_input=7e-06))
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(pricing_settings(refresh_interval_hours=0), **kwargs) as app:
        async with app_client(app) as client:
            assert (await client.get(f"/pricing/models/{PROBE}")).status_code == 404
            response = await client.post("/pricing/refresh", json={})
            assert response.status_code == 200
            body = response.json()
            assert body["ok"] is True
            assert body["models"] == 25
            assert body["table"]["origin"] == "remote"
            assert (await client.get(f"/pricing/models/{PROBE}")).status_code == 200
            listing = (await client.get("/pricing/models")).json()
            assert listing["last_refresh"]["ok"] is True
    assert source.hits == 1


async def test_a_failed_refresh_is_a_502_and_health_warns() -> None:
    source = PriceSource()
    source.serve_bytes(b"not json")
    kwargs = {"entry_points": pricing_entry_points(), "http_transport": source.transport}
    async with started_app(pricing_settings(), **kwargs) as app:
        async with app_client(app) as client:
            assert (await client.get("/health")).json()["checks"]["plugin:pricing"][0][
                "status"
            ] == "pass"
            response = await client.post("/pricing/refresh", json={})
            assert response.status_code == 502
            body = response.json()
            assert body["error"]["code"] == "refresh_failed"
            assert "not JSON" in body["error"]["message"]
            assert body["refresh"]["ok"] is False
            assert body["table"]["origin"] == "snapshot"
            health = await client.get("/health")
    assert health.status_code == 200
    check = health.json()["checks"]["plugin:pricing"][0]
    assert check["status"] == "warn"
    assert "not JSON" in check["output"]
    assert "bundled snapshot (litellm 1.110.2)" in check["output"]


async def test_routes_require_the_configured_token() -> None:
    settings = pricing_settings(security={"auth_token": "s3cret"})
    async with started_app(settings, entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            assert (await client.get("/pricing/models")).status_code == 401
            assert (await client.post("/pricing/refresh", json={})).status_code == 401
            authorized = await client.get(
                "/pricing/models/gpt-5", headers={"authorization": "Bearer s3cret"}
            )
            assert authorized.status_code == 200


async def test_the_service_is_registered_and_reported() -> None:
    async with started_app(pricing_settings(), entry_points=pricing_entry_points()) as app:
        registry = get_plugin_host(app).registry
        service = registry.get_service("pricing", PricingService)
        assert isinstance(service, PriceBook)
        async with app_client(app) as client:
            status = (await client.get("/api/plugins/status")).json()
            health = (await client.get("/health")).json()
    assert status["services"] == {"pricing": "pricing"}
    (plugin,) = status["plugins"]
    assert (plugin["name"], plugin["type"], plugin["status"]) == (
        "pricing",
        "system",
        "initialized",
    )
    assert plugin["provides"] == ["pricing"]
    check = health["checks"]["plugin:pricing"][0]
    assert check["status"] == "pass"
    assert "serving 147 models from the bundled snapshot (litellm 1.110.2)" in check["output"]


async def test_routes_answer_503_before_the_plugin_is_initialised() -> None:
    app = create_app(pricing_settings(), entry_points=pricing_entry_points())
    try:
        async with app_client(app) as client:  # no lifespan: plugins not started
            response = await client.get("/pricing/models/gpt-5")
    finally:
        await shutdown_plugins(app)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "The pricing plugin is not running."


async def test_an_invalid_configuration_skips_only_the_plugin() -> None:
    settings = pricing_settings(refresh_interval_hours=-1)
    async with started_app(settings, entry_points=pricing_entry_points()) as app:
        async with app_client(app) as client:
            response = await client.get("/pricing/models")
            health = await client.get("/health")
    assert response.status_code == 404  # skipped before its routes were mounted
    assert health.status_code == 200
    check = health.json()["checks"]["plugin:pricing"][0]
    assert check["status"] == "warn"
    assert "plugins.pricing.refresh_interval_hours" in check["output"]
