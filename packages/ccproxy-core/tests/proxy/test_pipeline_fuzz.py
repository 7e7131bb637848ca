"""Generated JSON bodies thrown at every provider route of both upstream kinds: the answer is
never a 5xx, and an error is always in the route's dialect.

The apps start once per module on a blocking portal (``ccproxy.testing.blocking``), so Hypothesis
drives plain functions; the ``ci`` profile bounds the examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from hypothesis import given
from provider_kit import ListTokenSource, provider

from ccproxy.config import Settings
from ccproxy.testing import FakeAnthropic, FakeCodex
from ccproxy.testing.blocking import BlockingClient, blocking_app_client
from ccproxy.testing.strategies import json_values, request_bodies

SETTINGS = Settings(plugins_disable_local_discovery=True)
HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}


def apps() -> dict[str, dict[str, Any]]:
    return {
        "anthropic": {
            "entry_points": [
                provider(token_source=ListTokenSource("tok"), default_model="claude-sonnet-4-6")
            ],
            "http_transport": httpx.ASGITransport(app=FakeAnthropic(accepted_tokens={"tok"})),
        },
        "responses": {
            "entry_points": [
                provider(
                    upstream_format="responses",
                    token_source=ListTokenSource("tok"),
                    native_prefix="gpt-",
                    default_model="gpt-5",
                )
            ],
            "http_transport": httpx.ASGITransport(
                app=FakeCodex(accepted_tokens={"tok": "acct-test"})
            ),
        },
    }


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, BlockingClient]]:
    """A client for an app in front of each fake upstream, started once for the module."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(blocking_app_client(SETTINGS, **kwargs))
            for name, kwargs in apps().items()
        }


def check(clients: dict[str, BlockingClient], route: str, body: Any) -> None:
    raw = json.dumps(body).encode()
    for upstream, client in clients.items():
        response = client.post(route, content=raw, headers=HEADERS)
        assert response.status_code < 500, (upstream, route, body, response.text)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error["message"], str)
            if route.endswith("/messages"):
                assert response.json()["type"] == "error"
                assert set(error) == {"type", "message"}
            else:
                assert set(error) >= {"type", "message", "param", "code"}


@given(body=request_bodies("anthropic"))
def test_generated_messages_bodies_never_get_a_5xx(
    clients: dict[str, BlockingClient], body: Any
) -> None:
    check(clients, "/testprov/v1/messages", body)


@given(body=request_bodies("chat"))
def test_generated_chat_bodies_never_get_a_5xx(
    clients: dict[str, BlockingClient], body: Any
) -> None:
    check(clients, "/testprov/v1/chat/completions", body)


@given(body=request_bodies("responses"))
def test_generated_responses_bodies_never_get_a_5xx(
    clients: dict[str, BlockingClient], body: Any
) -> None:
    check(clients, "/testprov/v1/responses", body)


@given(body=json_values)
def test_any_json_value_as_the_body_never_gets_a_5xx(
    clients: dict[str, BlockingClient], body: Any
) -> None:
    for route in (
        "/testprov/v1/messages",
        "/testprov/v1/chat/completions",
        "/testprov/v1/responses",
    ):
        check(clients, route, body)
