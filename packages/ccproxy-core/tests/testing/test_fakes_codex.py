"""FakeCodex: the ChatGPT Codex backend's rules, its Responses stream, and its WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import httpx2
import openai
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ccproxy.testing import FakeCodex, FakeCodexOAuth, LiveServer, Reply, ToolCallSpec

ACCOUNT = "acct-123"
HEADERS = {"authorization": "Bearer tok", "chatgpt-account-id": ACCOUNT}


@pytest.fixture(autouse=True)
def _no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "gpt-5.1-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "stream": True,
        "store": False,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def sdk(fake: FakeCodex, token: str = "tok", account: str = ACCOUNT) -> openai.AsyncOpenAI:
    # The SDK is built on httpx2, so the in-process transport comes from httpx2 too.
    return openai.AsyncOpenAI(
        api_key=token,
        base_url="http://fake/backend-api/codex",
        max_retries=0,
        default_headers={"chatgpt-account-id": account},
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake)),
    )


async def stream(client: openai.AsyncOpenAI) -> tuple[list[Any], Any]:
    """All events of one streamed request, and the final response (None if there is none)."""
    events = []
    async with client.responses.stream(
        model="gpt-5.1-codex", input=[{"role": "user", "content": "hi"}], store=False
    ) as s:
        async for event in s:
            events.append(event)
        try:
            final = await s.get_final_response()
        except RuntimeError:
            final = None
    return events, final


Raw = Callable[[FakeCodex], httpx.AsyncClient]


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    clients: list[httpx.AsyncClient] = []

    def make(fake: FakeCodex) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for frame in text.split("\n\n"):
        if frame.strip():
            lines = dict(line.split(": ", 1) for line in frame.split("\n"))
            data = json.loads(lines["data"])
            assert data["type"] == lines["event"]
            events.append(data)
    return events


# --- scripted replies through the official SDK ---------------------------------------------


async def test_default_reply_through_the_sdk() -> None:
    _, final = await stream(sdk(FakeCodex()))
    assert final.output_text == "Hello from the fake."
    assert final.status == "completed"
    assert final.usage.output_tokens > 0


async def test_reasoning_then_parallel_function_calls() -> None:
    fake = FakeCodex()
    calls = [
        ToolCallSpec("shell", {"cmd": ["ls", "-la"]}),
        ToolCallSpec("read", {"path": "a"}, id="call_x"),
    ]
    fake.enqueue(Reply.reasoning("Plan it.", then=Reply.tool_calls(calls)))
    _, final = await stream(sdk(fake))
    reasoning, first, second = final.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Plan it."
    assert reasoning.encrypted_content.startswith("enc-")
    assert (first.type, first.name, json.loads(first.arguments)) == (
        "function_call",
        "shell",
        {"cmd": ["ls", "-la"]},
    )
    assert first.call_id.startswith("call_") and first.id.startswith("fc_")
    assert second.call_id == "call_x"
    assert final.usage.output_tokens_details.reasoning_tokens > 0


async def test_usage_follows_the_responses_convention() -> None:
    fake = FakeCodex()
    fake.enqueue(
        Reply.text("x", usage={"input": 10, "cache_read": 90, "output": 5, "reasoning": 2})
    )
    _, final = await stream(sdk(fake))
    assert final.usage.input_tokens == 100  # includes the cached part
    assert final.usage.input_tokens_details.cached_tokens == 90
    assert final.usage.output_tokens == 5
    assert final.usage.output_tokens_details.reasoning_tokens == 2
    assert final.usage.total_tokens == 105


async def test_max_tokens_ends_with_response_incomplete() -> None:
    fake = FakeCodex()
    fake.enqueue(Reply.max_tokens("part"))
    events, final = await stream(sdk(fake))
    assert final is None  # the SDK wants response.completed
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.output[0].content[0].text == "part"


async def test_stream_error_and_failed_response() -> None:
    fake = FakeCodex()
    fake.enqueue(
        Reply.stream_error(after_events=3, error_type="server_error", message="boom"),
        Reply.stream_error(after_events=3, message="bad", codex_event="response.failed"),
    )
    events, final = await stream(sdk(fake))
    assert final is None
    assert (events[-1].type, events[-1].code, events[-1].message) == (
        "error",
        "server_error",
        "boom",
    )
    events, _ = await stream(sdk(fake))
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message == "bad"


async def test_http_error_with_retry_after() -> None:
    fake = FakeCodex()
    fake.enqueue(Reply.error(429, retry_after=30))
    with pytest.raises(openai.RateLimitError) as caught:
        await stream(sdk(fake))
    assert caught.value.response.headers["retry-after"] == "30"
    assert caught.value.body["type"] == "usage_limit_reached"  # type: ignore[index]


async def test_cut_stream_stops_before_the_terminal_event(raw: Raw) -> None:
    fake = FakeCodex()
    fake.enqueue(Reply.cut(after_events=4))
    response = await raw(fake).post("/responses", headers=HEADERS, json=body())
    types = [e["type"] for e in sse_events(response.text)]
    assert len(types) == 4
    assert not {"response.completed", "response.incomplete", "response.failed"} & set(types)


async def test_event_stream_shape(raw: Raw) -> None:
    fake = FakeCodex()
    fake.enqueue(
        Reply.reasoning(
            "ab cd",
            then=Reply.tool_calls([ToolCallSpec("f", {"k": "v" * 20})], text_before="Hi there"),
        )
    )
    response = await raw(fake).post("/backend-api/codex/responses", headers=HEADERS, json=body())
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for expected in (
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    ):
        assert expected in types
    added = [e for e in events if e["type"] == "response.output_item.added"]
    done = [e for e in events if e["type"] == "response.output_item.done"]
    assert [e["output_index"] for e in added] == [e["output_index"] for e in done] == [0, 1, 2]
    assert done[0]["item"]["encrypted_content"].startswith("enc-")
    args = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(args) > 1 and json.loads("".join(args)) == {"k": "v" * 20}
    text = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert text == ["Hi", " there"]
    assert events[-1]["response"]["output"] == [e["item"] for e in done]


async def test_usage_headers_and_recorded_requests(raw: Raw) -> None:
    fake = FakeCodex(usage_headers={"x-codex-primary-used-percent": "99"})
    fake.enqueue(Reply.text("x", headers={"x-codex-secondary-used-percent": "50"}))
    response = await raw(fake).post("/responses?client=test", headers=HEADERS, json=body())
    assert response.headers["x-codex-primary-used-percent"] == "99"
    assert response.headers["x-codex-secondary-used-percent"] == "50"
    default = await raw(FakeCodex()).post("/responses", headers=HEADERS, json=body())
    for name in (
        "primary-used-percent",
        "primary-reset-after-seconds",
        "secondary-used-percent",
        "secondary-reset-after-seconds",
    ):
        assert f"x-codex-{name}" in default.headers
    recorded = fake.last_request
    assert (recorded.method, recorded.path, recorded.query) == (
        "POST",
        "/responses",
        {"client": "test"},
    )
    assert recorded.headers["chatgpt-account-id"] == ACCOUNT
    assert recorded.json["model"] == "gpt-5.1-codex"


async def test_configurable_paths(raw: Raw) -> None:
    fake = FakeCodex(paths=["/codex/responses"])
    client = raw(fake)
    assert (await client.post("/codex/responses", headers=HEADERS, json=body())).status_code == 200
    missing = await client.post("/responses", headers=HEADERS, json=body())
    assert missing.status_code == 404


# --- strict checks -------------------------------------------------------------------------

DROP = ...


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (body(max_output_tokens=100), "Unsupported parameter: max_output_tokens"),
        (body(max_completion_tokens=100), "Unsupported parameter: max_completion_tokens"),
        (body(temperature=0.2), "Unsupported parameter: temperature"),
        (body(metadata={"a": "b"}), "Unsupported parameter: metadata"),
        (body(stream=False), "Stream must be set to true"),
        (body(stream=DROP), "Stream must be set to true"),
        (body(store=True), "Store must be set to false"),
        (body(store=DROP), "Store must be set to false"),
        (body(model=DROP), "Model is required"),
        (body(input="hi"), "Input must be a list"),
        (body(input=[{"role": "system", "content": "x"}]), "System messages are not allowed"),
    ],
)
async def test_request_rules(raw: Raw, payload: dict[str, Any], detail: str) -> None:
    fake = FakeCodex()
    response = await raw(fake).post("/responses", headers=HEADERS, json=payload)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert fake.pending_replies == 0 and fake.last_request.status == 400


async def test_developer_items_are_fine(raw: Raw) -> None:
    items = [{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]
    response = await raw(FakeCodex()).post("/responses", headers=HEADERS, json=body(input=items))
    assert response.status_code == 200


async def test_unknown_models(raw: Raw) -> None:
    response = await raw(FakeCodex(known_models={"gpt-5"})).post(
        "/responses", headers=HEADERS, json=body()
    )
    assert response.status_code == 400
    assert "not supported" in response.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"authorization": None}, 401),
        ({"authorization": "Bearer "}, 401),
        ({"chatgpt-account-id": None}, 403),
        ({"chatgpt-account-id": "acct-other"}, 403),
        ({"authorization": "Bearer unknown"}, 401),
    ],
)
async def test_authentication_rules(raw: Raw, headers: dict[str, str | None], status: int) -> None:
    fake = FakeCodex(accepted_tokens={"tok": ACCOUNT})
    merged = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
    response = await raw(fake).post("/responses", headers=merged, json=body())
    assert response.status_code == status


async def test_tokens_follow_the_oauth_fake(raw: Raw) -> None:
    oauth = FakeCodexOAuth(account_id="acct-oauth")
    fake = FakeCodex(oauth=oauth)
    creds = oauth.mint_credentials()
    client = raw(fake)

    async def call(token: str, account: str = "acct-oauth") -> httpx.Response:
        headers = {"authorization": f"Bearer {token}", "chatgpt-account-id": account}
        return await client.post("/responses", headers=headers, json=body())

    assert (await call(creds["access_token"])).status_code == 200
    assert (await call(creds["access_token"], account="acct-other")).status_code == 403
    oauth.expire_now(creds["access_token"])
    expired = await call(creds["access_token"])
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    second = oauth.mint_credentials()["access_token"]
    oauth.revoke(second)
    assert (await call(second)).status_code == 401
    assert (await call("not-issued")).status_code == 401


async def test_unconfigured_fake_reads_the_account_from_a_jwt(raw: Raw) -> None:
    creds = FakeCodexOAuth(account_id="acct-jwt").mint_credentials()
    client = raw(FakeCodex())
    headers = {"authorization": f"Bearer {creds['access_token']}", "chatgpt-account-id": "x"}
    assert (await client.post("/responses", headers=headers, json=body())).status_code == 403
    headers["chatgpt-account-id"] = "acct-jwt"
    assert (await client.post("/responses", headers=headers, json=body())).status_code == 200


async def test_sdk_with_an_oauth_token() -> None:
    oauth = FakeCodexOAuth()
    creds = oauth.mint_credentials()
    client = sdk(FakeCodex(oauth=oauth), creds["access_token"], creds["account_id"])
    _, final = await stream(client)
    assert final.output_text == "Hello from the fake."


# --- WebSocket transport -------------------------------------------------------------------


def ws_url(server: LiveServer, path: str = "/backend-api/codex/responses") -> str:
    return server.url.replace("http://", "ws://") + path


async def ws_turn(socket: Any, frame: dict[str, Any]) -> list[dict[str, Any]]:
    await socket.send(json.dumps(frame))
    events = []
    while True:
        event = json.loads(await socket.recv())
        events.append(event)
        if event["type"] in (
            "response.completed",
            "response.incomplete",
            "response.failed",
            "error",
        ):
            return events


async def test_websocket_turns() -> None:
    fake = FakeCodex()
    fake.enqueue(Reply.text("first"), Reply.tool_calls([ToolCallSpec("f", {})]))
    create = {"type": "response.create", **body(stream=DROP)}
    async with (
        LiveServer(fake) as server,
        connect(ws_url(server), additional_headers=HEADERS) as socket,
    ):
        first = await ws_turn(socket, create)
        assert first[-1]["type"] == "response.completed"
        assert [e["sequence_number"] for e in first] == list(range(len(first)))
        assert first[-1]["response"]["output"][0]["content"][0]["text"] == "first"
        second = await ws_turn(
            socket, {**create, "previous_response_id": first[-1]["response"]["id"]}
        )
        assert second[-1]["response"]["output"][0]["type"] == "function_call"
        refused = await ws_turn(socket, {**create, "input": [{"role": "system", "content": "x"}]})
        assert refused == [
            {
                "type": "error",
                "status": 400,
                "error": {
                    "type": "invalid_request_error",
                    "message": "System messages are not allowed",
                },
            }
        ]
    assert [r.method for r in fake.requests] == ["WS", "WS", "WS"]
    assert fake.requests[1].json["previous_response_id"] == first[-1]["response"]["id"]
    assert [r.status for r in fake.requests] == [200, 200, 400]


async def test_websocket_handshake_needs_authentication() -> None:
    fake = FakeCodex(accepted_tokens={"tok": ACCOUNT})
    async with LiveServer(fake) as server:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(
                ws_url(server), additional_headers={**HEADERS, "authorization": "Bearer bad"}
            ):
                pass
    assert caught.value.response.status_code == 401


async def test_websocket_scripted_error_and_cut() -> None:
    fake = FakeCodex()
    fake.enqueue(Reply.error(429, message="slow down"), Reply.cut(after_events=3))
    create = {"type": "response.create", **body(stream=DROP)}
    async with (
        LiveServer(fake) as server,
        connect(ws_url(server, "/responses"), additional_headers=HEADERS) as socket,
    ):
        error = await ws_turn(socket, create)
        assert error[0]["type"] == "error" and error[0]["status"] == 429
        assert error[0]["error"]["message"] == "slow down"
        await socket.send(json.dumps(create))
        received = [json.loads(await socket.recv()) for _ in range(3)]
        assert [e["type"] for e in received][:2] == ["response.created", "response.in_progress"]
        await socket.wait_closed()
    assert socket.close_code == 1011
