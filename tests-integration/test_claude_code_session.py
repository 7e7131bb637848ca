"""A Claude Code–shaped session through ``/claude`` with raw httpx, as the CLI sends it.

The request carries everything a recent Claude Code puts on the wire: ``?beta=true``, its beta
tags and session header, a billing-header system block before the identity line, a long cached
prompt, a mid-conversation ``system`` message, adaptive thinking, ``output_config``,
``context_management``, ``metadata``, tools and ``stream: true``. The passthrough must deliver
all of it to the upstream, adding only the OAuth beta tag and the bearer token.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from ccproxy.testing import Reply
from integration_kit import CLAUDE_MODEL, Stack, provider_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
BILLING = "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch=00000;"
CLIENT_BETAS = [
    "claude-code-20250219",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "fine-grained-tool-streaming-2025-05-14",
]
LONG_PROMPT = "You are an interactive CLI tool that helps users with software engineering. " * 60
SESSION_ID = str(uuid.UUID(int=0x1234))
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}},
            "required": ["file_path"],
        },
        "cache_control": {"type": "ephemeral"},
    },
]


def headers() -> dict[str, str]:
    return {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": ",".join(CLIENT_BETAS),
        "anthropic-dangerous-direct-browser-access": "true",
        "x-app": "cli",
        "user-agent": "claude-cli/2.1.197 (external, cli)",
        "x-claude-code-session-id": SESSION_ID,
        "x-stainless-lang": "js",
        "authorization": "Bearer placeholder-the-proxy-replaces-it",
    }


def session_body() -> dict[str, Any]:
    return {
        "model": CLAUDE_MODEL,
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": BILLING},
            {"type": "text", "text": IDENTITY},
            {"type": "text", "text": LONG_PROMPT, "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List the files."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Running ls."}]},
            {"role": "system", "content": "The user switched to plan mode."},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Now summarise them.",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
        "tools": TOOLS,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {
            "edits": [{"type": "clear_thinking_20251015", "keep": "all"}],
        },
        "metadata": {"user_id": f"user_abc_account_def_session_{SESSION_ID}"},
        "x_future_field": {"nested": [1, 2, 3]},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    home: Path = tmp_path_factory.mktemp("claude-code-home")
    async with provider_stack(home) as running:
        yield running


def betas_of(value: str) -> list[str]:
    return [b.strip() for b in value.split(",") if b.strip()]


def system_texts(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system]
    return [block.get("text", "") for block in system]


def parse_sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in raw.split("\n\n"):
        name, data = None, None
        for line in frame.splitlines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:").strip())
        if name and data is not None:
            events.append((name, data))
    return events


async def test_streamed_messages_call_is_passed_through_with_the_oauth_profile(
    stack: Stack,
) -> None:
    stack.reset()
    stack.anthropic.enqueue(
        Reply.reasoning(
            "The user wants a summary.",
            then=Reply.text("Two files: README.md and setup.py.", usage={"input": 50, "output": 9}),
        )
    )
    body = session_body()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        async with client.stream(
            "POST", "/claude/v1/messages?beta=true", headers=headers(), json=body
        ) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            raw = (await response.aread()).decode()

    # The stream is relayed: every event, in order, ending with message_stop.
    events = parse_sse(raw)
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"
    text = "".join(
        data["delta"]["text"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta"
    )
    thinking = "".join(
        data["delta"]["thinking"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "thinking_delta"
    )
    assert text == "Two files: README.md and setup.py."
    assert thinking == "The user wants a summary."

    # What the upstream received.
    [seen] = stack.anthropic.requests_to("/v1/messages")
    assert seen.status == 200
    assert seen.query == {"beta": "true"}
    received_betas = betas_of(seen.headers["anthropic-beta"])
    assert "oauth-2025-04-20" in received_betas
    assert set(CLIENT_BETAS) <= set(received_betas)
    assert len(received_betas) == len(set(received_betas))
    assert set(received_betas) == {*CLIENT_BETAS, "oauth-2025-04-20"}  # nothing else added
    assert seen.headers["x-claude-code-session-id"] == SESSION_ID
    assert seen.bearer_token == stack.claude_creds["access_token"]
    assert "x-api-key" not in seen.headers

    upstream = seen.json
    texts = system_texts(upstream["system"])
    assert texts.count(IDENTITY) == 1
    assert texts[0] == BILLING  # the billing header is kept (and first) on this passthrough
    assert texts[1] == IDENTITY
    assert upstream["system"][2] == body["system"][2]  # cache_control kept
    for field in (
        "messages",
        "tools",
        "thinking",
        "output_config",
        "context_management",
        "metadata",
        "x_future_field",
        "max_tokens",
        "stream",
        "model",
    ):
        assert upstream[field] == body[field], field
    assert upstream["messages"][2] == {
        "role": "system",
        "content": "The user switched to plan mode.",
    }


async def test_count_tokens_keeps_the_query_and_gets_the_same_profile(stack: Stack) -> None:
    stack.reset()
    body = session_body()
    for name in ("stream", "max_tokens", "metadata"):
        body.pop(name)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        response = await client.post(
            "/claude/v1/messages/count_tokens?beta=true", headers=headers(), json=body
        )
    assert response.status_code == 200, response.text
    [seen] = stack.anthropic.requests_to("/v1/messages/count_tokens")
    assert seen.status == 200
    assert response.json()["input_tokens"] > 0
    assert seen.query == {"beta": "true"}
    assert set(betas_of(seen.headers["anthropic-beta"])) == {*CLIENT_BETAS, "oauth-2025-04-20"}
    assert seen.bearer_token == stack.claude_creds["access_token"]
    texts = system_texts(seen.json["system"])
    assert texts.count(IDENTITY) == 1
    assert BILLING in texts
    assert seen.json["x_future_field"] == body["x_future_field"]
    assert seen.json["messages"] == body["messages"]
    assert seen.json["thinking"] == {"type": "adaptive"}


async def test_identity_is_added_once_after_the_billing_header_when_missing(stack: Stack) -> None:
    stack.reset()
    body = session_body()
    body["system"] = [body["system"][0], body["system"][2]]  # billing header, long prompt
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        async with client.stream(
            "POST", "/claude/v1/messages?beta=true", headers=headers(), json=body
        ) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            raw = (await response.aread()).decode()
    assert [name for name, _ in parse_sse(raw)][-1] == "message_stop"
    [seen] = stack.anthropic.requests_to("/v1/messages")
    texts = system_texts(seen.json["system"])
    assert texts.count(IDENTITY) == 1
    assert BILLING in texts
    assert LONG_PROMPT in texts
    assert texts.index(IDENTITY) < texts.index(LONG_PROMPT)
