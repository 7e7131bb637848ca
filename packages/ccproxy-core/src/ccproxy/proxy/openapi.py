"""The LLM routes in ``/openapi.json``.

The provider POST routes are plain Starlette routes (see ``routes.py``), so FastAPI leaves them
out of its schema. ``install_openapi`` wraps ``app.openapi`` so that the first request for the
schema adds them, with the lenient request models of ``ccproxy.llm.formats`` as body schemas and
each route's responses in its client's dialect. Nothing runs before the schema is asked for:
no start-up work and nothing on the request path.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["LLM_ROUTE_SUFFIXES", "describe_llm_routes", "install_openapi"]

_REF = "#/components/schemas/{model}"
_SSE = "text/event-stream"


@dataclass(frozen=True)
class _Operation:
    name: str
    summary: str
    request_model: str  # key into _request_models()
    ok_schema: str  # key into components/schemas
    error_schema: str
    streams: bool
    anthropic_params: bool


_OPERATIONS: dict[str, _Operation] = {
    "/v1/messages/count_tokens": _Operation(
        "count_message_tokens",
        "Count the input tokens of an Anthropic Messages request",
        "MessagesRequest",
        "CountTokensResult",
        "AnthropicError",
        streams=False,
        anthropic_params=True,
    ),
    "/v1/messages": _Operation(
        "create_message",
        "Anthropic Messages",
        "MessagesRequest",
        "Message",
        "AnthropicError",
        streams=True,
        anthropic_params=True,
    ),
    "/v1/chat/completions": _Operation(
        "create_chat_completion",
        "OpenAI Chat Completions",
        "ChatRequestModel",
        "ChatCompletion",
        "OpenAIError",
        streams=True,
        anthropic_params=False,
    ),
    "/v1/responses": _Operation(
        "create_response",
        "OpenAI Responses",
        "ResponsesRequestBody",
        "Response",
        "OpenAIError",
        streams=True,
        anthropic_params=False,
    ),
}

#: The path suffixes (below a provider's prefix) of the routes this module describes.
LLM_ROUTE_SUFFIXES: tuple[str, ...] = (*_OPERATIONS, "/v1/models")

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_OBJECTS = {"type": "array", "items": {"type": "object"}}

# Responses never go through pydantic (hot path), so their shapes are written out here: the
# fields every client reads, the rest left open.
_RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Message": {
        "type": "object",
        "description": "An Anthropic Messages response.",
        "required": ["id", "type", "role", "content", "model"],
        "properties": {
            "id": _STRING,
            "type": {"const": "message"},
            "role": {"const": "assistant"},
            "content": _OBJECTS,
            "model": _STRING,
            "stop_reason": _NULLABLE_STRING,
            "usage": {"type": "object"},
        },
    },
    "CountTokensResult": {
        "type": "object",
        "required": ["input_tokens"],
        "properties": {"input_tokens": {"type": "integer"}},
    },
    "ChatCompletion": {
        "type": "object",
        "description": "An OpenAI Chat Completions response.",
        "required": ["id", "object", "choices", "model"],
        "properties": {
            "id": _STRING,
            "object": {"const": "chat.completion"},
            "created": {"type": "integer"},
            "model": _STRING,
            "choices": _OBJECTS,
            "usage": {"type": "object"},
        },
    },
    "Response": {
        "type": "object",
        "description": "An OpenAI Responses response.",
        "required": ["id", "object", "output", "model"],
        "properties": {
            "id": _STRING,
            "object": {"const": "response"},
            "status": _STRING,
            "model": _STRING,
            "output": _OBJECTS,
            "usage": {"type": ["object", "null"]},
        },
    },
    "AnthropicError": {
        "type": "object",
        "description": "An error in the Anthropic dialect.",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": _STRING, "message": _STRING},
            },
        },
    },
    "OpenAIError": {
        "type": "object",
        "description": "An error in the OpenAI dialect.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": _STRING,
                    "type": _STRING,
                    "param": _NULLABLE_STRING,
                    "code": _NULLABLE_STRING,
                },
            },
        },
    },
    "ModelList": {
        "description": "The models a provider serves: the Anthropic shape when the request has "
        "an ``anthropic-version`` header, the OpenAI shape otherwise.",
        "oneOf": [
            {
                "type": "object",
                "required": ["data", "has_more"],
                "properties": {"data": _OBJECTS, "has_more": {"type": "boolean"}},
            },
            {
                "type": "object",
                "required": ["object", "data"],
                "properties": {"object": {"const": "list"}, "data": _OBJECTS},
            },
        ],
    },
}

_ANTHROPIC_HEADERS: list[dict[str, Any]] = [
    {
        "name": "anthropic-version",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "example": "2023-06-01"},
    },
    {
        "name": "anthropic-beta",
        "in": "header",
        "required": False,
        "description": "Comma-separated beta tags, merged with the ones the provider needs.",
        "schema": _STRING,
    },
]
_BETA_QUERY: dict[str, Any] = {
    "name": "beta",
    "in": "query",
    "required": False,
    "description": "``true`` as Claude Code sends it.",
    "schema": _STRING,
}


def _request_schemas() -> dict[str, Any]:
    """The request models' JSON schemas, with every nested model as a component."""
    from pydantic.json_schema import models_json_schema

    from ccproxy.llm.formats.anthropic.models import MessagesRequest
    from ccproxy.llm.formats.chat.models import ChatRequestModel
    from ccproxy.llm.formats.responses.models import ResponsesRequestBody

    _, schema = models_json_schema(
        [(m, "validation") for m in (MessagesRequest, ChatRequestModel, ResponsesRequestBody)],
        ref_template=_REF,
    )
    defs: dict[str, Any] = schema.get("$defs", {})
    return defs


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _operation(provider: str, op: _Operation) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ref(op.ok_schema)}}
    ok = "The model's answer."
    if op.streams:
        content[_SSE] = {"schema": {"type": "string"}}
        ok += " Server-sent events instead of JSON when the body asks for `stream: true`."
    error = {"application/json": {"schema": _ref(op.error_schema)}}
    parameters = [*_ANTHROPIC_HEADERS, _BETA_QUERY] if op.anthropic_params else []
    operation: dict[str, Any] = {
        "tags": [provider],
        "summary": op.summary,
        "operationId": f"{provider}_{op.name}",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.request_model)}},
        },
        "responses": {
            "200": {"description": ok, "content": content},
            "4XX": {"description": "A bad request, or one the upstream refused.", "content": error},
            "5XX": {"description": "The upstream failed or is unreachable.", "content": error},
        },
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _llm_routes(routes: Iterable[BaseRoute]) -> list[tuple[str, str, _Operation]]:
    """(path, prefix, operation) of every provider POST route among ``routes``."""
    found = []
    for route in routes:
        # FastAPI's own routes are APIRoute subclasses and already in the schema.
        if type(route) is not Route or not route.include_in_schema:
            continue
        if "POST" not in (route.methods or ()):
            continue
        for suffix, op in _OPERATIONS.items():
            if route.path.endswith(suffix):
                found.append((route.path, route.path.removesuffix(suffix), op))
                break
    return found


def _dedupe_operation_ids(paths: dict[str, Any]) -> None:
    # A route serving GET and HEAD gets one operationId for both; OpenAPI wants them unique.
    seen: set[str] = set()
    for item in paths.values():
        for method, operation in item.items():
            op_id = operation.get("operationId") if isinstance(operation, dict) else None
            if op_id is None:
                continue
            if op_id in seen:
                op_id = f"{op_id}_{method}"
                operation["operationId"] = op_id
            seen.add(op_id)


def describe_llm_routes(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """Add the provider LLM routes found in ``routes`` to the OpenAPI ``schema`` (in place)."""
    paths: dict[str, Any] = schema.setdefault("paths", {})
    found = _llm_routes(routes)
    if found:
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in (_request_schemas() | _RESPONSE_SCHEMAS).items():
            components.setdefault(name, definition)
    prefixes = set()
    for path, prefix, op in found:
        provider = prefix.strip("/").replace("/", "_") or "root"
        paths.setdefault(path, {})["post"] = _operation(provider, op)
        prefixes.add(prefix)
    for prefix in prefixes:
        models = paths.get(f"{prefix}/v1/models", {}).get("get")
        if models is not None:
            models["parameters"] = _ANTHROPIC_HEADERS[:1]
            models["responses"] = {
                "200": {
                    "description": "The models this provider serves.",
                    "content": {"application/json": {"schema": _ref("ModelList")}},
                }
            }
    _dedupe_operation_ids(paths)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) describe the LLM routes too.

    The schema is built on first use and cached, as FastAPI does.
    """
    build_default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # GET+HEAD routes share an operationId; renamed by _dedupe_operation_ids.
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = build_default()
            app.openapi_schema = describe_llm_routes(schema, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
