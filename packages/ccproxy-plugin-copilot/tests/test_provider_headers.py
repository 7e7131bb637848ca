"""What every Copilot call carries: the editor headers (configurable), a fresh ``x-request-id``,
``x-initiator``/``openai-intent`` from who wrote the last message (in every client format),
``copilot-vision-request`` with images, ``system`` as blocks on Messages, and the API base the
credential names unless ``plugins.copilot.base_url`` is set."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest

from ccproxy.testing import FakeCopilot, Reply, app_client
from ccproxy_plugin_copilot.headers import has_images, initiator
from copilot_kit import (
    Holder,
    anthropic_sdk,
    copilot_app,
    model_calls,
    openai_sdk,
    record_requests,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TOOL = {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}
ANTHROPIC_TOOL = {"name": "ls", "input_schema": {"type": "object"}}


class TestInitiator:
    @pytest.mark.parametrize(
        ("messages", "who"),
        [
            ([{"role": "user", "content": "Hi"}], "user"),
            (
                [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure"}],
                "agent",
            ),
            (
                [
                    {"role": "user", "content": "ls"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "ls", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": "a.txt"},
                            {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                        ],
                    },
                ],
                "agent",
            ),
            (
                [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}],
                "user",
            ),
            ([], "user"),
        ],
    )
    def test_anthropic(self, messages: list[Any], who: str) -> None:
        assert initiator({"messages": messages}, "anthropic") == who

    @pytest.mark.parametrize(
        ("messages", "who"),
        [
            ([{"role": "system", "content": "x"}, {"role": "user", "content": "Hi"}], "user"),
            (
                [
                    {"role": "user", "content": "Hi"},
                    {"role": "tool", "tool_call_id": "c", "content": "1"},
                ],
                "agent",
            ),
            ([{"role": "user", "content": "Hi"}, {"role": "developer", "content": "x"}], "user"),
        ],
    )
    def test_chat(self, messages: list[Any], who: str) -> None:
        assert initiator({"messages": messages}, "chat") == who

    @pytest.mark.parametrize(
        ("items", "who"),
        [
            ("Hi", "user"),
            ([{"role": "user", "content": "Hi"}], "user"),
            ([{"type": "function_call_output", "call_id": "c", "output": "1"}], "agent"),
            ([{"type": "message", "role": "assistant", "content": []}], "agent"),
            ([{"type": "custom_tool_call_output", "call_id": "c", "output": "1"}], "agent"),
            ([{"role": "user", "content": "Hi"}, {"role": "developer", "content": "x"}], "user"),
        ],
    )
    def test_responses(self, items: Any, who: str) -> None:
        assert initiator({"input": items}, "responses") == who

    def test_images_nested_in_tool_results_count(self) -> None:
        image = {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
        }
        body = {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t", "content": [image]}],
                }
            ]
        }
        assert has_images(body, "anthropic")
        assert not has_images({"messages": [{"role": "user", "content": "no"}]}, "anthropic")


async def test_initiator_and_intent_follow_the_last_message_in_each_client_format() -> None:
    fake = FakeCopilot()
    fake.enqueue(*(Reply.text("ok") for _ in range(6)))
    async with copilot_app(fake) as app:
        recorder = record_requests(app)
        chat, claude = openai_sdk(app), anthropic_sdk(app)
        for model in ("gpt-4.1", "gpt-5.1-codex"):  # passthrough, then converted to Responses
            await chat.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "ls"}]
            )
            await chat.chat.completions.create(
                model=model,
                tools=[TOOL],  # type: ignore[list-item]
                messages=[
                    {"role": "user", "content": "ls"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "ls", "arguments": "{}"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
                ],
            )
        await claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "ls"}]
        )
        await claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=16,
            tools=[ANTHROPIC_TOOL],  # type: ignore[list-item]
            messages=[
                {"role": "user", "content": "ls"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.txt"}],
                },
            ],
        )
    calls = model_calls(fake)
    assert [c.headers["x-initiator"] for c in calls] == ["user", "agent"] * 3
    assert [c.headers["openai-intent"] for c in calls] == [
        "conversation-panel",
        "conversation-agent",
    ] * 3
    assert [r.tags["initiator"] for r in recorder.records] == ["user", "agent"] * 3
    assert fake.premium_requests == 3


async def test_responses_clients_initiator_both_ways() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("ok"), Reply.text("ok"), Reply.text("ok"), Reply.text("ok"))
    async with copilot_app(fake) as app:
        client = openai_sdk(app)
        for model in ("gpt-5.1-codex", "claude-sonnet-4.5"):  # passthrough, converted to Messages
            await client.responses.create(model=model, input="ls")
            await client.responses.create(
                model=model,
                tools=[{"type": "function", "name": "ls", "parameters": {"type": "object"}}],  # type: ignore[list-item]
                input=[
                    {"role": "user", "content": "ls"},
                    {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
                ],
            )
    assert [c.headers["x-initiator"] for c in model_calls(fake)] == ["user", "agent"] * 2


async def test_premium_multiplier_of_the_catalogue_is_tagged() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("ok"))
    async with copilot_app(fake) as app:
        recorder = record_requests(app)
        await openai_sdk(app).chat.completions.create(
            model="claude-opus-4-1", messages=[{"role": "user", "content": "Hi"}]
        )
    assert recorder.records[0].tags == {"initiator": "user", "premium_multiplier": "10"}


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-5.1-codex", "gpt-4.1"])
async def test_images_send_the_vision_header(model: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("A pixel."), Reply.text("No image."))
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
    }
    async with copilot_app(fake) as app:
        client = anthropic_sdk(app)
        await client.messages.create(
            model=model,
            max_tokens=16,
            messages=[
                {"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}
            ],  # type: ignore[list-item]
        )
        await client.messages.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
        )
    first, second = model_calls(fake)
    assert first.status == second.status == 200
    assert first.headers["copilot-vision-request"] == "true"
    assert "copilot-vision-request" not in second.headers


async def test_editor_headers_are_settings_and_request_ids_are_fresh_per_call() -> None:
    fake = FakeCopilot(min_api_version="2025-05-01")
    fake.integration_ids = {"copilot-developer-cli"}
    fake.enqueue(Reply.text("one"), Reply.text("two"))
    settings = {
        "api_version": "2025-05-01",
        "integration_id": "copilot-developer-cli",
        "editor_version": "vscode/1.200.0",
        "editor_plugin_version": "copilot-chat/1.0.0",
        "user_agent": "GitHubCopilotChat/1.0.0",
    }
    async with copilot_app(fake, copilot=settings) as app:
        client = openai_sdk(app)
        for _ in range(2):
            await client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
            )
    calls = model_calls(fake)
    for call in calls:
        assert call.headers["x-github-api-version"] == "2025-05-01"
        assert call.headers["copilot-integration-id"] == "copilot-developer-cli"
        assert call.headers["editor-version"] == "vscode/1.200.0"
        assert call.headers["editor-plugin-version"] == "copilot-chat/1.0.0"
        assert call.headers["user-agent"] == "GitHubCopilotChat/1.0.0"
        uuid.UUID(call.headers["x-request-id"])
    assert calls[0].headers["x-request-id"] != calls[1].headers["x-request-id"]


async def test_an_outdated_api_version_surfaces_the_upstreams_message() -> None:
    fake = FakeCopilot(min_api_version="2026-01-01")
    async with copilot_app(fake) as app:
        with pytest.raises(openai.APIStatusError) as caught:
            await openai_sdk(app).chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == 400
    assert "API version is no longer supported" in str(caught.value)


async def test_system_goes_to_messages_as_text_blocks() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("one"), Reply.text("two"))
    async with copilot_app(fake) as app:
        async with app_client(app) as client:  # a raw client: the SDK would send what it is given
            raw = await client.post(
                "/copilot/v1/messages",
                headers={"anthropic-version": "2023-06-01"},
                json={
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 16,
                    "system": "Be brief.",
                    "messages": [{"role": "user", "content": "Hi"}],
                },
            )
        await openai_sdk(app).responses.create(
            model="claude-sonnet-4-5", instructions="Be terse.", input="Hi"
        )
    assert raw.status_code == 200
    first, second = model_calls(fake)
    assert first.json["system"] == [{"type": "text", "text": "Be brief."}]
    assert second.path == "/v1/messages"
    assert second.json["system"][0]["type"] == "text"
    assert "Be terse." in second.json["system"][0]["text"]


@pytest.mark.parametrize(
    ("setting", "host"),
    [(None, "api.business.test"), ("http://configured.test", "configured.test")],
)
async def test_the_api_base_is_the_credentials_unless_configured(
    setting: str | None, host: str
) -> None:
    fake = FakeCopilot(api_url="http://mint.test")
    fake.enqueue(Reply.text("ok"))
    copilot = {"base_url": setting} if setting else {}
    async with copilot_app(fake, copilot=copilot, api_base="http://api.business.test") as app:
        await openai_sdk(app).chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
        )
    assert {
        r.headers["host"] for r in fake.requests if r.path in ("/models", "/chat/completions")
    } == {host}


async def test_the_credentials_api_base_is_read_once_per_minted_token() -> None:
    fake = FakeCopilot()
    fake.enqueue(*[Reply.text(str(n)) for n in range(4)])
    holder = Holder()
    async with copilot_app(fake, holder=holder) as app:
        client = openai_sdk(app)
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "warm up"}]
        )
        source = holder.source
        assert source is not None
        reads = source.account_reads
        for text in "ab":
            await client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": text}]
            )
        # The same token: its API base is known; what is left is core naming the account of a
        # single-source request (once per request).
        assert source.account_reads - reads == 2
        source.api_base = "http://moved.test"  # the next mint names another API base
        fake.expire_copilot_tokens()
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "c"}]
        )
    last = model_calls(fake)[-1]
    assert last.status == 200 and last.headers["host"] == "moved.test"
