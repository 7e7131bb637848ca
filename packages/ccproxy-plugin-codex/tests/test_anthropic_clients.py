"""The official ``anthropic`` SDK on ``/codex`` (Claude Code on a ChatGPT subscription)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from ccproxy.plugins.provider import estimate_input_tokens
from ccproxy.testing import Reply, ToolCallSpec, app_client
from codex_kit import Setup, anthropic_sdk, codex_app, upstream_bodies

BASH_TOOL: Any = {
    "name": "Bash",
    "description": "Run a shell command.",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
SYSTEM: Any = [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=abc;"},
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}},
]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ready = Setup(tmp_path)
    ready.write_credentials()
    return ready


async def test_messages_get_codex_defaults_instructions_and_a_conversation_key(
    setup: Setup, tmp_path: Path
) -> None:
    prefix = tmp_path / "codex_instructions.md"
    prefix.write_text("You are Codex, based on GPT.\n")
    setup.fake.enqueue(Reply.text("Hi from Codex"))
    async with codex_app(setup, codex={"instructions_file": str(prefix)}) as app:
        message = await anthropic_sdk(app).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16000,
            system=SYSTEM,
            metadata={"user_id": "user_abc_account_x_session_y"},
            messages=[{"role": "user", "content": "Hello"}],
            extra_headers={"x-claude-code-session-id": "cc-session-1"},
            extra_body={"temperature": 1.0},
        )
    assert message.model == "claude-sonnet-4-6"
    assert message.content[0].text == "Hi from Codex"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    [body] = upstream_bodies(setup.fake)
    assert body["model"] == "gpt-6.1-sol"
    instructions = body["instructions"]
    assert instructions.startswith("You are Codex, based on GPT.")
    assert "Be careful." in instructions
    assert "x-anthropic-billing-header" not in json.dumps(body)
    assert all(item.get("role") != "system" for item in body["input"])
    assert body["prompt_cache_key"] == "cc-session-1"
    assert setup.fake.requests[0].headers["session_id"] == "cc-session-1"
    for dropped in ("temperature", "metadata", "max_output_tokens"):
        assert dropped not in body
    assert "tools" not in body


async def test_haiku_background_calls_go_to_the_small_model_and_streams_keep_the_name(
    setup: Setup,
) -> None:
    setup.fake.enqueue(Reply.text("A short title"))
    async with codex_app(setup) as app:
        async with anthropic_sdk(app).messages.stream(
            model="claude-haiku-4-5-20251001",
            max_tokens=512,
            messages=[{"role": "user", "content": "Title this chat"}],
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_message()
    [body] = upstream_bodies(setup.fake)
    assert body["model"] == "gpt-6-luna"
    assert final.model == "claude-haiku-4-5-20251001"
    assert final.content[0].text == "A short title"  # type: ignore[union-attr]
    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert final.usage.output_tokens > 0


async def test_three_turn_tool_loop_carries_reasoning_across_turns(setup: Setup) -> None:
    """Each thinking block's signature (our envelope) comes back as the original reasoning item."""
    setup.fake.enqueue(
        Reply.reasoning(
            "I should list the files.",
            then=Reply.tool_calls([ToolCallSpec("Bash", {"command": "ls"})]),
        ),
        Reply.reasoning(
            "Now count the lines.",
            then=Reply.tool_calls([ToolCallSpec("Bash", {"command": "wc -l a.txt"})]),
        ),
        Reply.text("a.txt has 3 lines."),
    )
    messages: list[Any] = [{"role": "user", "content": "How long is the file here?"}]
    thinking: Any = {"type": "enabled", "budget_tokens": 4096}
    async with codex_app(setup) as app:
        client = anthropic_sdk(app)
        outputs = []
        for tool_output in ("a.txt", "3 a.txt"):
            async with client.messages.stream(
                model="claude-opus-4-8",
                max_tokens=8000,
                thinking=thinking,
                tools=[BASH_TOOL],
                messages=messages,
            ) as stream:
                reply = await stream.get_final_message()
            outputs.append(reply)
            assert reply.stop_reason == "tool_use"
            assert [block.type for block in reply.content] == ["thinking", "tool_use"]
            tool_use = reply.content[1]
            messages += [
                {"role": "assistant", "content": [b.model_dump() for b in reply.content]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": tool_use.id,  # type: ignore[union-attr]
                            "content": tool_output,
                        }
                    ],
                },
            ]
        final = await client.messages.create(
            model="claude-opus-4-8",
            max_tokens=8000,
            thinking=thinking,
            tools=[BASH_TOOL],
            messages=messages,
        )
    assert final.content[-1].text == "a.txt has 3 lines."  # type: ignore[union-attr]
    signatures = [reply.content[0].signature for reply in outputs]  # type: ignore[union-attr]
    assert all(sig.startswith("ccproxy.v1.") for sig in signatures)
    first, second, third = upstream_bodies(setup.fake)
    assert first["include"] == ["reasoning.encrypted_content"]
    thinking_texts = [reply.content[0].thinking for reply in outputs]  # type: ignore[union-attr]
    assert thinking_texts == ["I should list the files.", "Now count the lines."]
    expected = [fake_encrypted_content(text) for text in thinking_texts]
    third_reasoning = [item for item in third["input"] if item.get("type") == "reasoning"]
    assert [item["encrypted_content"] for item in third_reasoning] == expected
    second_reasoning = [item for item in second["input"] if item.get("type") == "reasoning"]
    assert [item["encrypted_content"] for item in second_reasoning] == expected[:1]
    outputs_sent = [i for i in third["input"] if i.get("type") == "function_call_output"]
    assert [o["output"] for o in outputs_sent] == ["a.txt", "3 a.txt"]
    calls = [i for i in third["input"] if i.get("type") == "function_call"]
    assert [c["call_id"] for c in calls] == [o["call_id"] for o in outputs_sent]
    assert first["prompt_cache_key"] == second["prompt_cache_key"] == third["prompt_cache_key"]


def fake_encrypted_content(text: str) -> str:
    """The ``encrypted_content`` the fake attaches to reasoning ``text`` (its documented default)."""
    return "enc-" + hashlib.sha256(text.encode()).hexdigest()[:24]


async def test_count_tokens_is_an_offline_estimate(setup: Setup) -> None:
    request: Any = {
        "model": "claude-opus-4-8",
        "system": "You are helpful.",
        "messages": [{"role": "user", "content": "Count these tokens, please."}],
        "tools": [BASH_TOOL],
    }
    async with codex_app(setup) as app:
        count = await anthropic_sdk(app).messages.count_tokens(**request)
        async with app_client(app) as raw:
            response = await raw.post("/codex/v1/messages/count_tokens?beta=true", json=request)
            bad = await raw.post("/codex/v1/messages/count_tokens", json={"model": "x"})
    assert count.input_tokens == estimate_input_tokens(request)
    text = json.dumps(
        {k: request[k] for k in ("system", "messages", "tools")},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert count.input_tokens == -(-len(text) // 4)
    assert response.headers["x-ccproxy-token-estimate"] == "true"
    assert response.json() == {"input_tokens": count.input_tokens}
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    assert setup.fake.requests == []  # nothing went upstream


async def test_count_tokens_answers_400_to_bodies_it_cannot_read(setup: Setup) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    bodies = [
        b"\x86\x94 not utf-8",
        f'{{"model": "m", "messages": [], "x": {deep}}}'.encode(),
        b"[]",
    ]
    async with codex_app(setup) as app, app_client(app) as raw:
        answers = [
            await raw.post(
                "/codex/v1/messages/count_tokens",
                content=body,
                headers={"content-type": "application/json"},
            )
            for body in bodies
        ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["type"] == "error"
        assert answer.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_model_family_needs_default_model(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("served"))
    async with codex_app(setup) as app:
        with pytest.raises(anthropic.BadRequestError) as error:
            await anthropic_sdk(app).messages.create(
                model="llama-3-70b", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert "plugins.codex.default_model" in error.value.message
    async with codex_app(setup, codex={"default_model": "gpt-5"}) as app:
        message = await anthropic_sdk(app).messages.create(
            model="llama-3-70b", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.model == "llama-3-70b"
    assert upstream_bodies(setup.fake)[0]["model"] == "gpt-5"


async def test_upstream_errors_reach_anthropic_clients_in_their_dialect(setup: Setup) -> None:
    setup.fake.enqueue(Reply.error(503, message="Server overloaded"))
    async with codex_app(setup) as app:
        with pytest.raises(anthropic.InternalServerError) as error:
            await anthropic_sdk(app).messages.create(
                model="claude-opus-4-8", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert error.value.status_code == 503
    body: Any = error.value.body
    assert body["type"] == "error"
    assert "overloaded" in body["error"]["message"].lower()
