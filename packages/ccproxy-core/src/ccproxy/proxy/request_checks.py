"""The few checks every client body gets before it is relayed or converted.

Converted requests are validated by their codec (Responses ``input`` is checked here too,
since ``previous_response_id`` expansion reads it first). Passthrough bodies are relayed almost as sent,
so they get a cheap structural check here: the upstream would refuse the same bodies, but only
after a round trip, and some mistakes would be relayed into a confusing answer (a ``stream`` of
``"yes"`` counted as true, an unknown role forwarded). The checks name the field, as the codecs
do (``messages.2.role``).
"""

from __future__ import annotations

from typing import Any

from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.ir import WireFormat
from ccproxy.llm.roles import check_role

__all__ = ["check_client_body"]


def check_client_body(
    body: dict[str, Any], client_format: WireFormat, *, passthrough: bool
) -> None:
    """Raise ``InvalidRequestError`` naming the field when ``body`` is malformed."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequestError("stream: must be a boolean", param="stream")
    if client_format == "responses":
        # Also when converting: previous_response_id expansion reads the items before the codec.
        _check_responses(body)
    elif passthrough and client_format == "anthropic":
        _check_anthropic(body)


def _check_anthropic(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequestError("messages: must be a list of messages", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages.{i}: must be an object", param=f"messages.{i}")
        check_role("anthropic", message.get("role"), f"messages.{i}.role")
    _check_list(body, "tools")


def _check_responses(body: dict[str, Any]) -> None:
    items = body.get("input")
    if items is not None and not isinstance(items, str | list):
        raise InvalidRequestError("input: must be a string or a list of items", param="input")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, dict):
            raise InvalidRequestError(f"input.{i}: must be an object", param=f"input.{i}")
        kind = item.get("type", "message" if "role" in item else None)
        if not isinstance(kind, str):
            raise InvalidRequestError(
                f"input.{i}.type: must be a string (or the item a message with a role)",
                param=f"input.{i}.type",
            )
        if kind == "message":
            check_role("responses", item.get("role"), f"input.{i}.role")
    _check_list(body, "tools")


def _check_list(body: dict[str, Any], field: str) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise InvalidRequestError(f"{field}: must be a list of objects", param=field)
