"""FakeAnthropic: strict like the Messages API for OAuth traffic, scriptable, SDK-compatible."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from ccproxy.testing import (
    FakeAnthropic,
    FakeClaudeOAuth,
    LiveServer,
    Reply,
    ToolCallSpec,
)
from ccproxy.testing.fakes import CLAUDE_CODE_IDENTITY, OAUTH_BETA

BILLING = "x-anthropic-billing-header: cc_version=2.1.197; cch=abc"
SYSTEM = [{"type": "text", "text": BILLING}, {"type": "text", "text": CLAUDE_CODE_IDENTITY}]
DROP = ...  # body(field=DROP) leaves the field out
HEADERS = {
    "authorization": "Bearer tok",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": f"claude-code-20250219,{OAUTH_BETA}",
}


@pytest.fixture(autouse=True)
def _no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-opus-4-8",
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": "hi"}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def sdk(fake: FakeAnthropic, token: str = "tok") -> anthropic.AsyncAnthropic:
    # The SDKs are built on httpx2, so the in-process transport comes from httpx2 too.
    transport = httpx2.ASGITransport(app=fake)
    return anthropic.AsyncAnthropic(
        auth_token=token,
        base_url="http://fake",
        max_retries=0,
        default_headers={"anthropic-beta": OAUTH_BETA},
        http_client=httpx2.AsyncClient(transport=transport),
    )


Raw = Callable[[FakeAnthropic], httpx.AsyncClient]


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    clients: list[httpx.AsyncClient] = []

    def make(fake: FakeAnthropic) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def stream_final(client: anthropic.AsyncAnthropic, **kwargs: Any) -> Any:
    params = {**body(), **kwargs}
    async with client.messages.stream(**params) as stream:
        return await stream.get_final_message()


# --- scripted replies through the official SDK ---------------------------------------------


async def test_default_reply_streams_through_the_sdk() -> None:
    message = await stream_final(sdk(FakeAnthropic()))
    assert message.content[0].text == "Hello from the fake."
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-opus-4-8"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


async def test_non_streaming_request_gets_one_json_message() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.text("plain"))
    message = await sdk(fake).messages.create(**body())
    assert message.content[0].text == "plain"
    assert message.id.startswith("msg_")


async def test_parallel_tool_calls_after_text() -> None:
    fake = FakeAnthropic()
    calls = [
        ToolCallSpec("get_weather", {"city": "Paris", "days": [1, 2]}),
        ToolCallSpec("get_time", {"tz": "CET"}, id="toolu_given"),
    ]
    fake.enqueue(Reply.tool_calls(calls, text_before="Checking."))
    message = await stream_final(sdk(fake))
    kinds = [block.type for block in message.content]
    assert kinds == ["text", "tool_use", "tool_use"]
    assert message.content[1].input == {"city": "Paris", "days": [1, 2]}
    assert message.content[2].id == "toolu_given"
    assert message.content[1].id.startswith("toolu_")
    assert message.stop_reason == "tool_use"


async def test_reasoning_gives_a_signed_thinking_block() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.reasoning("Let me think.", then=Reply.text("42")))
    message = await stream_final(sdk(fake))
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "Let me think."
    assert thinking.signature.startswith("sig-")
    assert text.text == "42"


async def test_usage_overrides_and_max_tokens() -> None:
    fake = FakeAnthropic()
    usage = {"input": 7, "output": 3, "cache_read": 100, "cache_write": 20}
    fake.enqueue(Reply.max_tokens("partial", usage=usage))
    message = await stream_final(sdk(fake))
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == "partial"
    assert message.usage.input_tokens == 7
    assert message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 20


async def test_rate_limit_error_with_retry_after() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.error(429, retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await stream_final(sdk(fake))
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_overloaded_529() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.error(529))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await sdk(fake).messages.create(**body())
    assert caught.value.status_code == 529
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_mid_stream_error_event_raises_in_the_sdk() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.stream_error(after_events=4, error_type="overloaded_error"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await stream_final(sdk(fake))
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_stream_error_on_a_non_streaming_request_is_an_http_error(raw: Raw) -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.stream_error(error_type="api_error", message="boom"))
    response = await raw(fake).post("/v1/messages", headers=HEADERS, json=body())
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "api_error", "message": "boom"}


async def test_cut_stream_has_no_terminal_event(raw: Raw) -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.cut(after_events=5))
    response = await raw(fake).post("/v1/messages", headers=HEADERS, json=body(stream=True))
    names = [name for name, _ in sse_events(response.text)]
    assert len(names) == 5
    assert "message_stop" not in names
    assert "message_delta" not in names


async def test_sse_is_spec_exact(raw: Raw) -> None:
    fake = FakeAnthropic()
    fake.enqueue(
        Reply.reasoning("hmm", then=Reply.tool_calls([ToolCallSpec("f", {"a": "long value " * 3})]))
    )
    response = await raw(fake).post(
        "/v1/messages?beta=true", headers=HEADERS, json=body(stream=True)
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("event: message_start\ndata: {")
    events = sse_events(response.text)
    assert all(data["type"] == name for name, data in events)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert {"cache_read_input_tokens", "cache_creation_input_tokens"} <= start["usage"].keys()
    by_index: dict[int, list[dict[str, Any]]] = {}
    for name, data in events:
        if name.startswith("content_block"):
            by_index.setdefault(data["index"], []).append(data)
    thinking, tool = by_index[0], by_index[1]
    assert thinking[0]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert [d["delta"]["type"] for d in thinking[1:-1]] == ["thinking_delta", "signature_delta"]
    assert tool[0]["content_block"]["input"] == {}
    fragments = [d["delta"]["partial_json"] for d in tool[1:-1]]
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == {"a": "long value " * 3}
    assert tool[-1]["type"] == "content_block_stop"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_text_chunks_are_the_deltas(raw: Raw) -> None:
    fake = FakeAnthropic(send_ping=False)
    fake.enqueue(Reply.text(chunks=["Hel", "lo"]))
    response = await raw(fake).post("/v1/messages", headers=HEADERS, json=body(stream=True))
    deltas = [
        d["delta"]["text"] for n, d in sse_events(response.text) if n == "content_block_delta"
    ]
    assert deltas == ["Hel", "lo"]


async def test_response_headers_rate_limits_and_request_id(raw: Raw) -> None:
    fake = FakeAnthropic(rate_limit_headers={"anthropic-ratelimit-unified-status": "rejected"})
    fake.enqueue(Reply.text("x", headers={"anthropic-ratelimit-unified-5h-utilization": "0.9"}))
    response = await raw(fake).post("/v1/messages", headers=HEADERS, json=body())
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert response.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.9"
    default = await raw(FakeAnthropic()).post("/v1/messages", headers=HEADERS, json=body())
    for suffix in ("status", "reset", "5h-utilization"):
        assert f"anthropic-ratelimit-unified-{suffix}" in default.headers


async def test_count_tokens_is_deterministic(raw: Raw) -> None:
    fake = FakeAnthropic()
    client = raw(fake)
    request = {"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]}
    first = await client.post("/v1/messages/count_tokens?beta=true", headers=HEADERS, json=request)
    second = await client.post("/v1/messages/count_tokens", headers=HEADERS, json=request)
    assert first.status_code == 200
    assert first.json() == second.json() == {"input_tokens": 3}  # ceil(len("user" "abcdefgh") / 4)
    assert fake.pending_replies == 0


async def test_requests_are_recorded_and_refusals_keep_the_queue(raw: Raw) -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.text("first"), lambda request: Reply.text(request.json["model"]))
    client = raw(fake)
    refused = await client.post("/v1/messages", headers={**HEADERS, "authorization": ""}, json={})
    assert refused.status_code == 401
    one = await client.post("/v1/messages?beta=true", headers=HEADERS, json=body())
    two = await client.post("/v1/messages", headers=HEADERS, json=body(model="dynamic"))
    assert one.json()["content"][0]["text"] == "first"
    assert two.json()["content"][0]["text"] == "dynamic"
    assert [r.status for r in fake.requests] == [401, 200, 200]
    recorded = fake.requests[1]
    assert recorded.method == "POST"
    assert recorded.path == "/v1/messages"
    assert recorded.query == {"beta": "true"}
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.bearer_token == "tok"
    assert recorded.json["model"] == "claude-opus-4-8"


# --- strict checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "payload", "status", "error_type", "fragment"),
    [
        ({"authorization": None}, body(), 401, "authentication_error", "x-api-key"),
        ({"authorization": "Basic abc"}, body(), 401, "authentication_error", "bearer"),
        ({"x-api-key": "sk-ant-api"}, body(), 401, "authentication_error", "x-api-key"),
        ({"anthropic-version": None}, body(), 400, "invalid_request_error", "anthropic-version"),
        ({"anthropic-version": "latest"}, body(), 400, "invalid_request_error", "version"),
        ({"anthropic-beta": "claude-code-20250219"}, body(), 401, "authentication_error", "OAuth"),
        ({}, body(system=DROP), 400, "invalid_request_error", "Claude Code"),
        ({}, body(system="You are a helpful bot."), 400, "invalid_request_error", "Claude Code"),
        ({}, body(system=SYSTEM[:1]), 400, "invalid_request_error", "Claude Code"),
        (
            {},
            body(system=[{"type": "text", "text": "Hi"}, *SYSTEM]),
            400,
            "invalid_request_error",
            "Claude Code",
        ),
        ({}, body(temperature=None), 400, "invalid_request_error", "temperature"),
        ({}, body(temperature=0.5, top_p=0.9), 400, "invalid_request_error", "top_p"),
        ({}, body(model=DROP), 400, "invalid_request_error", "model: Field required"),
        ({}, body(max_tokens=DROP), 400, "invalid_request_error", "max_tokens: Field required"),
        ({}, body(messages=DROP), 400, "invalid_request_error", "messages: Field required"),
        ({}, body(messages=[]), 400, "invalid_request_error", "messages"),
        ({}, body(max_tokens="10"), 400, "invalid_request_error", "max_tokens"),
    ],
)
async def test_strict_rules_answer_like_the_api(
    raw: Raw,
    headers: dict[str, str | None],
    payload: dict[str, Any],
    status: int,
    error_type: str,
    fragment: str,
) -> None:
    fake = FakeAnthropic()
    merged = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
    response = await raw(fake).post("/v1/messages", headers=merged, json=payload)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == error_type
    assert fragment.lower() in error["error"]["message"].lower()
    assert response.headers["request-id"].startswith("req_")
    assert fake.pending_replies == 0 and fake.requests[-1].status == status


def cached_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}


async def test_more_than_four_cache_control_blocks_are_refused(raw: Raw) -> None:
    system = [cached_block(CLAUDE_CODE_IDENTITY), cached_block("more")]
    tools = [
        {"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    ]
    result = {"type": "tool_result", "tool_use_id": "x", "content": [cached_block("r")]}
    messages = [{"role": "user", "content": [result, cached_block("q")]}]
    client = raw(FakeAnthropic())
    response = await client.post(
        "/v1/messages", headers=HEADERS, json=body(system=system, tools=tools, messages=messages)
    )
    assert response.status_code == 400
    assert "Found 5" in response.json()["error"]["message"]
    four = [{"role": "user", "content": [cached_block("q")]}]
    ok = await client.post(
        "/v1/messages", headers=HEADERS, json=body(system=system, tools=tools, messages=four)
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "system",
    [
        CLAUDE_CODE_IDENTITY + "\n\nMore instructions.",
        [{"type": "text", "text": CLAUDE_CODE_IDENTITY}, {"type": "text", "text": "rest"}],
        SYSTEM,
        [{"type": "text", "text": BILLING}, {"type": "text", "text": BILLING}, *SYSTEM[1:]],
    ],
)
async def test_identity_prompt_accepted_forms(raw: Raw, system: Any) -> None:
    response = await raw(FakeAnthropic()).post(
        "/v1/messages", headers=HEADERS, json=body(system=system)
    )
    assert response.status_code == 200, response.text


async def test_switchable_rules(raw: Raw) -> None:
    fake = FakeAnthropic(require_claude_code_system=False, reject_temperature_with_top_p=False)
    response = await raw(fake).post(
        "/v1/messages", headers=HEADERS, json=body(system=DROP, temperature=0.2, top_p=0.5)
    )
    assert response.status_code == 200
    fake.require_claude_code_system = True
    again = await raw(fake).post("/v1/messages", headers=HEADERS, json=body(system=DROP))
    assert again.status_code == 400


async def test_api_key_requests_skip_the_oauth_rules(raw: Raw) -> None:
    fake = FakeAnthropic(accepted_api_keys={"sk-ant-api-1"})
    headers = {"x-api-key": "sk-ant-api-1", "anthropic-version": "2023-06-01"}
    response = await raw(fake).post("/v1/messages", headers=headers, json=body(system=DROP))
    assert response.status_code == 200


async def test_rejected_betas_and_unknown_models(raw: Raw) -> None:
    fake = FakeAnthropic(rejected_betas={"context-1m-2025-08-07"}, known_models={"claude-a"})
    client = raw(fake)
    beta = await client.post(
        "/v1/messages",
        headers={**HEADERS, "anthropic-beta": f"{OAUTH_BETA},context-1m-2025-08-07"},
        json=body(model="claude-a"),
    )
    assert beta.status_code == 400
    assert "context-1m-2025-08-07" in beta.json()["error"]["message"]
    model = await client.post("/v1/messages", headers=HEADERS, json=body(model="claude-b"))
    assert model.status_code == 404
    assert model.json()["error"]["type"] == "not_found_error"


async def test_unknown_path_is_a_404_in_the_api_shape(raw: Raw) -> None:
    response = await raw(FakeAnthropic()).get("/v1/models", headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


# --- tokens tied to the OAuth fake ---------------------------------------------------------


async def test_tokens_follow_the_oauth_fake(raw: Raw) -> None:
    oauth = FakeClaudeOAuth()
    fake = FakeAnthropic(oauth=oauth)
    token = oauth.mint_credentials()["access_token"]
    client = raw(fake)

    async def call(bearer: str) -> httpx.Response:
        headers = {**HEADERS, "authorization": f"Bearer {bearer}"}
        return await client.post("/v1/messages", headers=headers, json=body())

    assert (await call(token)).status_code == 200
    unknown = await call("sk-ant-oat01-someone-else")
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"] == "Invalid bearer token"

    oauth.expire_now(token)
    expired = await call(token)
    assert expired.status_code == 401
    assert expired.json()["error"]["type"] == "authentication_error"
    assert "expired" in expired.json()["error"]["message"]

    other = oauth.mint_credentials()["access_token"]
    oauth.revoke(other)
    assert "revoked" in (await call(other)).json()["error"]["message"]

    no_inference = oauth.mint_credentials(scopes=["user:profile"])["access_token"]
    forbidden = await call(no_inference)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["type"] == "permission_error"


async def test_accepted_tokens_only(raw: Raw) -> None:
    fake = FakeAnthropic(accepted_tokens={"good"})
    client = raw(fake)
    ok = await client.post(
        "/v1/messages", headers={**HEADERS, "authorization": "Bearer good"}, json=body()
    )
    bad = await client.post("/v1/messages", headers=HEADERS, json=body())
    assert (ok.status_code, bad.status_code) == (200, 401)


async def test_expired_token_through_the_sdk_is_an_authentication_error() -> None:
    oauth = FakeClaudeOAuth()
    token = oauth.mint_credentials()["access_token"]
    oauth.expire_now(token)
    with pytest.raises(anthropic.AuthenticationError):
        await stream_final(sdk(FakeAnthropic(oauth=oauth), token))


# --- on a real loopback server -------------------------------------------------------------


async def test_slow_stream_arrives_event_by_event_on_a_live_server() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.text("one two three", delay_between_events=0.05))
    async with LiveServer(fake) as server, httpx.AsyncClient(base_url=server.url) as client:
        started = time.monotonic()
        arrivals = []
        async with client.stream(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        ) as response:
            async for _ in response.aiter_raw():
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 3
    assert arrivals[-1] - arrivals[0] >= 0.2  # nine gaps of 0.05 s, spread over the body


async def test_aborted_cut_drops_the_connection_on_a_live_server() -> None:
    fake = FakeAnthropic()
    fake.enqueue(Reply.cut(after_events=4, abort=True))

    async def read_all(client: httpx.AsyncClient) -> bytes:
        request = client.build_request(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        )
        response = await client.send(request, stream=True)
        try:
            return await response.aread()
        finally:
            await response.aclose()

    async with LiveServer(fake) as server, httpx.AsyncClient(base_url=server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await read_all(client)
