"""``/openapi.json`` describes every provider's LLM routes, and is built only when asked for."""

from __future__ import annotations

from typing import Any

from provider_kit import provider

from ccproxy.config import Settings
from ccproxy.testing import app_client, started_app

POST_ROUTES = {
    "/v1/messages": ("MessagesRequest", "Message", "AnthropicError"),
    "/v1/messages/count_tokens": ("MessagesRequest", "CountTokensResult", "AnthropicError"),
    "/v1/chat/completions": ("ChatRequestModel", "ChatCompletion", "OpenAIError"),
    "/v1/responses": ("ResponsesRequestBody", "Response", "OpenAIError"),
}


def _settings() -> Settings:
    return Settings(plugins_disable_local_discovery=True)


async def _schema(*providers: str) -> dict[str, Any]:
    entry_points = [provider(name) for name in providers]
    async with started_app(_settings(), entry_points=entry_points) as app:
        async with app_client(app) as client:
            response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_every_provider_lists_its_llm_routes_with_bodies_and_dialect_errors() -> None:
    schema = await _schema("alpha", "beta")
    paths = schema["paths"]
    ref = "#/components/schemas/{}".format
    for prefix in ("/alpha", "/beta"):
        for suffix, (request, ok, error) in POST_ROUTES.items():
            operation = paths[prefix + suffix]["post"]
            body = operation["requestBody"]
            assert body["required"] is True
            assert body["content"]["application/json"]["schema"] == {"$ref": ref(request)}
            responses = operation["responses"]
            assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": ref(ok)}
            for status in ("4XX", "5XX"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": ref(error)
                }
            streams = "text/event-stream" in responses["200"]["content"]
            assert streams is (suffix != "/v1/messages/count_tokens")
        messages = paths[f"{prefix}/v1/messages"]["post"]
        assert {(p["in"], p["name"]) for p in messages["parameters"]} >= {("query", "beta")}
        models = paths[f"{prefix}/v1/models"]["get"]["responses"]["200"]
        assert models["content"]["application/json"]["schema"] == {"$ref": ref("ModelList")}


async def test_request_schemas_come_from_the_lenient_models() -> None:
    components = (await _schema("alpha"))["components"]["schemas"]
    messages = components["MessagesRequest"]
    assert set(messages["required"]) == {"model", "messages"}
    assert messages["additionalProperties"] is True  # unknown fields are carried through
    assert set(components["ChatRequestModel"]["required"]) == {"model", "messages"}
    assert "input" in components["ResponsesRequestBody"]["properties"]


async def test_every_reference_resolves_and_operation_ids_are_unique() -> None:
    schema = await _schema("alpha")
    components = schema["components"]["schemas"]
    for ref in _refs(schema):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref
    ids = [
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if "operationId" in operation
    ]
    assert len(ids) == len(set(ids))


async def test_the_schema_is_built_on_first_request_only_and_then_cached() -> None:
    async with started_app(_settings(), entry_points=[provider("alpha")]) as app:
        async with app_client(app) as client:
            assert (await client.get("/alpha/v1/models")).status_code == 200
            assert app.openapi_schema is None
            first = (await client.get("/openapi.json")).json()
            assert app.openapi_schema is not None
            assert app.openapi() is app.openapi_schema
            assert (await client.get("/openapi.json")).json() == first


async def test_an_app_without_providers_has_no_llm_components() -> None:
    schema = await _schema()
    assert not any(path.endswith("/v1/messages") for path in schema["paths"])
    assert "MessagesRequest" not in schema.get("components", {}).get("schemas", {})
