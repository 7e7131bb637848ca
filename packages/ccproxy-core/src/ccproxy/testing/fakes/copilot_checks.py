"""The Copilot API's strict rules for the fake: the editor header set and each endpoint's body.

Refusals use the Copilot API's JSON error shape ``{"error": {"message", "code", ...}}``; a 401
is plain text (``unauthorized: token expired``), as peers record it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.responses import JSONResponse, PlainTextResponse, Response

__all__ = [
    "REQUIRED_COPILOT_HEADERS",
    "CopilotRefusal",
    "Endpoint",
    "HeaderRules",
    "check_model_body",
]

#: Headers every Copilot API call must carry (``authorization`` is checked first, apart).
REQUIRED_COPILOT_HEADERS = (
    "copilot-integration-id",
    "editor-version",
    "editor-plugin-version",
    "user-agent",
    "openai-intent",
    "x-github-api-version",
    "x-request-id",
    "x-initiator",
)
Endpoint = Literal["/chat/completions", "/responses", "/v1/messages"]

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EDITOR_VERSION = re.compile(r"^[\w.-]+/\S+$")
_IMAGE_TYPES = frozenset({"image_url", "input_image", "image"})


class CopilotRefusal(Exception):
    """A strict check failed: answer ``status`` with ``body`` (JSON) or ``text`` (plain)."""

    def __init__(self, status: int, body: Any = None, *, text: str | None = None) -> None:
        super().__init__(text or json.dumps(body))
        self.status = status
        self.body = body
        self.text = text

    @classmethod
    def error(
        cls, status: int, code: str, message: str, *, param: str | None = None
    ) -> CopilotRefusal:
        error: dict[str, Any] = {"message": message, "code": code}
        if status == 400:
            error.update(param=param, type="invalid_request_error")
        return cls(status, {"error": error})

    def response(self) -> Response:
        if self.text is not None:
            return PlainTextResponse(self.text, status_code=self.status)
        return JSONResponse(self.body, status_code=self.status)


@dataclass(frozen=True)
class HeaderRules:
    """What the editor headers must be; :meth:`check` raises 400 naming the first bad one."""

    required: Collection[str]
    integration_ids: Collection[str]
    user_agent_prefix: str
    min_api_version: str

    def check(self, headers: Mapping[str, str]) -> None:
        for name in self.required:
            if not headers.get(name, "").strip():
                raise CopilotRefusal.error(
                    400, "missing_header", f"missing required header: {name}", param=name
                )
        checks: list[tuple[str, Callable[[str], object], str]] = [
            (
                "copilot-integration-id",
                lambda v: v in self.integration_ids,
                "unknown Copilot-Integration-Id",
            ),
            ("editor-version", _EDITOR_VERSION.match, "Editor-Version must be <editor>/<version>"),
            (
                "editor-plugin-version",
                _EDITOR_VERSION.match,
                "Editor-Plugin-Version must be <plugin>/<version>",
            ),
            (
                "user-agent",
                lambda v: v.startswith(self.user_agent_prefix),
                f"User-Agent must be {self.user_agent_prefix}<version>",
            ),
            ("x-initiator", lambda v: v in ("user", "agent"), "X-Initiator must be user or agent"),
            ("x-request-id", _is_uuid, "X-Request-Id must be a UUID"),
        ]
        for name, valid, message in checks:
            value = headers.get(name)
            if value is not None and not valid(value):
                raise CopilotRefusal.error(400, "invalid_header", message, param=name)
        version = headers.get("x-github-api-version")
        if version is not None and (
            not _API_VERSION.match(version) or version < self.min_api_version
        ):
            raise CopilotRefusal.error(
                400,
                "unsupported_api_version",
                "the specified API version is no longer supported",
                param="x-github-api-version",
            )


def check_model_body(
    endpoint: Endpoint,
    body: Any,
    model: Mapping[str, Any] | None,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """The body of a model call, checked against its ``/models`` entry (``None``: unknown)."""
    if not isinstance(body, dict):
        raise CopilotRefusal.error(400, "invalid_request_body", "the body must be JSON")
    if model is None or model.get("policy", {}).get("state", "enabled") != "enabled":
        raise CopilotRefusal.error(
            400, "model_not_supported", "The requested model is not supported.", param="model"
        )
    if endpoint not in model.get("supported_endpoints", []):
        raise CopilotRefusal.error(
            400,
            "model_not_supported",
            f"model {model.get('id')} is not accessible via the {endpoint} endpoint",
            param="model",
        )
    _check_endpoint_body(endpoint, body)
    _check_output_limit(body, model)
    if _has_image(body.get("input") if endpoint == "/responses" else body.get("messages")):
        if headers.get("copilot-vision-request", "").lower() != "true":
            raise CopilotRefusal.error(
                400,
                "invalid_request_body",
                "missing required Copilot-Vision-Request header for vision requests",
            )
        if not model.get("capabilities", {}).get("supports", {}).get("vision", False):
            raise CopilotRefusal.error(
                400, "model_not_supported", f"model {model.get('id')} does not support vision"
            )
    return body


def _check_endpoint_body(endpoint: Endpoint, body: dict[str, Any]) -> None:
    if endpoint == "/chat/completions":
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise CopilotRefusal.error(
                400, "invalid_request_body", "messages must be a non-empty array", param="messages"
            )
    elif endpoint == "/responses":
        if body.get("previous_response_id") is not None:
            raise CopilotRefusal.error(
                400,
                "invalid_request_body",
                "previous_response_id is not supported: send the whole conversation as input",
                param="previous_response_id",
            )
        if body.get("input") is None:
            raise CopilotRefusal.error(
                400, "invalid_request_body", "input is required", param="input"
            )
    else:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise CopilotRefusal.error(
                400, "invalid_request_body", "messages: at least one message is required"
            )
        if not isinstance(body.get("max_tokens"), int):
            raise CopilotRefusal.error(400, "invalid_request_body", "max_tokens: Field required")
        system = body.get("system")
        if system is not None and not (
            isinstance(system, list)
            and all(isinstance(b, dict) and b.get("type") == "text" for b in system)
        ):
            raise CopilotRefusal.error(
                400,
                "invalid_request_body",
                "system: Input should be a valid list of text blocks",
                param="system",
            )


def _check_output_limit(body: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """More output tokens than the model's ``max_output_tokens`` is a 400, as upstream."""
    limit = model.get("capabilities", {}).get("limits", {}).get("max_output_tokens")
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        asked = body.get(key)
        if isinstance(limit, int) and isinstance(asked, int) and asked > limit:
            raise CopilotRefusal.error(
                400,
                "invalid_request_body",
                f"{key}: {asked} > {limit}, which is the maximum allowed number of output "
                f"tokens for {model.get('id')}",
                param=key,
            )


def _has_image(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("type") in _IMAGE_TYPES:
            return True
        return any(_has_image(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_image(item) for item in value)
    return False


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
