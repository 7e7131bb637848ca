"""What the pipeline learns about one request, and the small readers it shares."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import ClientDisconnect, Request

from ccproxy.llm.ir import Usage, WireFormat
from ccproxy.proxy.body import BodyError, loads_client_json
from ccproxy.proxy.errors import RequestBodyRefused

__all__ = [
    "ClientError",
    "Exchange",
    "account_id",
    "client_response_id",
    "input_items",
    "read_bounded",
    "read_json",
]

_MAX_ERROR_BODY = 1024 * 1024


@dataclass
class Exchange:
    """What the pipeline learns about one request while handling it."""

    request_id: str
    route: str
    client_format: WireFormat
    started: float
    client_model: str | None = None
    upstream_model: str | None = None
    streaming: bool = False
    status_code: int = 0
    error_kind: str | None = None
    ttfb: float | None = None
    usage: Usage = field(default_factory=Usage)
    rate_limits: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    #: The account came from the provider's pool (``account`` is its name, not an id).
    pooled: bool = False
    #: What went wrong, as text: an exception kept here would hold the frames of its traceback
    #: (and, through them, this exchange) in a cycle until the cyclic collector ran.
    error: str | None = None
    completed: bool = False
    #: The upstream request's ``tags`` (``RequestRecord.tags``).
    tags: dict[str, str] = field(default_factory=dict)


class ClientError(Exception):
    """A failure answered to the client in its dialect with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str,
        error_type: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message if param is None else f"{message} (param: {param})"
        self.kind = kind
        self.error_type = error_type
        self.param = param
        self.headers = headers


async def read_json(request: Request) -> dict[str, Any]:
    """The client's body as a JSON object, or ``ClientError`` (400) saying what is wrong with it.

    A body that cannot be read at all (the client went away, or the security middleware cut it
    off and answers 408/413 itself) is a ``ClientError`` too, with the status the client got:
    it is the client's failure, not ours.
    """
    try:
        # Not ``request.body()``: Starlette keeps the bytes it returns on the request, which
        # lives until a streamed answer ends, so every open stream would hold its request body.
        raw = b"".join([chunk async for chunk in request.stream()])
    except ClientDisconnect:
        raise ClientError(
            499, "The client disconnected while sending the body.", kind="client_disconnect"
        ) from None
    except RequestBodyRefused as exc:
        # The security middleware answers the client (408/413); this records what it said.
        raise ClientError(exc.status, str(exc), kind=exc.reason) from None
    except Exception as exc:
        raise ClientError(
            400, f"The request body could not be read ({type(exc).__name__}).", kind="body_unread"
        ) from None
    if not raw.strip():
        raise ClientError(
            400, "The request body is empty; expected a JSON object.", kind="invalid_request"
        )
    try:
        body = loads_client_json(raw)
    except BodyError as exc:
        raise ClientError(400, str(exc), kind="invalid_request") from None
    if not isinstance(body, dict):
        raise ClientError(400, "The request body must be a JSON object.", kind="invalid_request")
    return body


async def read_bounded(response: httpx.Response) -> bytes:
    """At most the first MiB of an error body (what was already read, when it was)."""
    try:
        return response.content[:_MAX_ERROR_BODY]
    except httpx.ResponseNotRead:
        pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:_MAX_ERROR_BODY]


def account_id(source: Any) -> str | None:
    try:
        return source.account().id  # type: ignore[no-any-return]
    except Exception:
        return None


def input_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}
        ]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    raise ClientError(
        400, "'input' must be a string or a list of items.", kind="invalid_request", param="input"
    )


def client_response_id(client_format: WireFormat) -> str | None:
    if client_format == "responses":
        return f"resp_{secrets.token_hex(24)}"
    if client_format == "anthropic":
        return f"msg_{secrets.token_hex(12)}"
    return f"chatcmpl-{secrets.token_hex(12)}"


def dialect_type(stream_error_type: str) -> str | None:
    return stream_error_type or None
