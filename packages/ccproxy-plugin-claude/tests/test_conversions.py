"""OpenAI Chat Completions and Responses through /claude: converted to Messages and back."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from ccproxy.testing import Reply, ToolCallSpec
from claude_kit import IDENTITY, OAUTH_BETA, ClaudeWorld, openai_sdk, recorder

CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
RESPONSES_TOOL = {"type": "function", **CHAT_TOOL["function"]}  # type: ignore[dict-item]


def sent(world: ClaudeWorld) -> dict[str, Any]:
    body = world.fake.last_request.json
    assert isinstance(body, dict)
    return body


def cache_markers(body: dict[str, Any]) -> int:
    blocks = list(body.get("system") or []) + list(body.get("tools") or [])
    for message in body["messages"]:
        if isinstance(message["content"], list):
            blocks += message["content"]
    return sum(1 for block in blocks if block.get("cache_control"))


async def test_chat_tool_round_trip_non_streaming(world: ClaudeWorld) -> None:
    world.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"}, id="toolu_7")]),
        Reply.text("Sunny in Paris."),
    )
    messages: list[Any] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    async with world.app() as app:
        hook = recorder(app)
        client = openai_sdk(app)
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=messages, tools=[CHAT_TOOL]
        )
        first = raw.parse()
        first_upstream = sent(world)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls or []
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
        messages += [
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24°C"},
        ]
        second = await client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=[CHAT_TOOL]
        )
    assert first.model == "gpt-4o"
    assert second.choices[0].message.content == "Sunny in Paris."
    # converted upstream request: the Claude model, the identity first, tools in Messages shape
    assert first_upstream["model"] == "claude-sonnet-4-6"
    assert first_upstream["system"][0] == {"type": "text", "text": IDENTITY}
    assert first_upstream["system"][1]["text"] == "You are terse."
    assert first_upstream["tools"][0]["name"] == "get_weather"
    assert first_upstream["tools"][0]["input_schema"] == CHAT_TOOL["function"]["parameters"]  # type: ignore[index]
    # cache breakpoints added (end of system, last user turn), within the cap
    assert first_upstream["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first_upstream["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert 0 < cache_markers(first_upstream) <= 4
    last = sent(world)["messages"]
    assert last[-2]["content"][0]["type"] == "tool_use"
    assert last[-1]["content"][0]["type"] == "tool_result"
    assert last[-1]["content"][0]["tool_use_id"] == last[-2]["content"][0]["id"]
    headers = world.fake.last_request.headers
    assert headers["anthropic-beta"] == OAUTH_BETA
    assert headers["anthropic-version"] == "2023-06-01"
    # rate-limit headers on converted traffic too, and on the record
    assert raw.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.12"
    assert all(r.rate_limits.get("anthropic-ratelimit-unified-status") for r in hook.records)
    assert [r.client_format for r in hook.records] == ["chat", "chat"]


async def test_chat_streaming_tool_call_and_usage(world: ClaudeWorld) -> None:
    world.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Rome"})], text_before="Checking.")
    )
    async with world.app() as app:
        hook = recorder(app)
        stream = await openai_sdk(app).chat.completions.create(
            model="o3-mini",
            messages=[{"role": "user", "content": "Weather in Rome?"}],
            tools=[CHAT_TOOL],  # type: ignore[list-item]
            stream=True,
            stream_options={"include_usage": True},
        )
        text, arguments, names, finish = "", "", [], None
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    assert call.index == 0
                    if call.function and call.function.name:
                        names.append(call.function.name)
                    arguments += (call.function.arguments or "") if call.function else ""
                finish = choice.finish_reason or finish
    assert text == "Checking."
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Rome"}
    assert finish == "tool_calls"
    # The usage chunk for stream_options.include_usage is the core's (it does not pass the
    # request to the Chat stream encoder yet); the record has the usage either way.
    [record] = hook.records
    assert record.usage.output > 0
    assert record.rate_limits["anthropic-ratelimit-unified-status"] == "allowed"
    assert sent(world)["model"] == "claude-sonnet-4-6"
    assert sent(world)["stream"] is True


async def test_converted_request_keeps_temperature_not_top_p(world: ClaudeWorld) -> None:
    async with world.app() as app:
        await openai_sdk(app).chat.completions.create(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Hi"}],
            temperature=0.2,
            top_p=0.9,
        )
    body = sent(world)
    assert body["model"] == "claude-haiku-4-5"  # native names pass through
    assert body["temperature"] == 0.2
    assert "top_p" not in body


async def test_responses_tool_round_trip_with_previous_response_id(world: ClaudeWorld) -> None:
    world.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Lima"}, id="toolu_3")]),
        Reply.text("Foggy in Lima."),
    )
    async with world.app() as app:
        client = openai_sdk(app)
        first = await client.responses.create(
            model="gpt-5",
            instructions="You are terse.",
            input="Weather in Lima?",
            tools=[RESPONSES_TOOL],  # type: ignore[list-item]
        )
        first_upstream = sent(world)
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather"
        assert json.loads(call.arguments) == {"city": "Lima"}
        second = await client.responses.create(
            model="gpt-5",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "foggy"}],
            tools=[RESPONSES_TOOL],  # type: ignore[list-item]
        )
    assert first.model == "gpt-5"
    assert second.output_text == "Foggy in Lima."
    assert first_upstream["system"][0]["text"] == IDENTITY
    assert first_upstream["system"][1]["text"] == "You are terse."
    body = sent(world)
    assert body["model"] == "claude-sonnet-4-6"
    assert [b["text"] for b in body["system"]] == [IDENTITY]  # instructions do not carry over
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]  # the stored history was expanded
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    result = body["messages"][2]["content"][0]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == body["messages"][1]["content"][0]["id"]


async def test_responses_streaming(world: ClaudeWorld) -> None:
    world.fake.enqueue(Reply.text("Streamed answer."))
    async with world.app() as app:
        stream = await openai_sdk(app).responses.create(model="o4-mini", input="Hi", stream=True)
        deltas, final = [], None
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type == "response.completed":
                final = event.response
    assert "".join(deltas) == "Streamed answer."
    assert final is not None
    assert final.output_text == "Streamed answer."
    assert final.model == "o4-mini"


async def test_unknown_model_without_default_is_a_400_naming_the_setting(
    world: ClaudeWorld,
) -> None:
    world.claude = {"default_model": None}
    async with world.app() as app:
        client = openai_sdk(app)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="mistral-large", messages=[{"role": "user", "content": "Hi"}]
            )
        # GPT-style names follow default_model: unset, they are unknown too
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
            )
    assert "plugins.claude.default_model" in caught.value.message
    assert world.fake.requests == []
