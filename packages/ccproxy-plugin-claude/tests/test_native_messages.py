"""Native Messages through /claude: the passthrough branch with the Claude profile applied."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from ccproxy.testing import Reply, ToolCallSpec
from claude_kit import IDENTITY, OAUTH_BETA, ClaudeWorld, anthropic_sdk, recorder

BILLING = "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli; cch=12345;"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def upstream_body(world: ClaudeWorld) -> dict[str, Any]:
    body = world.fake.last_request.json
    assert isinstance(body, dict)
    return body


async def test_non_streaming_message_with_alias_headers_and_record(world: ClaudeWorld) -> None:
    world.fake.enqueue(Reply.text("Bonjour."))
    async with world.app() as app:
        hook = recorder(app)
        client = anthropic_sdk(app)
        raw = await client.messages.with_raw_response.create(
            model="sonnet", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
        message = await raw.parse()
    assert message.model == "sonnet"  # the client's name comes back
    assert [block.text for block in message.content if block.type == "text"] == ["Bonjour."]
    request = world.fake.last_request
    assert request.json["model"] == "claude-sonnet-4-6"
    assert request.headers["authorization"] == f"Bearer {world.access_token}"
    assert "x-api-key" not in request.headers  # the client's key never goes upstream
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["anthropic-beta"] == OAUTH_BETA
    # rate-limit windows reach the client and the record
    assert raw.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.12"
    assert raw.headers["request-id"].startswith("req_fake_")
    [record] = hook.records
    assert record.provider == "claude"
    assert record.route == "/claude/v1/messages"
    assert (record.client_model, record.upstream_model) == ("sonnet", "claude-sonnet-4-6")
    assert record.rate_limits["anthropic-ratelimit-unified-status"] == "allowed"
    assert record.rate_limits["anthropic-ratelimit-unified-5h-utilization"] == "0.12"
    assert record.status_code == 200
    assert record.usage.output > 0


async def test_streaming_tool_round_trip(world: ClaudeWorld) -> None:
    world.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"}, id="toolu_1")]),
        Reply.text("It is sunny in Paris."),
    )
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with world.app() as app:
        hook = recorder(app)
        client = anthropic_sdk(app)
        async with client.messages.stream(
            model="claude-opus-4-8", max_tokens=256, messages=messages, tools=[WEATHER_TOOL]
        ) as stream:
            first = await stream.get_final_message()
        assert first.stop_reason == "tool_use"
        [call] = [block for block in first.content if block.type == "tool_use"]
        assert (call.id, call.name, call.input) == ("toolu_1", "get_weather", {"city": "Paris"})
        messages += [
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
            },
        ]
        async with client.messages.stream(
            model="claude-opus-4-8", max_tokens=256, messages=messages, tools=[WEATHER_TOOL]
        ) as stream:
            second = await stream.get_final_message()
    assert second.content[0].type == "text"
    assert second.content[0].text == "It is sunny in Paris."
    sent = upstream_body(world)
    assert sent["stream"] is True
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent["messages"][-1]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "sunny",
    }
    assert [r.streaming for r in hook.records] == [True, True]
    assert all(r.rate_limits for r in hook.records)


async def test_thinking_history_passes_through_byte_identical(world: ClaudeWorld) -> None:
    signature = "EqQBCkYIBxgCKkBvF1+/sig==" + "x" * 200
    thinking = {"type": "thinking", "thinking": "Let me think… ünïcode", "signature": signature}
    redacted = {"type": "redacted_thinking", "data": "ErUBCkYIBxgCIkD+opaque/redacted=="}
    tool_use = {
        "type": "tool_use",
        "id": "toolu_9",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [thinking, redacted, tool_use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "cold"}],
        },
    ]
    async with world.app() as app:
        await anthropic_sdk(app).messages.create(
            model="claude-opus-4-8",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=messages,  # type: ignore[arg-type]
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
    sent = upstream_body(world)
    assert sent["messages"] == messages
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    raw = world.fake.last_request.body
    for block in (thinking, redacted):
        encoded = json.dumps(block, ensure_ascii=False, separators=(",", ":")).encode()
        assert encoded in raw


async def test_mid_conversation_system_message_and_unknown_fields_pass_through(
    world: ClaudeWorld,
) -> None:
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 64,
        "system": [{"type": "text", "text": BILLING}, {"type": "text", "text": IDENTITY}],
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "system", "content": "The user prefers short answers."},
        ],
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_abc"},
    }
    async with world.app() as app:
        client = anthropic_sdk(app)
        response = await client.post(
            "/v1/messages?beta=true",
            body=body,
            cast_to=object,
            options={"headers": {"anthropic-beta": "mid-conversation-system-2026-04-07"}},
        )
    assert isinstance(response, dict)
    assert response["type"] == "message"
    sent = upstream_body(world)
    assert sent["messages"] == body["messages"]
    for key in ("context_management", "output_config", "metadata", "system"):
        assert sent[key] == body[key]
    assert world.fake.last_request.query == {"beta": "true"}
    assert world.fake.last_request.headers["anthropic-beta"] == (
        f"mid-conversation-system-2026-04-07,{OAUTH_BETA}"
    )


async def test_client_betas_merged_without_additions(world: ClaudeWorld) -> None:
    betas = ["claude-code-20250219", "interleaved-thinking-2025-05-14", OAUTH_BETA]
    async with world.app() as app:
        client = anthropic_sdk(app)
        await client.beta.messages.create(
            model="claude-opus-4-8",
            max_tokens=64,
            messages=[{"role": "user", "content": "Hi"}],
            betas=betas,
        )
        beta_request = world.fake.last_request
        await client.messages.create(
            model="claude-opus-4-8", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
    assert beta_request.headers["anthropic-beta"] == ",".join(betas)  # no duplicate, none added
    assert world.fake.last_request.headers["anthropic-beta"] == OAUTH_BETA


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        pytest.param(None, [{"type": "text", "text": IDENTITY}], id="no-system"),
        pytest.param(
            "Be brief.",
            [{"type": "text", "text": IDENTITY}, {"type": "text", "text": "Be brief."}],
            id="absent-string",
        ),
        pytest.param(f"{IDENTITY}\nBe brief.", f"{IDENTITY}\nBe brief.", id="present-string"),
        pytest.param(
            [{"type": "text", "text": IDENTITY}, {"type": "text", "text": "Be brief."}],
            [{"type": "text", "text": IDENTITY}, {"type": "text", "text": "Be brief."}],
            id="present-blocks",
        ),
        pytest.param(
            [{"type": "text", "text": BILLING}, {"type": "text", "text": "Be brief."}],
            [
                {"type": "text", "text": BILLING},
                {"type": "text", "text": IDENTITY},
                {"type": "text", "text": "Be brief."},
            ],
            id="absent-after-billing-header",
        ),
        pytest.param(
            [
                {"type": "text", "text": BILLING},
                {"type": "text", "text": IDENTITY, "cache_control": {"type": "ephemeral"}},
            ],
            [
                {"type": "text", "text": BILLING},
                {"type": "text", "text": IDENTITY, "cache_control": {"type": "ephemeral"}},
            ],
            id="present-after-billing-header",
        ),
    ],
)
async def test_identity_prompt_prepended_only_when_absent(
    world: ClaudeWorld, system: Any, expected: Any
) -> None:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    if system is not None:
        body["system"] = system
    async with world.app() as app:
        await anthropic_sdk(app).messages.create(**body)
    assert upstream_body(world)["system"] == expected


async def test_cache_control_capped_and_null_temperature_dropped(world: ClaudeWorld) -> None:
    marker = {"type": "ephemeral"}
    messages = [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": [{"type": "text", "text": f"turn {i}", "cache_control": marker}],
        }
        for i in range(5)
    ]
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32,
        "temperature": None,
        "system": [{"type": "text", "text": IDENTITY, "cache_control": marker}],
        "tools": [{**WEATHER_TOOL, "cache_control": marker}],
        "messages": messages,
    }
    async with world.app() as app:
        client = anthropic_sdk(app)
        await client.post("/v1/messages", body=body, cast_to=object)
    sent = upstream_body(world)
    assert world.fake.last_request.status == 200
    assert "temperature" not in sent
    assert sent["tools"][0]["cache_control"] == marker  # the stable prefix keeps its markers
    assert sent["system"][0]["cache_control"] == marker
    kept = [m["content"][0].get("cache_control") is not None for m in sent["messages"]]
    assert kept == [False, False, False, True, True]  # the oldest message markers go first


async def test_upstream_error_reaches_the_client_in_its_dialect(world: ClaudeWorld) -> None:
    world.fake.enqueue(Reply.error(429, retry_after=7))
    async with world.app() as app:
        hook = recorder(app)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await anthropic_sdk(app).messages.create(
                model="claude-sonnet-4-6",
                max_tokens=32,
                messages=[{"role": "user", "content": "Hi"}],
            )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["anthropic-ratelimit-unified-status"] == "allowed"
    [record] = hook.records
    assert record.error_kind == "upstream_429"
    assert record.rate_limits["anthropic-ratelimit-unified-status"] == "allowed"
