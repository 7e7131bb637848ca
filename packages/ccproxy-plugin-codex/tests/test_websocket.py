"""The Responses WebSocket transport on ``/codex/v1/responses`` (a real socket, ``websockets``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from ccproxy.testing import LiveServer, Reply, ToolCallSpec
from codex_kit import Setup, codex_app, record_requests, upstream_bodies

TERMINAL = {"response.completed", "response.incomplete", "response.failed", "error"}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ready = Setup(tmp_path)
    ready.write_credentials()
    return ready


@asynccontextmanager
async def socket(setup: Setup, **tables: Any) -> AsyncIterator[tuple[ClientConnection, Any]]:
    """A WebSocket on the app's Responses URL (the app runs on a real loopback port)."""
    async with codex_app(setup, **tables) as app, LiveServer(app) as server:
        url = server.url.replace("http://", "ws://") + "/codex/v1/responses"
        async with connect(url, additional_headers={"session-id": "ws-session"}) as ws:
            yield ws, app


async def turn(ws: ClientConnection, **body: Any) -> list[dict[str, Any]]:
    """Send one ``response.create`` frame; the events up to the terminal one."""
    await ws.send(json.dumps({"type": "response.create", **body}))
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await ws.recv(decode=True))
        events.append(event)
        if event.get("type") in TERMINAL:
            return events


def user(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


async def test_a_turn_streams_each_event_as_one_text_frame(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("Hello over a socket"))
    async with socket(setup) as (ws, app):
        recorder = record_requests(app)
        events = await turn(ws, model="gpt-5", input=user("hi"), store=False)
    types = [event["type"] for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "Hello over a socket"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    [body] = upstream_bodies(setup.fake)
    assert body["stream"] is True  # bridged to the HTTP SSE backend
    assert body["store"] is False
    assert "type" not in body
    upstream = setup.fake.requests[0]
    assert upstream.method == "POST"
    assert upstream.headers["session-id"] == "ws-session"
    assert upstream.headers["chatgpt-account-id"] == "acct-codex-fake"
    [record] = recorder.records
    assert record.route == "/codex/v1/responses"
    assert record.rate_limits["x-codex-primary-used-percent"] == "12.0"


async def test_previous_response_id_chains_turns_within_the_socket(setup: Setup) -> None:
    setup.fake.enqueue(
        Reply.tool_calls([ToolCallSpec("shell", {"command": ["ls"]})]),
        Reply.text("Two files."),
    )
    async with socket(setup) as (ws, _app):
        first = await turn(ws, model="gpt-5", input=user("list files"))
        completed = first[-1]["response"]
        [call] = completed["output"]
        second = await turn(
            ws,
            model="gpt-5",
            previous_response_id=completed["id"],
            input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "a b"}],
        )
    assert second[-1]["type"] == "response.completed"
    _, body = upstream_bodies(setup.fake)
    assert "previous_response_id" not in body
    assert [item.get("type") for item in body["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]


async def test_warm_up_frames_are_answered_locally_and_can_be_chained(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("After the warm-up"))
    async with socket(setup) as (ws, _app):
        warm = await turn(ws, model="gpt-5", input=user("context"), generate=False)
        real = await turn(
            ws, model="gpt-5", previous_response_id=warm[-1]["response"]["id"], input=user("go")
        )
    assert [e["type"] for e in warm] == ["response.created", "response.completed"]
    assert warm[-1]["response"]["output"] == []
    assert real[-1]["type"] == "response.completed"
    [body] = upstream_bodies(setup.fake)  # the warm-up never went upstream
    assert "generate" not in body
    texts = [item["content"][0]["text"] for item in body["input"]]
    assert texts == ["context", "go"]


async def test_failures_answer_an_error_event_and_the_socket_stays_usable(setup: Setup) -> None:
    setup.fake.enqueue(Reply.error(500, message="backend down"), Reply.text("recovered"))
    async with socket(setup) as (ws, _app):
        failed = await turn(ws, model="gpt-5", input=user("one"))
        await ws.send("not json")
        malformed = json.loads(await ws.recv(decode=True))
        await ws.send(json.dumps({"type": "response.cancel"}))
        unknown_type = json.loads(await ws.recv(decode=True))
        unknown_previous = await turn(
            ws, model="gpt-5", input=user("x"), previous_response_id="resp_missing"
        )
        recovered = await turn(ws, model="gpt-5", input=user("two"))
    assert failed == [
        {"type": "error", "status": 500, "error": failed[0]["error"]},
    ]
    assert "backend down" in failed[0]["error"]["message"]
    assert (malformed["type"], malformed["status"]) == ("error", 400)
    assert (unknown_type["type"], unknown_type["status"]) == ("error", 400)
    assert unknown_previous[0]["status"] == 400
    assert "resp_missing" in unknown_previous[0]["error"]["message"]
    assert recovered[-1]["type"] == "response.completed"


async def test_binary_frames_work_and_oversized_frames_are_refused(setup: Setup) -> None:
    setup.fake.enqueue(Reply.text("binary ok"))
    async with socket(setup, server={"max_request_body_bytes": 4096}) as (ws, _app):
        await ws.send(
            json.dumps({"type": "response.create", "model": "gpt-5", "input": "hi"}).encode()
        )
        events = []
        while not events or events[-1]["type"] not in TERMINAL:
            events.append(json.loads(await ws.recv(decode=True)))
        [too_big] = await turn(ws, model="gpt-5", input=user("x" * 5000))
    assert events[-1]["type"] == "response.completed"
    assert (too_big["type"], too_big["status"]) == ("error", 413)
    assert "server.max_request_body_bytes" in too_big["error"]["message"]
    assert len(upstream_bodies(setup.fake)) == 1


async def test_without_credentials_the_error_event_says_how_to_log_in(setup: Setup) -> None:
    setup.auth_file.unlink()
    async with socket(setup) as (ws, _app):
        [event] = await turn(ws, model="gpt-5", input=user("hi"))
    assert (event["type"], event["status"]) == ("error", 401)
    assert "ccproxy auth login codex" in event["error"]["message"]
    assert setup.fake.requests == []


async def test_the_security_middleware_guards_the_handshake(setup: Setup) -> None:
    async with codex_app(setup) as app, LiveServer(app) as server:
        url = server.url.replace("http://", "ws://") + "/codex/v1/responses"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={"origin": "https://evil.example"}):
                pass
    assert refused.value.response.status_code == 403
