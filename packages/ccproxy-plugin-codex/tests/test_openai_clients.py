"""The official ``openai`` SDK on ``/codex/v1``: Responses (native) and Chat Completions (converted)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import openai
import pytest

from ccproxy.testing import Reply, ToolCallSpec, app_client
from codex_kit import Setup, codex_app, openai_sdk, record_requests, upstream_bodies

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CHAT_WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": WEATHER_TOOL["parameters"],
    },
}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ready = Setup(tmp_path)
    ready.write_credentials()
    return ready


# --- Responses: native passthrough --------------------------------------------------------


async def test_responses_with_string_input_get_the_profile_edits(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("Hello there"))
    async with codex_app(setup) as app:
        response = await openai_sdk(app).responses.create(
            model="gpt-5",
            input="Hello",
            max_output_tokens=50,
            temperature=0.2,
            metadata={"team": "a"},
        )
    assert response.output_text == "Hello there"
    assert response.model == "gpt-5"
    [body] = upstream_bodies(setup.fake)
    assert body["stream"] is True
    assert body["store"] is False
    for dropped in ("max_output_tokens", "temperature", "metadata"):
        assert dropped not in body
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}
    ]
    headers = setup.fake.requests[0].headers
    assert headers["authorization"] == f"Bearer {setup.creds['access_token']}"
    assert headers["chatgpt-account-id"] == "acct-codex-fake"
    assert headers["openai-beta"] == "responses=experimental"
    assert headers["originator"] == "codex_cli_rs"
    assert headers["accept"] == "text/event-stream"
    assert "tools" not in body  # never injected


async def test_responses_stream_with_tools_and_reasoning(setup: Setup) -> None:
    setup.fake.enqueue(
        Reply.reasoning(
            "The user wants weather.",
            then=Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"})]),
        )
    )
    async with codex_app(setup) as app:
        stream = await openai_sdk(app).responses.create(
            model="gpt-5",
            input=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            reasoning={"effort": "low", "summary": "auto"},
            include=["reasoning.encrypted_content"],
            stream=True,
        )
        events = [event async for event in stream]
    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in types
    assert "response.function_call_arguments.delta" in types
    final = events[-1].response  # type: ignore[union-attr]
    reasoning, call = final.output
    assert reasoning.type == "reasoning"
    assert reasoning.encrypted_content.startswith("enc-")  # type: ignore[union-attr]
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})  # type: ignore[union-attr]
    [body] = upstream_bodies(setup.fake)
    assert body["tools"] == [WEATHER_TOOL]
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]


async def test_previous_response_id_chains_a_tool_loop(setup: Setup) -> None:
    setup.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Oslo"})]),
        Reply.text("It is cold in Oslo."),
    )
    async with codex_app(setup) as app:
        client = openai_sdk(app)
        first = await client.responses.create(
            model="gpt-5",
            instructions="Be brief.",
            input="Weather in Oslo?",
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        [call] = first.output
        assert call.type == "function_call"
        second = await client.responses.create(
            model="gpt-5",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-12C"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        with pytest.raises(openai.BadRequestError) as unknown:
            await client.responses.create(
                model="gpt-5", input="again", previous_response_id="resp_unknown"
            )
    assert second.output_text == "It is cold in Oslo."
    _, body = upstream_bodies(setup.fake)
    assert "previous_response_id" not in body
    kinds = [item.get("type", "message") for item in body["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]
    assert body["input"][1]["call_id"] == call.call_id
    assert body["input"][2]["output"] == "-12C"
    assert "resp_unknown" in unknown.value.message


async def test_codex_cli_fields_and_headers_reach_the_backend_unchanged(setup: Setup) -> None:
    """Native Responses traffic keeps developer messages, client_metadata, prompt_cache_key,
    include and the session-id/thread-id headers, and gets the x-codex-* headers back."""
    body = {
        "model": "gpt-5",
        "instructions": None,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are Codex."}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a-session",
        "client_metadata": {"x-codex-installation-id": "inst-1", "turn_id": "t-1"},
    }
    headers = {
        "session-id": "019a-session",
        "thread-id": "019a-thread",
        "x-codex-window-id": "019a-session:0",
        "originator": "codex_exec",
        "authorization": "Bearer client-side-key",
    }
    setup.fake.enqueue(Reply.text("hello", headers={"x-codex-primary-used-percent": "42.5"}))
    async with codex_app(setup) as app:
        recorder = record_requests(app)
        async with app_client(app) as client:
            response = await client.post("/codex/v1/responses", json=body, headers=headers)
    assert response.status_code == 200
    assert "response.completed" in response.text
    assert response.headers["x-codex-primary-used-percent"] == "42.5"
    assert response.headers["x-codex-secondary-used-percent"] == "3.0"
    [received] = upstream_bodies(setup.fake)
    assert received == body
    upstream_headers = setup.fake.requests[0].headers
    for name in ("session-id", "thread-id", "x-codex-window-id"):
        assert upstream_headers[name] == headers[name]
    assert "session_id" not in upstream_headers  # only converted traffic gets a derived key
    assert upstream_headers["authorization"] != "Bearer client-side-key"
    [record] = recorder.records
    assert record.rate_limits["x-codex-primary-used-percent"] == "42.5"
    assert record.rate_limits["x-codex-secondary-window-minutes"] == "10080"
    assert (record.client_format, record.upstream_format) == ("responses", "responses")
    assert record.account == "default"  # the account's name in the pool, never a token or id
    assert record.usage.output > 0


async def test_aliases_restore_the_client_model_in_stream_events(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("quick"))
    async with codex_app(setup, codex={"model_aliases": {"fast": "gpt-6-luna"}}) as app:
        stream = await openai_sdk(app).responses.create(model="fast", input="hi", stream=True)
        events = [event async for event in stream]
    [body] = upstream_bodies(setup.fake)
    assert body["model"] == "gpt-6-luna"
    models = {event.response.model for event in events if hasattr(event, "response")}  # type: ignore[union-attr]
    assert models == {"fast"}


# --- Chat Completions: converted -----------------------------------------------------------


async def test_chat_completion_with_system_text_and_tools(setup: Setup) -> None:
    setup.fake.enqueue(Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Rome"})]))
    async with codex_app(setup, codex={"model_aliases": {"my-model": "gpt-5"}}) as app:
        completion = await openai_sdk(app).chat.completions.create(
            model="my-model",
            messages=[
                {"role": "system", "content": "You answer about weather."},
                {"role": "user", "content": "Rome?"},
            ],
            tools=[CHAT_WEATHER_TOOL],
            max_completion_tokens=100,
            temperature=0.5,
        )
    choice = completion.choices[0]
    assert completion.model == "my-model"
    assert choice.finish_reason == "tool_calls"
    [tool_call] = choice.message.tool_calls or []
    assert tool_call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(tool_call.function.arguments) == {"city": "Rome"}  # type: ignore[union-attr]
    [body] = upstream_bodies(setup.fake)
    assert body["model"] == "gpt-5"
    assert body["instructions"] == "You answer about weather."
    assert all(item.get("role") != "system" for item in body["input"])
    assert "max_completion_tokens" not in body
    assert "max_output_tokens" not in body
    assert "temperature" not in body
    assert [tool["name"] for tool in body["tools"]] == ["get_weather"]
    assert body["prompt_cache_key"]
    assert setup.fake.requests[0].headers["session_id"] == body["prompt_cache_key"]


async def test_chat_completion_stream_and_conversation_key(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("one two three"), Reply.text("four"))
    messages: Any = [
        {"role": "system", "content": "Count."},
        {"role": "user", "content": "Start counting"},
    ]
    async with codex_app(setup) as app:
        client = openai_sdk(app)
        stream = await client.chat.completions.create(model="gpt-5", messages=messages, stream=True)
        chunks = [chunk async for chunk in stream]
        # Next turn of the same conversation: same derived key.
        await client.chat.completions.create(
            model="gpt-5",
            messages=[
                *messages,
                {"role": "assistant", "content": "one two three"},
                {"role": "user", "content": "go on"},
            ],
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {"gpt-5"}
    first, second = upstream_bodies(setup.fake)
    assert first["prompt_cache_key"] == second["prompt_cache_key"]
    first_headers, second_headers = (r.headers for r in setup.fake.requests)
    assert first_headers["session_id"] == second_headers["session_id"] == first["prompt_cache_key"]


async def test_chat_stream_ends_with_a_usage_chunk_when_asked(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("counted"))
    async with codex_app(setup) as app:
        stream = await openai_sdk(app).chat.completions.create(
            model="gpt-5",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []


async def test_upstream_errors_reach_openai_clients_in_their_dialect(setup: Setup) -> None:
    setup.fake.enqueue(Reply.error(429, message="You hit your usage limit.", retry_after=30))
    async with codex_app(setup) as app:
        with pytest.raises(openai.RateLimitError) as error:
            await openai_sdk(app).chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "hi"}]
            )
    assert "usage limit" in error.value.message
    assert error.value.response.headers["retry-after"] == "30"


async def test_previous_response_id_works_across_instances_sharing_redis(
    setup: Setup, redis_url: str
) -> None:
    """Two proxies behind a load balancer: the turn answered by one chains on the other."""
    setup.fake.enqueue(Reply.text("First answer."), Reply.text("Second answer."))
    state = {"redis_url": redis_url, "key_prefix": f"codex-{secrets.token_hex(4)}:"}
    async with codex_app(setup, state=state) as one, codex_app(setup, state=state) as two:
        first = await openai_sdk(one).responses.create(model="gpt-5", input="Hello")
        second = await openai_sdk(two).responses.create(
            model="gpt-5", input="And then?", previous_response_id=first.id
        )
    assert second.output_text == "Second answer."
    _, body = upstream_bodies(setup.fake)
    texts = [part["text"] for item in body["input"] for part in item.get("content", [])]
    assert texts == ["Hello", "First answer.", "And then?"]
