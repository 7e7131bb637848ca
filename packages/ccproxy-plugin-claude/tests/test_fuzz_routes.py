"""Generated bodies of each format thrown at every ``/claude`` route: never a 5xx, errors always
in the route's dialect (the app starts once per module; the ``ci`` profile bounds the examples)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given

from ccproxy.testing.blocking import BlockingClient, blocking_app_client
from ccproxy.testing.strategies import assert_dialect_answer, json_values, request_bodies
from claude_kit import ClaudeWorld, by_path, entry_points

HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockingClient]:
    world = ClaudeWorld(tmp_path_factory.mktemp("home"))
    world.write_credentials()
    transport = httpx.ASGITransport(app=by_path(world.fake, world.oauth))
    with blocking_app_client(
        world.settings(), entry_points=entry_points(), http_transport=transport
    ) as running:
        yield running


def check(client: BlockingClient, route: str, body: Any) -> None:
    response = client.post(route, content=json.dumps(body).encode(), headers=HEADERS)
    assert_dialect_answer(response, route, body)


@given(body=request_bodies("anthropic"))
def test_messages_and_count_tokens(client: BlockingClient, body: Any) -> None:
    check(client, "/claude/v1/messages", body)
    check(client, "/claude/v1/messages/count_tokens", body)


@given(body=request_bodies("chat"))
def test_chat_completions(client: BlockingClient, body: Any) -> None:
    check(client, "/claude/v1/chat/completions", body)


@given(body=request_bodies("responses"))
def test_responses(client: BlockingClient, body: Any) -> None:
    check(client, "/claude/v1/responses", body)


@given(body=json_values)
def test_any_json_value(client: BlockingClient, body: Any) -> None:
    for route in ("/claude/v1/messages", "/claude/v1/chat/completions", "/claude/v1/responses"):
        check(client, route, body)
