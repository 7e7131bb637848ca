"""Generated bodies of each format thrown at every ``/codex`` route: never a 5xx, errors always
in the route's dialect (the app starts once per module; the ``ci`` profile bounds the examples)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given

from ccproxy.testing.blocking import BlockingClient, blocking_app_client
from ccproxy.testing.strategies import assert_dialect_answer, json_values, request_bodies
from codex_kit import Setup, entry_points

HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockingClient]:
    setup = Setup(tmp_path_factory.mktemp("home"))
    setup.write_credentials()
    with blocking_app_client(
        setup.settings(), entry_points=entry_points(), http_transport=setup.transport()
    ) as running:
        yield running


def check(client: BlockingClient, route: str, body: Any) -> None:
    response = client.post(route, content=json.dumps(body).encode(), headers=HEADERS)
    assert_dialect_answer(response, route, body)


@given(body=request_bodies("anthropic"))
def test_messages_and_count_tokens(client: BlockingClient, body: Any) -> None:
    check(client, "/codex/v1/messages", body)
    check(client, "/codex/v1/messages/count_tokens", body)


@given(body=request_bodies("chat"))
def test_chat_completions(client: BlockingClient, body: Any) -> None:
    check(client, "/codex/v1/chat/completions", body)


@given(body=request_bodies("responses"))
def test_responses(client: BlockingClient, body: Any) -> None:
    check(client, "/codex/v1/responses", body)


@given(body=json_values)
def test_any_json_value(client: BlockingClient, body: Any) -> None:
    for route in ("/codex/v1/messages", "/codex/v1/chat/completions", "/codex/v1/responses"):
        check(client, route, body)
