"""Every route of both providers, through the real server with every plugin, driven by the
official ``anthropic`` and ``openai`` SDKs: streaming and not, text and a tool round trip.

One proxy and one set of fakes serve the whole module; each case resets the fakes' logs.
The last test checks that metrics and the usage ledger moved for both providers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
import pytest_asyncio

from ccproxy.testing import Reply, ToolCallSpec
from integration_kit import (
    CLAUDE_MODEL,
    CODEX_MODEL,
    UNPRICED_CODEX_MODEL,
    Stack,
    metric_samples,
    metric_sum,
    provider_stack,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris"}
TOOL_RESULT = "sunny, 21 C"
FINAL_TEXT = "It is sunny in Paris."
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


@dataclass(frozen=True)
class Route:
    provider: str  # "claude" or "codex"
    dialect: str  # "messages", "chat", "responses"

    @property
    def path(self) -> str:
        suffix = {"messages": "messages", "chat": "chat/completions", "responses": "responses"}
        return f"/{self.provider}/v1/{suffix[self.dialect]}"

    @property
    def model(self) -> str:
        return CLAUDE_MODEL if self.provider == "claude" else CODEX_MODEL

    @property
    def upstream_call_id(self) -> str:
        return "toolu_01MatrixCall" if self.provider == "claude" else "call_MatrixCall01"


ROUTES = [
    Route(provider, dialect)
    for provider in ("claude", "codex")
    for dialect in ("messages", "chat", "responses")
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("matrix-home")
    async with provider_stack(home, f"plugins.codex.claude_model={CODEX_MODEL}") as running:
        yield running


# --- one client per dialect: send the first turn, then the tool result ----------------------


@dataclass
class Turn:
    text: str
    call_id: str | None = None
    call_name: str | None = None
    call_args: dict[str, Any] | None = None
    history: Any = None  # what the client sends back as the assistant turn


async def messages_turn(
    client: anthropic.AsyncAnthropic, route: Route, messages: list[Any], stream: bool, tools: bool
) -> Turn:
    kwargs: dict[str, Any] = {"model": route.model, "max_tokens": 256, "messages": messages}
    if tools:
        kwargs["tools"] = [
            {"name": TOOL_NAME, "description": "Weather of a city", "input_schema": SCHEMA}
        ]
    if stream:
        async with client.messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**kwargs)
    turn = Turn(text="".join(b.text for b in message.content if b.type == "text"))
    for block in message.content:
        if block.type == "tool_use":
            turn.call_id, turn.call_name, turn.call_args = block.id, block.name, dict(block.input)
    turn.history = [b.model_dump(exclude_none=True) for b in message.content]
    return turn


async def chat_turn(
    client: openai.AsyncOpenAI, route: Route, messages: list[Any], stream: bool, tools: bool
) -> Turn:
    kwargs: dict[str, Any] = {"model": route.model, "messages": messages}
    if tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": TOOL_NAME,
                    "description": "Weather of a city",
                    "parameters": SCHEMA,
                },
            }
        ]
    text = ""
    calls: dict[int, dict[str, str]] = {}
    if stream:
        response = await client.chat.completions.create(**kwargs, stream=True)
        async for chunk in response:
            for choice in chunk.choices:
                delta = choice.delta
                text += delta.content or ""
                for call in delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] = call.id or entry["id"]
                    if call.function is not None:
                        entry["name"] += call.function.name or ""
                        entry["arguments"] += call.function.arguments or ""
    else:
        completion = await client.chat.completions.create(**kwargs)
        message = completion.choices[0].message
        text = message.content or ""
        for index, call in enumerate(message.tool_calls or []):
            calls[index] = {
                "id": call.id,
                "name": call.function.name,
                "arguments": call.function.arguments,
            }
    turn = Turn(text=text)
    if calls:
        call = calls[min(calls)]
        turn.call_id, turn.call_name = call["id"], call["name"]
        turn.call_args = json.loads(call["arguments"] or "{}")
        turn.history = {
            "role": "assistant",
            "content": text or None,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls.values()
            ],
        }
    return turn


async def responses_turn(
    client: openai.AsyncOpenAI, route: Route, items: list[Any], stream: bool, tools: bool
) -> Turn:
    kwargs: dict[str, Any] = {"model": route.model, "input": items}
    if tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "name": TOOL_NAME,
                "description": "Weather of a city",
                "parameters": SCHEMA,
                "strict": False,
            }
        ]
    if stream:
        final = None
        streamed_text = ""
        response_stream = await client.responses.create(**kwargs, stream=True)
        async for event in response_stream:
            if event.type == "response.output_text.delta":
                streamed_text += event.delta
            elif event.type == "response.completed":
                final = event.response
        assert final is not None, "the stream ended without response.completed"
        assert streamed_text == final.output_text
    else:
        final = await client.responses.create(**kwargs)
    turn = Turn(text=final.output_text)
    history = []
    for item in final.output:
        if item.type == "function_call":
            turn.call_id, turn.call_name = item.call_id, item.name
            turn.call_args = json.loads(item.arguments or "{}")
            history.append(
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
    turn.history = history
    return turn


async def run_case(stack: Stack, route: Route, stream: bool, tools: bool) -> list[Turn]:
    """Both turns of a case (one for text); returns what the client saw."""
    http = httpx2.AsyncClient(timeout=30)
    question = "What is the weather in Paris?"
    turns: list[Turn] = []
    try:
        if route.dialect == "messages":
            client: Any = anthropic.AsyncAnthropic(
                api_key="unused", base_url=f"{stack.url}/{route.provider}", http_client=http
            )
            messages: list[Any] = [{"role": "user", "content": question}]
            turns.append(await messages_turn(client, route, messages, stream, tools))
            if tools:
                messages += [
                    {"role": "assistant", "content": turns[0].history},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": turns[0].call_id,
                                "content": TOOL_RESULT,
                            }
                        ],
                    },
                ]
                turns.append(await messages_turn(client, route, messages, stream, tools))
        elif route.dialect == "chat":
            client = openai.AsyncOpenAI(
                api_key="unused", base_url=f"{stack.url}/{route.provider}/v1", http_client=http
            )
            messages = [{"role": "user", "content": question}]
            turns.append(await chat_turn(client, route, messages, stream, tools))
            if tools:
                messages += [
                    turns[0].history,
                    {"role": "tool", "tool_call_id": turns[0].call_id, "content": TOOL_RESULT},
                ]
                turns.append(await chat_turn(client, route, messages, stream, tools))
        else:
            client = openai.AsyncOpenAI(
                api_key="unused", base_url=f"{stack.url}/{route.provider}/v1", http_client=http
            )
            items: list[Any] = [{"role": "user", "content": question}]
            turns.append(await responses_turn(client, route, items, stream, tools))
            if tools:
                items += [
                    *turns[0].history,
                    {
                        "type": "function_call_output",
                        "call_id": turns[0].call_id,
                        "output": TOOL_RESULT,
                    },
                ]
                turns.append(await responses_turn(client, route, items, stream, tools))
    finally:
        await http.aclose()
    return turns


def tool_results_seen_upstream(stack: Stack, route: Route) -> dict[str, str]:
    """call id → tool output, as the fake's last request carried them."""
    found: dict[str, str] = {}
    if route.provider == "claude":
        body = stack.anthropic.last_request.json
        for message in body["messages"]:
            content = message.get("content")
            if message["role"] != "user" or not isinstance(content, list):
                continue
            for block in content:
                if block.get("type") == "tool_result":
                    value = block.get("content")
                    if isinstance(value, list):
                        value = "".join(part.get("text", "") for part in value)
                    found[block["tool_use_id"]] = value
    else:
        body = stack.codex.last_request.json
        for item in body["input"]:
            if item.get("type") == "function_call_output":
                output = item.get("output")
                if isinstance(output, list):
                    output = "".join(part.get("text", "") for part in output)
                found[item["call_id"]] = output
    return found


@pytest.mark.parametrize("kind", ["text", "tool"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path.removeprefix("/"))
async def test_route(stack: Stack, route: Route, stream: bool, kind: str) -> None:
    stack.reset()
    fake = stack.anthropic if route.provider == "claude" else stack.codex
    if kind == "text":
        fake.enqueue(Reply.text("Paris is the capital.", usage={"input": 20, "output": 6}))
    else:
        call = ToolCallSpec(TOOL_NAME, TOOL_ARGS, id=route.upstream_call_id)
        fake.enqueue(
            Reply.tool_calls([call], usage={"input": 30, "output": 10}),
            Reply.text(FINAL_TEXT, usage={"input": 40, "output": 8}),
        )

    turns = await run_case(stack, route, stream, tools=kind == "tool")

    upstream = fake.requests
    assert all(r.status == 200 for r in upstream), [(r.path, r.status) for r in upstream]
    if kind == "text":
        assert turns[0].text == "Paris is the capital."
        assert len(upstream) == 1
        return
    assert len(upstream) == 2, stack.log()
    first, second = turns
    assert first.call_name == TOOL_NAME
    assert first.call_args == TOOL_ARGS
    assert first.call_id
    results = tool_results_seen_upstream(stack, route)
    assert results == {route.upstream_call_id: TOOL_RESULT}
    assert second.text == FINAL_TEXT
    assert second.call_id is None


async def test_metrics_and_usage_ledger_move_for_both_providers(stack: Stack) -> None:
    """Requests, tokens and cost counters and the usage ledger grow for both providers.

    ``claude-sonnet-4-5`` ($3 / $15) and ``gpt-5-codex`` ($1.25 / $10) are in the bundled pricing
    snapshot; Codex's default ``gpt-6.1-sol`` is not, so it must get no cost at all.
    """
    stack.reset()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:

        async def snapshot() -> dict[Any, float]:
            response = await client.get("/metrics")
            assert response.status_code == 200
            return metric_samples(response.text)

        async def usage() -> Any:
            response = await client.get(
                "/metrics/usage", params={"group_by": "model", "since": "1d"}
            )
            assert response.status_code == 200, response.text
            return response.json()

        before, usage_before = await snapshot(), await usage()
        stack.anthropic.enqueue(Reply.text("Priced.", usage={"input": 1000, "output": 500}))
        stack.codex.enqueue(
            Reply.text("Priced too.", usage={"input": 2000, "output": 100}),
            Reply.text("Unpriced.", usage={"input": 3000, "output": 300}),
        )
        claude = await client.post(
            "/claude/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={
                "model": CLAUDE_MODEL,
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert claude.status_code == 200, claude.text
        for model in (CODEX_MODEL, UNPRICED_CODEX_MODEL):
            codex = await client.post(
                "/codex/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert codex.status_code == 200, codex.text
        unpriced = await client.get(f"/pricing/models/{UNPRICED_CODEX_MODEL}")
        after, usage_after = await snapshot(), await usage()

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    assert delta("ccproxy_requests_total", provider="claude", route="/claude/v1/messages") == 1
    assert (
        delta("ccproxy_requests_total", provider="codex", route="/codex/v1/chat/completions") == 2
    )
    assert delta("ccproxy_cost_usd_total", provider="claude", model=CLAUDE_MODEL) == pytest.approx(
        0.0105
    )  # 1000 x $3e-6 + 500 x $15e-6
    assert delta("ccproxy_cost_usd_total", provider="codex", model=CODEX_MODEL) == pytest.approx(
        0.0035
    )  # 2000 x $1.25e-6 + 100 x $10e-6
    assert delta("ccproxy_tokens_total", provider="codex", type="output") == 400
    # An unknown model: requests and tokens are counted, no cost is invented.
    assert unpriced.status_code == 404, unpriced.text
    assert delta("ccproxy_cost_usd_total", provider="codex") == pytest.approx(0.0035)
    assert delta("ccproxy_tokens_total", provider="codex", type="input") == 5000
    # Metrics bound their label set: the unknown model is labelled ``other`` and has no cost.
    assert delta("ccproxy_requests_total", provider="codex", model="other") == 1
    assert delta("ccproxy_tokens_total", provider="codex", model="other", type="output") == 300
    assert delta("ccproxy_cost_usd_total", provider="codex", model="other") == 0
    assert not any(
        name == "ccproxy_cost_usd_total" and ("model", UNPRICED_CODEX_MODEL) in labels
        for name, labels in after
    )

    groups_before = {g["key"]: g for g in usage_before["groups"]}
    groups_after = {g["key"]: g for g in usage_after["groups"]}

    def ledger_delta(key: str, field: str) -> Decimal:
        old = groups_before.get(key, {}).get(field, 0)
        return Decimal(str(groups_after[key][field])) - Decimal(str(old))

    assert ledger_delta(CLAUDE_MODEL, "requests") == 1
    assert ledger_delta(CLAUDE_MODEL, "cost_usd") == Decimal("0.0105")
    assert ledger_delta(CODEX_MODEL, "requests") == 1
    assert ledger_delta(CODEX_MODEL, "cost_usd") == Decimal("0.0035")
    # The ledger keeps the unknown model's real name and counts it as unpriced.
    assert ledger_delta(UNPRICED_CODEX_MODEL, "requests") == 1
    assert ledger_delta(UNPRICED_CODEX_MODEL, "unpriced_requests") == 1
    assert ledger_delta(UNPRICED_CODEX_MODEL, "cost_usd") == 0
    total_before = Decimal(str(usage_before["total"]["cost_usd"]))
    total_after = Decimal(str(usage_after["total"]["cost_usd"]))
    assert total_after - total_before == Decimal("0.0140")
    assert usage_after["total"]["requests"] - usage_before["total"]["requests"] == 3
