"""``POST /copilot/v1/messages/count_tokens``: an offline estimate in Anthropic's shape.

The Copilot API has no token-counting endpoint and no tokenizer is downloaded at run time, so the
answer is an estimate: ``ceil(characters / 4)`` over the compact JSON text of the request's
``system``, ``messages`` and ``tools`` (the rule the Codex plugin uses; expect roughly ±25 % on
prose and code, an under-count on non-Latin scripts and an over-count on base64 images). The
response carries ``x-ccproxy-token-estimate: true``. Claude Code uses the number to decide when to
compact a conversation, which an estimate of this quality serves.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ccproxy.plugins import Dialect, error_response
from ccproxy.plugins.provider import (
    BodyError,
    InvalidRequestError,
    check_client_body,
    loads_client_json,
)

if TYPE_CHECKING:
    from fastapi import Request

    from ccproxy.plugins.provider import ProviderAdapter

__all__ = ["CHARS_PER_TOKEN", "ESTIMATE_HEADER", "count_tokens", "estimate_input_tokens"]

CHARS_PER_TOKEN = 4
ESTIMATE_HEADER = "x-ccproxy-token-estimate"


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """``ceil(len(json(system, messages, tools)) / 4)``."""
    counted = {key: body[key] for key in ("system", "messages", "tools") if key in body}
    text = json.dumps(counted, ensure_ascii=False, separators=(",", ":"))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


async def count_tokens(adapter: ProviderAdapter, request: Request) -> Response:
    """``{"input_tokens": n}`` with the estimate header (400 in Anthropic's shape on bad input)."""
    raw = await request.body()
    try:
        body = loads_client_json(raw) if raw.strip() else None
    except BodyError as exc:
        return error_response(Dialect.ANTHROPIC, 400, str(exc))
    if not isinstance(body, dict):
        return error_response(
            Dialect.ANTHROPIC, 400, "The request body must be a JSON object (a Messages request)."
        )
    try:
        check_client_body(body, "anthropic", passthrough=True)
    except InvalidRequestError as exc:
        return error_response(Dialect.ANTHROPIC, 400, exc.message, param=exc.param)
    return JSONResponse(
        {"input_tokens": estimate_input_tokens(body)}, headers={ESTIMATE_HEADER: "true"}
    )
