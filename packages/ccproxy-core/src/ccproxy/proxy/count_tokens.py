"""``POST /v1/messages/count_tokens`` for an upstream without a token-counting endpoint.

The answer is an estimate (no tokenizer is downloaded at run time): ``ceil(characters / 4)`` over
the compact JSON text (``separators=(",", ":")``, non-ASCII kept as characters) of the request's
``system``, ``messages`` and ``tools``. Four characters per token is the usual rule of thumb for
English text and code; expect an error of roughly ±25 % on prose and code, more on non-Latin
scripts (under-counted) and on base64 images (counted by their encoded length, far above what the
model bills). The response carries ``x-ccproxy-token-estimate: true`` so that clients and logs can
tell it is not exact. Claude Code uses the number to decide when to compact a conversation, which
an estimate of this quality serves. A provider passes :func:`estimated_count_tokens` as
``provider_router(..., count_tokens=...)``.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ccproxy.llm.errors import InvalidRequestError
from ccproxy.proxy.body import BodyError, loads_client_json
from ccproxy.proxy.dialect import Dialect
from ccproxy.proxy.errors import error_response
from ccproxy.proxy.request_checks import check_client_body

if TYPE_CHECKING:
    from starlette.requests import Request

    from ccproxy.proxy.pipeline import ProviderAdapter

__all__ = ["CHARS_PER_TOKEN", "ESTIMATE_HEADER", "estimate_input_tokens", "estimated_count_tokens"]

CHARS_PER_TOKEN = 4
ESTIMATE_HEADER = "x-ccproxy-token-estimate"


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """``ceil(len(json(system, messages, tools)) / 4)`` (see the module docstring)."""
    counted = {key: body[key] for key in ("system", "messages", "tools") if key in body}
    text = json.dumps(counted, ensure_ascii=False, separators=(",", ":"))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


async def estimated_count_tokens(adapter: ProviderAdapter, request: Request) -> Response:
    """Answer ``{"input_tokens": n}`` with the estimate header (400 in Anthropic's shape on bad input)."""
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
