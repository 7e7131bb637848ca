"""Small edges an audit found: foreign error shapes, relayed headers, encoded bodies, HEAD."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import httpx
import pytest
from test_pipeline_edges import HEADERS, post_with_upstream_error, proxy_app, request_body

from ccproxy.testing import Reply, app_client

ANTHROPIC_SHAPED = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "Slow down, please."},
}
OPENAI_SHAPED = {
    "error": {
        "message": "Slow down, please.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


# --- upstream errors of the other dialect ----------------------------------------------------


async def test_an_anthropic_shaped_error_on_the_responses_passthrough_becomes_an_openai_error() -> (
    None
):
    reply = Reply.error(429, body=ANTHROPIC_SHAPED, retry_after=7)
    response, _ = await post_with_upstream_error("responses", "/testprov/v1/responses", reply)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "error": {
            "message": "Slow down, please.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


async def test_an_openai_shaped_error_on_the_messages_passthrough_becomes_an_anthropic_error() -> (
    None
):
    reply = Reply.error(429, body=OPENAI_SHAPED, retry_after=7)
    response, _ = await post_with_upstream_error("anthropic", "/testprov/v1/messages", reply)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down, please."},
    }


@pytest.mark.parametrize("upstream", ["anthropic", "responses"])
@pytest.mark.parametrize(
    "route", ["/testprov/v1/messages", "/testprov/v1/chat/completions", "/testprov/v1/responses"]
)
@pytest.mark.parametrize("shape", ["anthropic", "openai"])
async def test_every_upstream_error_shape_reaches_every_route_in_its_dialect(
    upstream: str, route: str, shape: str
) -> None:
    body = ANTHROPIC_SHAPED if shape == "anthropic" else OPENAI_SHAPED
    reply = Reply.error(503, body=body, retry_after=3)
    response, _ = await post_with_upstream_error(upstream, route, reply)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    payload = response.json()
    if route.endswith("/messages"):
        assert payload["type"] == "error"
        assert set(payload["error"]) == {"type", "message"}
    else:
        assert "type" not in payload
        assert set(payload["error"]) >= {"message", "type", "param", "code"}
    assert payload["error"]["message"] == "Slow down, please."
