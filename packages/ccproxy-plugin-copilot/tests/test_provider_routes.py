"""The three client APIs through the official SDKs, passthrough and converted, streamed and not,
routed by each model's ``supported_endpoints`` (FakeCopilot's catalogue: Claude models speak Chat
and Messages, ``gpt-5`` Chat and Responses, ``gpt-5.1-codex`` only Responses, the rest Chat)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from ccproxy.testing import FakeCopilot, LiveServer, Reply, ToolCallSpec, app_client
from copilot_kit import (
    anthropic_sdk,
    copilot_app,
    model_calls,
    openai_sdk,
    record_requests,
    served,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SDKs on old Claude ids


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gpt-4.1", "/chat/completions"),  # passthrough
        ("claude-sonnet-4.5", "/chat/completions"),  # Chat is served: passthrough, not converted
        ("gpt-5.1-codex", "/responses"),  # only Responses: converted
    ],
)
async def test_chat_clients_go_to_the_client_format_when_served_else_converted(
    model: str, path: str
) -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("Hello from Copilot."), Reply.text("Streamed reply."))
    async with copilot_app(fake) as app:
        recorder = record_requests(app)
        client = openai_sdk(app)
        whole = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}]
        )
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert whole.choices[0].message.content == "Hello from Copilot."
    assert whole.model == model
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed reply."
    assert {c.model for c in chunks} == {model}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert served(fake) == [(path, model), (path, model)]
    upstream_format = {"/chat/completions": "chat", "/responses": "responses"}[path]
    assert [r.upstream_format for r in recorder.records] == [upstream_format] * 2
    assert all(r.usage.input > 0 and r.usage.output > 0 for r in recorder.records), [
        r.usage for r in recorder.records
    ]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("claude-sonnet-4.5", "/v1/messages"),  # passthrough
        ("gpt-5.1-codex", "/responses"),  # converted
        ("gemini-2.5-pro", "/chat/completions"),  # converted
    ],
)
async def test_messages_clients_stream_and_not(model: str, path: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(
        Reply.text("Bonjour."),
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"})], text_before="Checking."),
    )
    async with copilot_app(fake) as app:
        recorder = record_requests(app)
        client = anthropic_sdk(app)
        message = await client.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
        async with client.messages.stream(
            model=model,
            max_tokens=64,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[
                {
                    "name": "get_weather",
                    "description": "Weather",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ],
        ) as stream:
            final = await stream.get_final_message()
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert message.model == final.model == model
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert served(fake) == [(path, model), (path, model)]
    assert all(r.usage.output > 0 for r in recorder.records)


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gpt-5.1-codex", "/responses"),  # passthrough
        ("gpt-5", "/responses"),  # Responses is served: passthrough
        ("claude-sonnet-4.5", "/v1/messages"),  # converted to the richest format it serves
        ("gpt-4.1", "/chat/completions"),  # converted
    ],
)
async def test_responses_clients_stream_and_not(model: str, path: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("Whole answer."), Reply.text("Streamed answer."))
    async with copilot_app(fake) as app:
        recorder = record_requests(app)
        client = openai_sdk(app)
        whole = await client.responses.create(model=model, input="Hi")
        events = [
            e async for e in await client.responses.create(model=model, input="Hi", stream=True)
        ]
    assert whole.output_text == "Whole answer."
    assert whole.model == model
    done = [e for e in events if e.type == "response.completed"]
    assert done and done[0].response.output_text == "Streamed answer."
    assert done[0].response.model == model
    assert served(fake) == [(path, model), (path, model)]
    assert all(r.usage.output > 0 for r in recorder.records)


async def test_claude_code_style_request_passes_through_with_beta_query_dropped() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("ok"))
    async with copilot_app(fake) as app:
        client = anthropic_sdk(app)
        message = await client.messages.create(
            model="claude-opus-4-8[1m]",
            max_tokens=64,
            system=[{"type": "text", "text": "You are Claude Code."}],
            messages=[{"role": "user", "content": "Hi"}],
            extra_query={"beta": "true"},
            extra_headers={"anthropic-beta": "claude-code-20250219"},
        )
    assert message.model == "claude-opus-4-8[1m]"
    call = model_calls(fake)[0]
    assert (call.path, call.query) == ("/v1/messages", {})
    assert call.json["model"] == "claude-opus-4.1"  # the newest Opus of the catalogue
    assert call.headers["anthropic-beta"] == "claude-code-20250219"


async def streamed_over_a_socket(app: Any, model: str) -> tuple[list[str], list[str]]:
    async with LiveServer(app) as server:
        chat = openai_sdk(base=server.url)
        chat_stream = await chat.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        chat_text = [c.choices[0].delta.content or "" async for c in chat_stream if c.choices]
        claude = anthropic_sdk(base=server.url)
        async with claude.messages.stream(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            claude_text = [text async for text in stream.text_stream]
    return chat_text, claude_text


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-5.1-codex"])
async def test_streams_arrive_in_pieces_over_a_real_server(model: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(
        Reply.text("one two three", delay_between_events=0.01),
        Reply.text("four five six", delay_between_events=0.01),
    )
    async with copilot_app(fake) as app:
        chat_text, claude_text = await streamed_over_a_socket(app, model)
    assert "".join(chat_text) == "one two three" and len([t for t in chat_text if t]) == 3
    assert "".join(claude_text) == "four five six" and len(claude_text) == 3


async def test_no_credentials_answer_401_naming_the_login_in_each_dialect() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake, with_auth=False) as app:
        with pytest.raises(openai.APIStatusError) as chat_error:
            await openai_sdk(app).chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
            )
        with pytest.raises(anthropic.APIStatusError) as claude_error:
            await anthropic_sdk(app).messages.create(
                model="claude-sonnet-4-5",
                max_tokens=8,
                messages=[{"role": "user", "content": "Hi"}],
            )
    for error in (chat_error.value, claude_error.value):
        assert error.status_code == 401
        assert "ccproxy auth login copilot" in str(error)
    assert model_calls(fake) == []


async def test_more_output_tokens_than_the_model_allows_are_lowered_to_its_limit() -> None:
    fake = FakeCopilot()  # claude-opus-4.1 allows 16000 output tokens
    fake.enqueue(Reply.text("Short."), Reply.text("Short too."))
    async with copilot_app(fake) as app:
        messages = await anthropic_sdk(app).messages.create(
            model="claude-opus-4-1",
            max_tokens=20000,  # Claude Code asks for 64000 (streamed)
            messages=[{"role": "user", "content": "Hi"}],
        )
        chat = await openai_sdk(app).chat.completions.create(
            model="gpt-4.1",
            max_completion_tokens=10**6,
            messages=[{"role": "user", "content": "Hi"}],
        )
    assert messages.content[0].text == "Short." and chat.choices[0].message.content == "Short too."
    sent = [call.json for call in model_calls(fake)]
    limits = {m["id"]: m["capabilities"]["limits"]["max_output_tokens"] for m in fake.models}
    assert sent[0]["max_tokens"] == limits["claude-opus-4.1"]
    assert sent[1]["max_completion_tokens"] == limits["gpt-4.1"]


@pytest.mark.parametrize(
    ("limit", "thinking", "sent"),
    [
        # the budget stays below the lowered max_tokens
        (
            16000,
            {"type": "enabled", "budget_tokens": 18000},
            {"type": "enabled", "budget_tokens": 15999},
        ),
        (
            16000,
            {"type": "enabled", "budget_tokens": 16000},
            {"type": "enabled", "budget_tokens": 15999},
        ),
        (
            16000,
            {"type": "enabled", "budget_tokens": 4000},
            {"type": "enabled", "budget_tokens": 4000},
        ),
        # below Anthropic's 1024 minimum: no thinking rather than a refused request
        (1000, {"type": "enabled", "budget_tokens": 1500}, None),
        (1024, {"type": "enabled", "budget_tokens": 1500}, None),
        (
            1025,
            {"type": "enabled", "budget_tokens": 1500},
            {"type": "enabled", "budget_tokens": 1024},
        ),
        (16000, {"type": "adaptive"}, {"type": "adaptive"}),
    ],
)
async def test_a_lowered_max_tokens_keeps_the_thinking_budget_below_it(
    limit: int, thinking: dict[str, Any], sent: dict[str, Any] | None
) -> None:
    fake = FakeCopilot()
    model = fake.model("claude-opus-4.1")
    assert model is not None
    model["capabilities"]["limits"]["max_output_tokens"] = limit
    fake.enqueue(Reply.text("Thought about it."))
    async with copilot_app(fake) as app, app_client(app) as client:
        response = await client.post(
            "/copilot/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={
                "model": "claude-opus-4-1",
                "max_tokens": 20000,
                "thinking": thinking,
                "messages": [{"role": "user", "content": "Hi"}],
            },
        )
    assert response.status_code == 200, response.text
    [call] = model_calls(fake)
    assert call.json["max_tokens"] == limit
    assert call.json.get("thinking") == sent
