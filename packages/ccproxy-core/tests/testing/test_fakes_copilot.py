"""FakeCopilot's Copilot API: strict headers, model routing, the three formats through the SDKs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from ccproxy.testing import DEFAULT_COPILOT_MODELS, FakeCopilot, LiveServer, Reply, ToolCallSpec


@pytest.fixture(autouse=True)
def _no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def editor_headers(initiator: str = "user") -> dict[str, str]:
    return {
        "copilot-integration-id": "vscode-chat",
        "editor-version": "vscode/1.104.1",
        "editor-plugin-version": "copilot-chat/0.31.0",
        "user-agent": "GitHubCopilotChat/0.31.0",
        "openai-intent": "conversation-agent",
        "x-github-api-version": "2025-04-01",
        "x-request-id": str(uuid.uuid4()),
        "x-initiator": initiator,
    }


def headers(fake: FakeCopilot, initiator: str = "user", **extra: str) -> dict[str, str]:
    token = fake.mint_copilot_token()
    return {"authorization": f"Bearer {token}", **editor_headers(initiator), **extra}


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeCopilot, httpx.AsyncClient]]:
    fake = FakeCopilot()
    transport = httpx.ASGITransport(app=fake)
    async with httpx.AsyncClient(transport=transport, base_url="http://copilot.test") as http:
        yield fake, http


def openai_sdk(fake: FakeCopilot, initiator: str = "user") -> openai.AsyncOpenAI:
    # The SDKs run on httpx2, so the in-process transport comes from httpx2 too.
    token = fake.mint_copilot_token()
    return openai.AsyncOpenAI(
        api_key=token,
        base_url="http://copilot.test",
        max_retries=0,
        default_headers=editor_headers(initiator),
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake)),
    )


def anthropic_sdk(fake: FakeCopilot) -> anthropic.AsyncAnthropic:
    token = fake.mint_copilot_token()
    return anthropic.AsyncAnthropic(
        auth_token=token,
        base_url="http://copilot.test",
        max_retries=0,
        default_headers=editor_headers(),
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake)),
    )


CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
SYSTEM = [{"type": "text", "text": "Be brief."}]


# --- models and headers ----------------------------------------------------------------------


async def test_models_list(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    answer = await http.get("/models", headers=headers(fake))
    listing = answer.json()
    assert listing["object"] == "list"
    by_id = {m["id"]: m for m in listing["data"]}
    assert {
        "claude-sonnet-4.5",
        "claude-opus-4.1",
        "claude-haiku-4.5",
        "gpt-5",
        "gpt-5-mini",
        "gpt-4.1",
        "gpt-5.1-codex",
        "gemini-2.5-pro",
    } <= set(by_id)
    assert by_id["claude-sonnet-4.5"]["supported_endpoints"] == [
        "/chat/completions",
        "/v1/messages",
    ]
    assert by_id["gpt-5.1-codex"]["supported_endpoints"] == ["/responses"]
    assert by_id["gpt-5"]["supported_endpoints"] == ["/chat/completions", "/responses"]
    assert by_id["gemini-2.5-pro"]["supported_endpoints"] == ["/chat/completions"]
    sonnet = by_id["claude-sonnet-4.5"]
    assert sonnet["vendor"] == "Anthropic"
    assert sonnet["policy"]["state"] == "enabled"
    assert sonnet["capabilities"]["type"] == "chat"
    assert set(sonnet["capabilities"]["limits"]) >= {
        "max_output_tokens",
        "max_context_window_tokens",
    }
    assert set(sonnet["capabilities"]["supports"]) >= {"tool_calls", "streaming", "vision"}
    assert listing["data"] == DEFAULT_COPILOT_MODELS


async def test_models_can_be_replaced() -> None:
    only = [dict(DEFAULT_COPILOT_MODELS[0], id="claude-only")]
    fake = FakeCopilot(models=only)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://copilot.test"
    ) as http:
        listed = await http.get("/models", headers=headers(fake))
        refused = await http.post("/chat/completions", json=CHAT, headers=headers(fake))
    assert [m["id"] for m in listed.json()["data"]] == ["claude-only"]
    assert refused.json()["error"]["code"] == "model_not_supported"


@pytest.mark.parametrize("name", list(editor_headers()))
async def test_every_editor_header_is_required(
    client: tuple[FakeCopilot, httpx.AsyncClient], name: str
) -> None:
    fake, http = client
    sent = headers(fake)
    del sent[name]
    answer = await http.post("/chat/completions", json=CHAT, headers=sent)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == name  # httpx sends its own user-agent: refused too
    assert fake.last_request.status == 400


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("x-github-api-version", "2024-12-15", "no longer supported"),
        ("x-initiator", "robot", "user or agent"),
        ("x-request-id", "not-a-uuid", "UUID"),
        ("editor-version", "vscode", "<editor>/<version>"),
        ("copilot-integration-id", "someone-else", "Copilot-Integration-Id"),
        ("user-agent", "python-httpx/0.28.1", "GitHubCopilotChat/"),
    ],
)
async def test_header_values_are_checked(
    client: tuple[FakeCopilot, httpx.AsyncClient], name: str, value: str, fragment: str
) -> None:
    fake, http = client
    answer = await http.post("/chat/completions", json=CHAT, headers=headers(fake, **{name: value}))
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]["message"]


async def test_newer_api_versions_pass(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    sent = headers(fake, **{"x-github-api-version": "2025-10-01"})
    assert (await http.post("/chat/completions", json=CHAT, headers=sent)).status_code == 200


async def test_tokens_are_checked(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    github_token = fake.issue_github_token()
    missing = await http.get("/models", headers=editor_headers())
    with_github_token = await http.get(
        "/models", headers={**editor_headers(), "authorization": f"Bearer {github_token}"}
    )
    assert (missing.status_code, with_github_token.status_code) == (401, 401)
    sent = headers(fake)
    fake.expire_copilot_tokens()
    expired = await http.post("/chat/completions", json=CHAT, headers=sent)
    assert expired.status_code == 401
    assert expired.text.strip() == "unauthorized: token expired"
    assert fake.premium_requests == 0


async def test_token_expires_with_the_clock() -> None:
    now = [1_800_000_000.0]
    fake = FakeCopilot(clock=lambda: now[0], token_lifetime_seconds=60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://copilot.test"
    ) as http:
        sent = headers(fake)
        assert (await http.get("/models", headers=sent)).status_code == 200
        now[0] += 60
        assert (await http.get("/models", headers=sent)).status_code == 401


# --- refusals --------------------------------------------------------------------------------


async def test_unknown_model(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    answer = await http.post(
        "/chat/completions", json={**CHAT, "model": "claude-sonnet-4-5"}, headers=headers(fake)
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "The requested model is not supported.",
            "code": "model_not_supported",
            "param": "model",
            "type": "invalid_request_error",
        }
    }


@pytest.mark.parametrize(
    ("path", "model", "body"),
    [
        ("/chat/completions", "gpt-5.1-codex", CHAT),
        ("/responses", "gpt-4.1", {"input": "hi"}),
        (
            "/v1/messages",
            "gpt-5",
            {"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
        ),
    ],
)
async def test_model_must_list_the_endpoint(
    client: tuple[FakeCopilot, httpx.AsyncClient], path: str, model: str, body: dict[str, Any]
) -> None:
    fake, http = client
    answer = await http.post(path, json={**body, "model": model}, headers=headers(fake))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_supported", "model")
    assert path in error["message"]


async def test_responses_refuses_previous_response_id(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    body = {"model": "gpt-5", "input": "hi", "previous_response_id": "resp_1"}
    answer = await http.post("/responses", json=body, headers=headers(fake))
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "previous_response_id"


async def test_messages_wants_system_as_blocks_and_has_no_count_tokens(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 10,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    as_string = await http.post("/v1/messages", json=body, headers=headers(fake))
    as_blocks = await http.post(
        "/v1/messages", json={**body, "system": SYSTEM}, headers=headers(fake)
    )
    count = await http.post("/v1/messages/count_tokens", json=body, headers=headers(fake))
    assert (as_string.status_code, as_blocks.status_code, count.status_code) == (400, 200, 404)
    assert as_string.json()["error"]["param"] == "system"


IMAGE_BODIES = [
    (
        "/chat/completions",
        {
            "model": "gpt-4.1",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    ],
                }
            ],
        },
    ),
    (
        "/responses",
        {
            "model": "gpt-5",
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA=="}],
                }
            ],
        },
    ),
    (
        "/v1/messages",
        {
            "model": "claude-sonnet-4.5",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                        }
                    ],
                }
            ],
        },
    ),
]


@pytest.mark.parametrize(("path", "body"), IMAGE_BODIES)
async def test_images_need_the_vision_header(
    client: tuple[FakeCopilot, httpx.AsyncClient], path: str, body: dict[str, Any]
) -> None:
    fake, http = client
    refused = await http.post(path, json=body, headers=headers(fake))
    assert refused.status_code == 400
    assert "Copilot-Vision-Request" in refused.json()["error"]["message"]
    vision = headers(fake, **{"copilot-vision-request": "true"})
    assert (await http.post(path, json=body, headers=vision)).status_code == 200


async def test_quota_exceeded_and_spammy_switches(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    fake.quota_exceeded = True
    no_quota = await http.post("/chat/completions", json=CHAT, headers=headers(fake))
    assert no_quota.status_code == 402
    assert no_quota.json() == {"error": {"message": "You have no quota", "code": "quota_exceeded"}}
    fake.spammy = True
    blocked = await http.post("/chat/completions", json=CHAT, headers=headers(fake))
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "spammy_user"
    assert (await http.get("/models", headers=headers(fake))).status_code == 200
    assert fake.premium_requests == 0


async def test_scripted_http_error(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    fake.script(Reply.error(429, "rate_limited", message="Slow down", retry_after=7))
    answer = await http.post("/chat/completions", json=CHAT, headers=headers(fake))
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.json() == {"error": {"message": "Slow down", "code": "rate_limited"}}


# --- premium requests ------------------------------------------------------------------------


async def test_user_requests_use_premium_requests_agent_ones_do_not(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    github_token = fake.issue_github_token()
    for initiator in ("user", "agent", "agent", "user"):
        sent = headers(fake, initiator)
        assert (await http.post("/chat/completions", json=CHAT, headers=sent)).status_code == 200
    assert fake.premium_requests == 2
    assert fake.last_request.bearer_token in fake.copilot_tokens
    usage = await http.get(
        "/copilot_internal/user", headers={"authorization": f"token {github_token}"}
    )
    premium = usage.json()["quota_snapshots"]["premium_interactions"]
    assert (premium["remaining"], round(premium["percent_remaining"], 2)) == (298, 99.33)
    assert [r.headers["x-initiator"] for r in fake.requests_to("/chat/completions")] == [
        "user",
        "agent",
        "agent",
        "user",
    ]


# --- the three formats through the official SDKs ---------------------------------------------


async def test_chat_non_streaming_through_openai() -> None:
    fake = FakeCopilot()
    fake.script(Reply.tool_calls([ToolCallSpec("read", {"path": "a"}, id="call_1")]))
    sdk = openai_sdk(fake)
    first = await sdk.chat.completions.create(
        model="claude-sonnet-4.5", messages=[{"role": "user", "content": "hi"}]
    )
    second = await sdk.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hi"}]
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (first.choices[0].finish_reason, call.id) == ("tool_calls", "call_1")
    assert (call.function.name, json.loads(call.function.arguments)) == ("read", {"path": "a"})  # type: ignore[union-attr]
    assert second.choices[0].message.content == "Hello from the fake."
    assert second.usage is not None and second.usage.completion_tokens > 0
    assert fake.requests[-1].json["model"] == "gpt-4.1"


async def test_chat_streaming_through_openai_ends_with_done() -> None:
    fake = FakeCopilot(omit_created=True)
    fake.script(Reply.reasoning("Think.", then=Reply.text("Streamed answer.")))
    sdk = openai_sdk(fake)
    chunks = []
    stream = await sdk.chat.completions.create(
        model="claude-sonnet-4.5", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        chunks.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed answer."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_text", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "Think."


async def test_chat_stream_bytes(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    answer = await http.post(
        "/chat/completions", json={**CHAT, "stream": True}, headers=headers(fake)
    )
    frames = [f for f in answer.text.split("\n\n") if f]
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert frames[-1] == "data: [DONE]"
    assert all(f.startswith("data: ") for f in frames)
    first = json.loads(frames[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"
    assert "created" in first


async def test_responses_through_openai_both_ways() -> None:
    fake = FakeCopilot()
    fake.script(Reply.reasoning("Plan.", then=Reply.text("Done.")), Reply.text("Whole."))
    sdk = openai_sdk(fake, initiator="agent")
    async with sdk.responses.stream(model="gpt-5.1-codex", input="hi") as events:
        async for _ in events:
            pass
        final = await events.get_final_response()
    whole = await sdk.responses.create(model="gpt-5", input="hi")
    assert final.output_text == "Done."
    assert final.output[0].type == "reasoning"
    assert final.usage is not None and final.usage.output_tokens > 0
    assert (whole.output_text, whole.status) == ("Whole.", "completed")
    assert fake.premium_requests == 0


async def test_messages_through_anthropic_both_ways() -> None:
    fake = FakeCopilot()
    fake.script(Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"})]))
    sdk = anthropic_sdk(fake)
    async with sdk.messages.stream(
        model="claude-sonnet-4.5",
        max_tokens=100,
        system=SYSTEM,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        streamed = await stream.get_final_message()
    whole = await sdk.messages.create(
        model="claude-haiku-4.5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    tool = streamed.content[0]
    assert (streamed.stop_reason, tool.type) == ("tool_use", "tool_use")
    assert tool.input == {"city": "Paris"}  # type: ignore[union-attr]
    assert whole.content[0].text == "Hello from the fake."  # type: ignore[union-attr]
    assert whole.usage.input_tokens > 0
    assert fake.premium_requests == 2


async def test_chat_stream_on_a_live_server() -> None:
    fake = FakeCopilot()
    fake.script(Reply.text("one two three", delay_between_events=0.01))
    async with LiveServer(fake) as server, httpx.AsyncClient(base_url=server.url) as http:
        async with http.stream(
            "POST", "/chat/completions", json={**CHAT, "stream": True}, headers=headers(fake)
        ) as answer:
            lines = [line async for line in answer.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    deltas = [json.loads(line[6:])["choices"][0]["delta"] for line in lines[:-1]]
    assert "".join(d.get("content") or "" for d in deltas) == "one two three"


# --- broken answers --------------------------------------------------------------------------


async def test_chat_stream_error_and_cut(client: tuple[FakeCopilot, httpx.AsyncClient]) -> None:
    fake, http = client
    fake.script(Reply.stream_error(after_events=2, message="Upstream broke"), Reply.cut(2))
    body = {**CHAT, "stream": True}
    errored = await http.post("/chat/completions", json=body, headers=headers(fake))
    cut = await http.post("/chat/completions", json=body, headers=headers(fake))
    errored_frames = [f for f in errored.text.split("\n\n") if f]
    cut_frames = [f for f in cut.text.split("\n\n") if f]
    assert json.loads(errored_frames[-1].removeprefix("data: "))["error"]["message"] == (
        "Upstream broke"
    )
    assert len(cut_frames) == 2
    assert "data: [DONE]" not in errored_frames + cut_frames


async def test_non_streaming_stream_error_is_an_http_error(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    fake.script(Reply.stream_error(message="Upstream broke"))
    answer = await http.post("/chat/completions", json=CHAT, headers=headers(fake))
    assert answer.status_code == 500
    assert answer.json()["error"]["message"] == "Upstream broke"


async def test_responses_stream_numbers_its_events(
    client: tuple[FakeCopilot, httpx.AsyncClient],
) -> None:
    fake, http = client
    body = {"model": "gpt-5.1-codex", "input": "hi", "stream": True}
    answer = await http.post("/responses", json=body, headers=headers(fake, "agent"))
    frames = [f for f in answer.text.split("\n\n") if f]
    events = [json.loads(f.split("\ndata: ", 1)[1]) for f in frames]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["usage"]["input_tokens"] > 0
