"""The provider pipeline end to end: the app in front of the fake upstreams, official SDKs as clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anthropic
import httpx
import httpx2
import openai
import pytest
from provider_kit import IDENTITY, ListTokenSource, Recorder, provider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from ccproxy.app import get_plugin_host
from ccproxy.config import Settings
from ccproxy.plugins import HookEvent, HookPayload, ProviderRequestPrepared
from ccproxy.testing import (
    FakeAnthropic,
    FakeCodex,
    LiveServer,
    Reply,
    ToolCallSpec,
    app_client,
    started_app,
)

SETTINGS = Settings(plugins_disable_local_discovery=True)
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


def anthropic_sdk(app: Any) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1")
    return anthropic.AsyncAnthropic(
        api_key="client-key", base_url="http://127.0.0.1/testprov", http_client=http, max_retries=0
    )


def openai_sdk(app: Any, prefix: str = "testprov") -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1")
    return openai.AsyncOpenAI(
        api_key="client-key",
        base_url=f"http://127.0.0.1/{prefix}/v1",
        http_client=http,
        max_retries=0,
    )


async def drain(stream: Any) -> None:
    """Consume an SDK stream to its end."""
    async for _event in stream:
        pass


def recorder_for(app: Any) -> Recorder:
    recorder = Recorder()
    get_plugin_host(app).hooks.register(recorder)
    return recorder


# --- passthrough bytes -------------------------------------------------------------------

STREAM_CHUNKS = [
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n',
    b'\nevent: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour \xc3',
    b'\xa9t\xc3\xa9"}}\n\nevent: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]


def fixed_upstream(
    chunks: list[bytes], *, closed: asyncio.Event | None = None, hold: asyncio.Event | None = None
) -> Starlette:
    async def messages(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                for chunk in chunks:
                    yield chunk
                    await asyncio.sleep(0.01)
                if hold is not None:
                    await hold.wait()
            finally:
                if closed is not None:
                    closed.set()

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"request-id": "req_up_1"}
        )

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


async def test_passthrough_stream_is_relayed_byte_for_byte() -> None:
    tokens = ListTokenSource("tok")
    async with LiveServer(fixed_upstream(STREAM_CHUNKS)) as upstream:
        settings = SETTINGS
        async with started_app(
            settings, entry_points=[provider(base_url=upstream.url, token_source=tokens)]
        ) as app:
            recorder = recorder_for(app)
            async with LiveServer(app) as proxy, httpx.AsyncClient() as client:
                async with client.stream(
                    "POST",
                    f"{proxy.url}/testprov/v1/messages",
                    json={**MESSAGE, "stream": True},
                    headers=ANTHROPIC_HEADERS,
                ) as response:
                    received = b"".join([chunk async for chunk in response.aiter_raw()])
                    assert response.headers["request-id"] == "req_up_1"
                    assert response.headers["content-type"].startswith("text/event-stream")
    assert received == b"".join(STREAM_CHUNKS)
    [record] = recorder.records()
    assert (record.usage.input, record.usage.output) == (11, 5)
    assert record.streaming is True
    assert record.status_code == 200
    assert record.error_kind is None
    assert (record.client_model, record.upstream_model) == (
        "claude-sonnet-4-6",
        "claude-sonnet-4-6",
    )
    assert record.route == "/testprov/v1/messages"


async def test_passthrough_with_alias_rewrites_only_the_model_event() -> None:
    tokens = ListTokenSource("tok")
    ep = provider(token_source=tokens, aliases={"sonnet": "claude-sonnet-4-6"})
    async with LiveServer(fixed_upstream(STREAM_CHUNKS)) as upstream:
        ep = provider(
            base_url=upstream.url, token_source=tokens, aliases={"sonnet": "claude-sonnet-4-6"}
        )
        async with started_app(SETTINGS, entry_points=[ep]) as app:
            async with LiveServer(app) as proxy, httpx.AsyncClient() as client:
                response = await client.post(
                    f"{proxy.url}/testprov/v1/messages",
                    json={**MESSAGE, "model": "sonnet", "stream": True},
                    headers=ANTHROPIC_HEADERS,
                )
    original = b"".join(STREAM_CHUNKS).split(b"\n\n")
    relayed = response.content.split(b"\n\n")
    assert relayed[1:] == original[1:]
    start = json.loads(relayed[0].split(b"data: ", 1)[1])
    assert start["message"]["model"] == "sonnet"


async def test_client_disconnect_closes_the_upstream_stream() -> None:
    closed, hold = asyncio.Event(), asyncio.Event()
    tokens = ListTokenSource("tok")
    async with LiveServer(fixed_upstream(STREAM_CHUNKS[:1], closed=closed, hold=hold)) as upstream:
        async with started_app(
            SETTINGS, entry_points=[provider(base_url=upstream.url, token_source=tokens)]
        ) as app:
            recorder = recorder_for(app)
            async with LiveServer(app) as proxy, httpx.AsyncClient() as client:
                async with client.stream(
                    "POST",
                    f"{proxy.url}/testprov/v1/messages",
                    json={**MESSAGE, "stream": True},
                    headers=ANTHROPIC_HEADERS,
                ) as response:
                    async for _chunk in response.aiter_raw():
                        break
                await asyncio.wait_for(closed.wait(), timeout=5)
                for _ in range(100):
                    if recorder.records():
                        break
                    await asyncio.sleep(0.02)
        hold.set()
    [record] = recorder.records()
    assert record.error_kind is not None


# --- against the strict fake -------------------------------------------------------------


async def test_native_messages_through_the_sdk_with_profile_edits() -> None:
    fake = FakeAnthropic(
        accepted_tokens={"tok"},
        rate_limit_headers={"anthropic-ratelimit-unified-status": "allowed"},
    )
    fake.enqueue(
        Reply.text("Hello there"),
        Reply.tool_calls([ToolCallSpec("get_weather", {"city": "Paris"})], text_before="Checking."),
    )
    ep = provider(token_source=ListTokenSource("tok"))
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        recorder = recorder_for(app)
        client = anthropic_sdk(app)
        message = await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            system="Be brief.",
            messages=[{"role": "user", "content": "Hi"}],
            extra_headers={"anthropic-beta": "claude-code-20250219"},
        )
        async with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": "Weather?"}],
        ) as stream:
            final = await stream.get_final_message()
    assert message.content[0].text == "Hello there"  # type: ignore[union-attr]
    first = fake.requests[0]
    assert first.headers["authorization"] == "Bearer tok"
    assert "x-api-key" not in first.headers
    assert first.headers["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"
    assert first.json["system"][0] == {"type": "text", "text": IDENTITY}
    assert first.json["system"][1]["text"] == "Be brief."
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    records = recorder.records()
    assert records[0].rate_limits == {"anthropic-ratelimit-unified-status": "allowed"}
    assert records[1].streaming is True
    assert records[1].usage.output > 0


async def test_401_refreshes_once_and_retries() -> None:
    fake = FakeAnthropic(accepted_tokens={"fresh"})
    tokens = ListTokenSource("stale", "fresh")
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=tokens)],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        async with app_client(app) as client:
            response = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
    assert response.status_code == 200
    assert tokens.refresh_calls == ["stale"]
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer stale", "Bearer fresh"]


async def test_401_after_refresh_is_returned_in_the_client_dialect() -> None:
    fake = FakeAnthropic(accepted_tokens={"never"})
    tokens = ListTokenSource("stale", "also-stale")
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=tokens)],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        async with app_client(app) as client:
            response = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
    assert response.status_code == 401
    assert response.json()["type"] == "error"
    assert tokens.refresh_calls == ["stale"]
    assert len(fake.requests) == 2


async def test_missing_credentials_answer_401_with_the_login_hint() -> None:
    async with started_app(SETTINGS, entry_points=[provider(token_source=None)]) as app:
        async with app_client(app) as client:
            anthropic_style = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
            openai_style = await client.post(
                "/testprov/v1/chat/completions",
                json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]},
            )
    assert anthropic_style.status_code == 401
    assert anthropic_style.json()["error"]["type"] == "authentication_error"
    assert "ccproxy auth login testprov" in anthropic_style.json()["error"]["message"]
    assert openai_style.status_code == 401
    assert "ccproxy auth login testprov" in openai_style.json()["error"]["message"]


CLIENT_CALLS = {
    "anthropic": ("/testprov/v1/messages", MESSAGE),
    "chat": (
        "/testprov/v1/chat/completions",
        {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "responses": ("/testprov/v1/responses", {"model": "claude-sonnet-4-6", "input": "Hi"}),
}


@pytest.mark.parametrize("client_format", ["anthropic", "chat", "responses"])
@pytest.mark.parametrize(
    ("status", "error_type", "retry_after"),
    [(429, "rate_limit_error", "7"), (500, "api_error", None), (529, "overloaded_error", None)],
)
async def test_upstream_errors_reach_the_client_in_its_dialect(
    client_format: str, status: int, error_type: str, retry_after: str | None
) -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(
        Reply.error(
            status,
            error_type,
            message="Upstream says no",
            retry_after=int(retry_after) if retry_after else None,
        )
    )
    path, body = CLIENT_CALLS[client_format]
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource("tok"))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        async with app_client(app) as client:
            response = await client.post(
                path, json=body, headers=ANTHROPIC_HEADERS if client_format == "anthropic" else {}
            )
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    payload = response.json()
    if client_format == "anthropic":
        assert payload == {
            "type": "error",
            "error": {"type": error_type, "message": "Upstream says no"},
        }
    else:
        assert payload["error"]["message"] == "Upstream says no"
        assert set(payload["error"]) >= {"message", "type", "param", "code"}


async def test_cut_stream_surfaces_as_an_error_event_in_passthrough() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.cut(after_events=4, base=Reply.text("This answer will be cut off")))
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource("tok"))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        recorder = recorder_for(app)
        client = anthropic_sdk(app)

        async def read_all() -> None:
            async with client.messages.stream(**MESSAGE) as stream:
                await stream.get_final_message()

        with pytest.raises(anthropic.APIError, match="ended before completion"):
            await read_all()
    [record] = recorder.records()
    assert record.error_kind == "upstream_stream_error"


@pytest.mark.parametrize("client_format", ["chat", "responses"])
async def test_cut_stream_surfaces_as_an_error_event_after_conversion(client_format: str) -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.cut(after_events=4, base=Reply.text("This answer will be cut off")))
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource("tok"))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        client = openai_sdk(app)
        if client_format == "chat":
            stream = await client.chat.completions.create(
                model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        else:
            stream = await client.responses.create(
                model="claude-sonnet-4-6", input="Hi", stream=True
            )
        with pytest.raises(openai.APIError):
            await drain(stream)


async def test_mid_stream_upstream_error_reaches_chat_client_as_error() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(
        Reply.stream_error(after_events=4, error_type="overloaded_error", message="Overloaded")
    )
    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource("tok"))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        client = openai_sdk(app)
        stream = await client.chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="Overloaded"):
            await drain(stream)


async def test_chat_and_responses_clients_with_tool_round_trip_on_anthropic_upstream() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(
        Reply.tool_calls(
            [
                ToolCallSpec("get_weather", {"city": "Paris"}),
                ToolCallSpec("get_time", {"tz": "CET"}),
            ],
            text_before="Both.",
        ),
        Reply.text("It is sunny."),
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    async with started_app(
        SETTINGS,
        entry_points=[
            provider(token_source=ListTokenSource("tok"), aliases={"gpt-*": "claude-sonnet-4-6"})
        ],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        client = openai_sdk(app)
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Weather and time?"}],
            tools=tools,
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        model_names = set()
        async for chunk in stream:
            model_names.add(chunk.model)
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                entry["name"] += (delta.function.name or "") if delta.function else ""
                entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
        assert model_names == {"gpt-4o"}
        assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
        assert [json.loads(c["arguments"]) for c in calls.values()] == [
            {"city": "Paris"},
            {"tz": "CET"},
        ]
        follow_up = await client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "user", "content": "Weather and time?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for c in calls.values()
                    ],
                },
                *[
                    {"role": "tool", "tool_call_id": c["id"], "content": "ok"}
                    for c in calls.values()
                ],
            ],
            tools=tools,
        )
    assert follow_up.choices[0].message.content == "It is sunny."
    assert follow_up.model == "gpt-4o"
    sent = fake.requests[1].json
    tool_uses = [
        b
        for m in sent["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_use"
    ]
    results = [
        b
        for m in sent["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert [b["name"] for b in tool_uses] == ["get_weather", "get_time"]
    assert [b["tool_use_id"] for b in results] == [b["id"] for b in tool_uses]


async def test_prepared_hook_may_edit_the_upstream_request_and_all_pipeline_events_fire() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.text("streamed"), Reply.error(500, "api_error", message="boom"))

    class Editor:
        name = "editor"
        priority = 0
        events: ClassVar[list[HookEvent]] = [HookEvent.PROVIDER_REQUEST_PREPARED]

        async def __call__(self, event: HookPayload) -> None:
            assert isinstance(event, ProviderRequestPrepared)
            event.request.headers["x-edited-by-hook"] = "yes"

    async with started_app(
        SETTINGS,
        entry_points=[provider(token_source=ListTokenSource("tok"))],
        http_transport=httpx.ASGITransport(app=fake),
    ) as app:
        recorder = recorder_for(app)
        get_plugin_host(app).hooks.register(Editor())
        async with app_client(app) as client:
            ok = await client.post(
                "/testprov/v1/messages", json={**MESSAGE, "stream": True}, headers=ANTHROPIC_HEADERS
            )
            failed = await client.post(
                "/testprov/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
            )
    assert ok.status_code == 200
    assert failed.status_code == 500
    assert fake.requests[0].headers["x-edited-by-hook"] == "yes"
    owned = {
        "REQUEST_STARTED",
        "PROVIDER_REQUEST_PREPARED",
        "PROVIDER_REQUEST_SENT",
        "PROVIDER_RESPONSE_RECEIVED",
        "PROVIDER_STREAM_START",
        "PROVIDER_STREAM_CHUNK",
        "PROVIDER_STREAM_END",
        "PROVIDER_ERROR",
        "REQUEST_COMPLETED",
        "REQUEST_FAILED",
    }
    assert owned <= set(recorder.names())
    assert recorder.names().count("REQUEST_COMPLETED") == 2
    assert recorder.names().count("REQUEST_FAILED") == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": []}', "'model' is required"),
    ],
)
async def test_bad_bodies_get_400_in_the_dialect(body: bytes, message: str) -> None:
    async with started_app(
        SETTINGS, entry_points=[provider(token_source=ListTokenSource("tok"))]
    ) as app:
        async with app_client(app) as client:
            anthropic_style = await client.post(
                "/testprov/v1/messages", content=body, headers=ANTHROPIC_HEADERS
            )
            openai_style = await client.post(
                "/testprov/v1/chat/completions",
                content=body,
                headers={"content-type": "application/json"},
            )
    assert anthropic_style.status_code == 400
    assert anthropic_style.json()["error"]["type"] == "invalid_request_error"
    assert message in anthropic_style.json()["error"]["message"]
    assert openai_style.status_code == 400
    assert message in openai_style.json()["error"]["message"]


async def test_unknown_cross_family_model_names_the_setting() -> None:
    async with started_app(
        SETTINGS, entry_points=[provider(token_source=ListTokenSource("tok"))]
    ) as app:
        async with app_client(app) as client:
            response = await client.post(
                "/testprov/v1/chat/completions",
                json={"model": "mistral-large", "messages": [{"role": "user", "content": "x"}]},
            )
    assert response.status_code == 400
    assert "plugins.testprov.default_model" in response.json()["error"]["message"]


# --- Codex-shaped upstream: stream-only, previous_response_id ------------------------------


async def test_responses_passthrough_collects_for_non_streaming_clients_and_chains_turns() -> None:
    fake = FakeCodex(accepted_tokens={"tok": "acct-test"})
    fake.enqueue(Reply.text("First answer"), Reply.text("Second answer"))
    ep = provider(
        upstream_format="responses", token_source=ListTokenSource("tok"), native_prefix="gpt-"
    )
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        client = openai_sdk(app)
        first = await client.responses.create(model="gpt-5", input="Hello", max_output_tokens=50)
        second = await client.responses.create(
            model="gpt-5", input="And again?", previous_response_id=first.id
        )
        async with app_client(app) as raw:
            unknown = await raw.post(
                "/testprov/v1/responses",
                json={"model": "gpt-5", "input": "x", "previous_response_id": "resp_nope"},
            )
    assert first.output_text == "First answer"
    assert second.output_text == "Second answer"
    upstream_first, upstream_second = fake.requests[0].json, fake.requests[1].json
    assert upstream_first["stream"] is True
    assert upstream_first["store"] is False
    assert "max_output_tokens" not in upstream_first
    assert "previous_response_id" not in upstream_second
    texts = json.dumps(upstream_second["input"])
    assert "Hello" in texts
    assert "First answer" in texts
    assert "And again?" in texts
    assert fake.requests[0].headers["chatgpt-account-id"] == "acct-test"
    assert unknown.status_code == 400
    assert "resp_nope" in unknown.json()["error"]["message"]


async def test_anthropic_client_on_responses_upstream_streams_tool_calls() -> None:
    fake = FakeCodex(accepted_tokens={"tok": "acct-test"})
    fake.enqueue(
        Reply.tool_calls([ToolCallSpec("Bash", {"command": "ls -la"})], text_before="Listing.")
    )
    ep = provider(
        upstream_format="responses",
        token_source=ListTokenSource("tok"),
        native_prefix="gpt-",
        default_model="gpt-5",
    )
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        client = anthropic_sdk(app)
        async with client.messages.stream(
            model="claude-opus-4-8",
            max_tokens=1000,
            system=[
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2"},
                {"type": "text", "text": "You are helpful."},
            ],
            messages=[{"role": "user", "content": "List files"}],
            tools=[
                {
                    "name": "Bash",
                    "input_schema": {
                        "type": "object",
                        "properties": {"command": {"type": "string"}},
                    },
                }
            ],
        ) as stream:
            final = await stream.get_final_message()
    assert final.model == "claude-opus-4-8"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"command": "ls -la"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    sent = fake.requests[0].json
    assert sent["model"] == "gpt-5"
    assert "You are helpful." in sent["instructions"]
    assert "x-anthropic-billing-header" not in json.dumps(sent)
    assert all(item.get("role") != "system" for item in sent["input"])
    assert sent["prompt_cache_key"]
    assert fake.requests[0].headers["session_id"] == sent["prompt_cache_key"]


async def test_converted_chat_stream_honours_include_usage() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.text("Counted.", usage={"input": 40, "output": 7}))
    ep = provider(token_source=ListTokenSource("tok"))
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        client = openai_sdk(app)
        stream = await client.chat.completions.create(
            model="claude-sonnet-4-6",
            messages=[{"role": "user", "content": "Count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert usage_chunks, "no usage chunk"
    assert not usage_chunks[-1].choices
    assert (usage_chunks[-1].usage.prompt_tokens, usage_chunks[-1].usage.completion_tokens) == (
        40,
        7,
    )


async def test_provider_root_answers_with_and_without_a_trailing_slash() -> None:
    async with started_app(
        SETTINGS, entry_points=[provider(token_source=ListTokenSource("tok"))]
    ) as app:
        async with app_client(app) as client:
            bare = await client.head("/testprov")
            slash = await client.get("/testprov/")
            models = await client.get(
                "/testprov/v1/models", headers={"anthropic-version": "2023-06-01"}
            )
    assert bare.status_code == 200  # no redirect: clients probe their base URL itself
    assert slash.json() == {"provider": "testprov", "status": "ok"}
    assert models.json()["has_more"] is False
