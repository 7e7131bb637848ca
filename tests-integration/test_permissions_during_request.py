"""A permission request approved over the API while a proxied stream is in flight.

The real server with every plugin: an official MCP client calls ``check_permission`` on
``/permissions/mcp``, an approver task finds the pending request through the HTTP API and
allows it with an edited input, and all the while a ``/claude/v1/messages`` stream (slowed at
the fake) keeps flowing. Neither blocks the other.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ccproxy.testing import Reply
from integration_kit import CLAUDE_MODEL, provider_stack

CHUNKS = [f"word{i} " for i in range(30)]
DELAY = 0.1  # seconds between stream events: the stream lasts about 3 s
ORIGINAL_INPUT = {"command": "rm -rf build", "description": "Clean the build"}
EDITED_INPUT = {"command": "rm -rf build/tmp", "description": "Clean only the scratch folder"}


@asynccontextmanager
async def mcp_session(url: str) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(timeout=30) as client:
        async with streamable_http_client(f"{url}/permissions/mcp", http_client=client) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield session


async def check_permission(session: ClientSession, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool("check_permission", arguments)
    assert not result.is_error, result
    return dict(json.loads(result.content[0].text))  # type: ignore[union-attr]


async def wait_pending(api: httpx.AsyncClient, *, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            response = await api.get("/permissions/api/requests", params={"status": "pending"})
            assert response.status_code == 200, response.text
            pending = response.json()["requests"]
            if pending:
                assert len(pending) == 1, pending
                return dict(pending[0])
            await asyncio.sleep(0.02)


async def test_mcp_approval_while_a_proxied_stream_runs(tmp_path: Path) -> None:
    async with provider_stack(tmp_path) as stack:
        stack.anthropic.enqueue(
            Reply.text("".join(CHUNKS), chunks=CHUNKS, delay_between_events=DELAY)
        )
        stream_started = asyncio.Event()
        stream_done = asyncio.Event()
        received: list[str] = []

        async def proxied_stream(client: httpx.AsyncClient) -> str:
            async with client.stream(
                "POST",
                "/claude/v1/messages",
                headers={"anthropic-version": "2023-06-01"},
                json={
                    "model": CLAUDE_MODEL,
                    "max_tokens": 512,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Count slowly."}],
                },
            ) as response:
                assert response.status_code == 200, (await response.aread()).decode()
                async for line in response.aiter_lines():
                    stream_started.set()
                    received.append(line)
            stream_done.set()
            return "\n".join(received)

        async def approver(api: httpx.AsyncClient) -> dict[str, Any]:
            pending = await wait_pending(api, within=10)
            in_flight = stream_started.is_set() and not stream_done.is_set()
            decision = await api.post(
                f"/permissions/api/requests/{pending['id']}/decision",
                json={"allow": True, "updated_input": EDITED_INPUT},
            )
            assert decision.status_code == 200, decision.text
            return {"pending": pending, "in_flight": in_flight}

        async with (
            httpx.AsyncClient(base_url=stack.url, timeout=30) as client,
            httpx.AsyncClient(base_url=stack.url, timeout=30) as api,
            mcp_session(stack.url) as session,
        ):
            async with asyncio.timeout(30):
                stream_task = asyncio.create_task(proxied_stream(client))
                await stream_started.wait()
                check_task = asyncio.create_task(
                    check_permission(
                        session,
                        {
                            "tool_name": "Bash",
                            "input": ORIGINAL_INPUT,
                            "tool_use_id": "toolu_01Perm",
                        },
                    )
                )
                approval = await approver(api)
                verdict = await check_task
                decided_while_streaming = not stream_done.is_set()
                raw = await stream_task
                again = await api.post(
                    f"/permissions/api/requests/{approval['pending']['id']}/decision",
                    json={"allow": False},
                )
                listed = await api.get(f"/permissions/api/requests/{approval['pending']['id']}")

    assert approval["pending"]["tool_name"] == "Bash"
    assert approval["pending"]["input"] == ORIGINAL_INPUT
    assert approval["pending"]["tool_use_id"] == "toolu_01Perm"
    assert approval["in_flight"], "the stream should still be running when the request is decided"
    assert decided_while_streaming, "the MCP answer should arrive before the stream ends"
    assert verdict == {"behavior": "allow", "updatedInput": EDITED_INPUT}
    assert again.status_code == 409, again.text
    assert listed.status_code == 200 and listed.json()["status"] == "allowed"

    # The stream completed, every chunk relayed in order.
    events = [json.loads(line[5:]) for line in raw.splitlines() if line.startswith("data:")]
    assert events[-1]["type"] == "message_stop"
    text = "".join(
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )
    assert text == "".join(CHUNKS)
