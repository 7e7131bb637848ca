"""Content parts and input items of a type the client's format does not have are a 400 naming
the field and the type, on every converted route; types real clients send still go through."""

from __future__ import annotations

from typing import Any

import pytest
from provider_kit import proxy_app

from ccproxy.testing import app_client

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGES = "/testprov/v1/messages"
CHAT = "/testprov/v1/chat/completions"
RESPONSES = "/testprov/v1/responses"
BOGUS = {"type": "bogus", "bogus": "what is this"}


def body_for(route: str, turns: list[dict[str, Any]]) -> dict[str, Any]:
    if route == RESPONSES:
        return {"model": "claude-sonnet-4-6", "input": turns}
    return {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": turns}


# (route, upstream format, turns, field): every converted route.
UNKNOWN = [
    (MESSAGES, "responses", [{"role": "user", "content": [BOGUS]}], "messages.0.content.0.type"),
    (CHAT, "responses", [{"role": "user", "content": [BOGUS]}], "messages.0.content.0.type"),
    (CHAT, "anthropic", [{"role": "user", "content": [BOGUS]}], "messages.0.content.0.type"),
    (
        CHAT,
        "anthropic",
        [{"role": "system", "content": [{"type": "text", "text": "Be brief."}, BOGUS]}],
        "messages.0.content.1.type",
    ),
    (RESPONSES, "anthropic", [{"role": "user", "content": [BOGUS]}], "input.0.content.0.type"),
    (RESPONSES, "anthropic", [{"role": "user", "content": "Hi"}, BOGUS], "input.1.type"),
    (
        MESSAGES,
        "responses",
        [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f"}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [BOGUS]}],
            },
        ],
        "messages.1.content.0.content.0.type",
    ),
    (
        RESPONSES,
        "anthropic",
        [
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [BOGUS]},
        ],
        "input.1.output.0.type",
    ),
]


@pytest.mark.parametrize(("route", "upstream_format", "turns", "field"), UNKNOWN)
async def test_an_unknown_type_is_a_400_naming_the_field_and_the_type(
    route: str, upstream_format: str, turns: list[dict[str, Any]], field: str
) -> None:
    async with proxy_app(upstream_format) as (app, fake, recorder):
        async with app_client(app) as client:
            response = await client.post(route, json=body_for(route, turns), headers=HEADERS)
    assert response.status_code == 400, response.text
    payload = response.json()
    error = payload["error"]
    assert error["type"] == "invalid_request_error"
    assert f"{field}: unknown type 'bogus'" in error["message"]
    if route == MESSAGES:
        assert payload["type"] == "error"
    else:
        assert error["param"] == field
    assert fake.requests == []
    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (400, "invalid_request")


async def test_a_long_or_non_string_type_is_shown_shortened_or_by_its_json_type() -> None:
    long = {"type": "x" * 500}
    async with proxy_app("anthropic") as (app, _, _):
        async with app_client(app) as client:
            shown = await client.post(
                CHAT, json=body_for(CHAT, [{"role": "user", "content": [long]}])
            )
            numeric = await client.post(
                RESPONSES, json=body_for(RESPONSES, [{"role": "user", "content": [{"type": 7}]}])
            )
    assert shown.status_code == 400
    assert "'" + "x" * 40 + "…'" in shown.json()["error"]["message"]
    assert "x" * 41 not in shown.json()["error"]["message"]
    assert numeric.status_code == 400
    assert numeric.json()["error"]["param"] == "input.0.content.0.type"


# Types the official clients and SDKs send, which the proxy converts, carries or drops on purpose.
ANTHROPIC_KNOWN = [
    {"type": "text", "text": "Hi"},
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
    {"type": "search_result", "source": "s", "title": "t", "content": []},
    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
    {"type": "container_upload", "file_id": "file_2"},
]
ANTHROPIC_ASSISTANT_KNOWN = [
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
    {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_1", "content": {}},
    {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "x", "server_name": "s", "input": {}},
    {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "content": []},
    {"type": "text", "text": "Found it."},
]
CHAT_KNOWN = [
    {"type": "text", "text": "Hi"},
    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    {"type": "file", "file": {"file_id": "file-1"}},
]
RESPONSES_KNOWN_ITEMS: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Hi"},
            {"type": "input_image", "image_url": "https://x.test/a.png"},
            {"type": "input_file", "file_id": "file-1"},
        ],
    },
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Ok"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No"}]},
    {"type": "reasoning", "summary": [], "encrypted_content": "gAAA"},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    {
        "type": "function_call_output",
        "call_id": "c1",
        "output": [{"type": "input_text", "text": "done"}, {"type": "input_file", "file_id": "f"}],
    },
    {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "ok"},
    {"type": "local_shell_call", "call_id": "c3", "action": {"type": "exec", "command": ["ls"]}},
    {"type": "local_shell_call_output", "call_id": "c3", "output": "README.md"},
    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    {"type": "item_reference", "id": "msg_earlier"},
    {"type": "compaction", "encrypted_content": "gAAA"},
    {"role": "user", "content": "Go on."},
]


@pytest.mark.parametrize(
    ("route", "upstream_format", "turns"),
    [
        (
            MESSAGES,
            "responses",
            [
                {"role": "user", "content": ANTHROPIC_KNOWN},
                {"role": "assistant", "content": ANTHROPIC_ASSISTANT_KNOWN},
                {"role": "user", "content": "Go on."},
            ],
        ),
        (CHAT, "anthropic", [{"role": "user", "content": CHAT_KNOWN}]),
        (CHAT, "responses", [{"role": "user", "content": CHAT_KNOWN}]),
        (
            CHAT,
            "anthropic",
            [
                {"role": "user", "content": "Say no."},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                {"role": "user", "content": "Fine."},
            ],
        ),
        (RESPONSES, "anthropic", RESPONSES_KNOWN_ITEMS),
    ],
)
async def test_types_real_clients_send_are_still_served(
    route: str, upstream_format: str, turns: list[dict[str, Any]]
) -> None:
    async with proxy_app(upstream_format) as (app, fake, _):
        async with app_client(app) as client:
            response = await client.post(route, json=body_for(route, turns), headers=HEADERS)
    assert response.status_code == 200, response.text
    assert len(fake.requests) == 1


async def test_passthrough_routes_leave_content_types_to_the_upstream() -> None:
    """The upstream of the client's own format judges types it may know and we do not."""
    turns = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, BOGUS]}]
    async with proxy_app("anthropic") as (app, fake, _):
        async with app_client(app) as client:
            await client.post(MESSAGES, json=body_for(MESSAGES, turns), headers=HEADERS)
    [sent] = fake.requests
    assert BOGUS in sent.json["messages"][0]["content"]
