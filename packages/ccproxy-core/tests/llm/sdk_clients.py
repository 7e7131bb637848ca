"""The official SDKs as judges: parse bytes our encoders produced, with no network."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import httpx2
import openai
from openai.lib.streaming.chat import ChatCompletionStreamState

from ccproxy.llm.ir import WireFormat


@dataclass
class Outcome:
    """What a client ended up with, in format-neutral terms."""

    text: str = ""
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stop: str | None = None
    reasoning: str = ""
    usage: dict[str, int] = field(default_factory=dict)


def _transport(payload: bytes, *, stream: bool) -> httpx.Client:
    content_type = "text/event-stream" if stream else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload, headers={"content-type": content_type})

    return httpx.Client(transport=httpx.MockTransport(handler))


def _anthropic_transport(payload: bytes, *, stream: bool) -> httpx2.Client:
    # anthropic 2.x runs on its own httpx fork, httpx2.
    content_type = "text/event-stream" if stream else "application/json"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=payload, headers={"content-type": content_type})

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def parse(client_format: WireFormat, payload: bytes, *, stream: bool) -> Outcome:
    """Let the SDK of ``client_format`` parse ``payload`` and describe what it got."""
    if client_format == "anthropic":
        return _anthropic(_anthropic_transport(payload, stream=stream), stream)
    http = _transport(payload, stream=stream)
    if client_format == "chat":
        return _chat(http, stream, payload)
    return _responses(http, stream)


def _anthropic(http: httpx2.Client, stream: bool) -> Outcome:
    client = anthropic.Anthropic(
        api_key="test", base_url="http://127.0.0.1:9", http_client=http, max_retries=0
    )
    args: dict[str, Any] = {
        "model": "client-model",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
    }
    if stream:
        with client.messages.stream(**args) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**args)
    outcome = Outcome(stop=message.stop_reason)
    for block in message.content:
        if block.type == "text":
            outcome.text += block.text
        elif block.type == "tool_use":
            outcome.tools.append((block.name, dict(block.input)))  # type: ignore[arg-type]
        elif block.type == "thinking":
            outcome.reasoning += block.thinking
    outcome.usage = {
        "input": message.usage.input_tokens,
        "output": message.usage.output_tokens,
        "cache_read": message.usage.cache_read_input_tokens or 0,
    }
    assert message.model == "client-model"
    return outcome


_CHAT_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _chat(http: httpx.Client, stream: bool, payload: bytes) -> Outcome:
    client = openai.OpenAI(
        api_key="test", base_url="http://127.0.0.1:9/v1", http_client=http, max_retries=0
    )
    args: dict[str, Any] = {"model": "client-model", "messages": [{"role": "user", "content": "x"}]}
    if stream:
        # Accumulate with the SDK's own state machine (its .stream() helper raises on
        # finish_reason "length", which is a legitimate outcome here).
        state = ChatCompletionStreamState()
        for chunk in client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}
        ):
            state.handle_chunk(chunk)
        completion = state.current_completion_snapshot
    else:
        completion = client.chat.completions.create(**args)
    choice = completion.choices[0]
    outcome = Outcome(
        text=choice.message.content or "",
        stop=_CHAT_STOP.get(choice.finish_reason, choice.finish_reason),
    )
    for call in choice.message.tool_calls or []:
        outcome.tools.append((call.function.name, json.loads(call.function.arguments)))  # type: ignore[union-attr]
    extra = getattr(choice.message, "model_extra", None) or {}
    outcome.reasoning = extra.get("reasoning_content") or ""
    if stream and not outcome.reasoning:
        outcome.reasoning = "".join(
            (chunk.get("choices") or [{}])[0].get("delta", {}).get("reasoning_content") or ""
            for chunk in _chat_chunks(payload)
        )
    if completion.usage is not None:
        cached = (
            (completion.usage.prompt_tokens_details.cached_tokens or 0)
            if completion.usage.prompt_tokens_details
            else 0
        )
        outcome.usage = {
            "input": completion.usage.prompt_tokens - cached,
            "output": completion.usage.completion_tokens,
            "cache_read": cached,
        }
    assert completion.model == "client-model"
    return outcome


def _chat_chunks(payload: bytes) -> list[dict[str, Any]]:
    chunks = []
    for line in payload.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            value = json.loads(line[6:])
            if isinstance(value, dict) and value.get("choices"):
                chunks.append(value)
    return chunks


def _responses(http: httpx.Client, stream: bool) -> Outcome:
    client = openai.OpenAI(
        api_key="test", base_url="http://127.0.0.1:9/v1", http_client=http, max_retries=0
    )
    args: dict[str, Any] = {"model": "client-model", "input": "x"}
    if stream:
        # Iterate the SDK's typed events: get_final_response() refuses response.incomplete,
        # which is a legitimate end (max_output_tokens).
        final = None
        for event in client.responses.create(**args, stream=True):
            if event.type in ("response.completed", "response.incomplete"):
                final = event.response
        assert final is not None, "stream had no terminal response event"
        result = final
    else:
        result = client.responses.create(**args)
    outcome = Outcome(text=result.output_text)
    has_calls = False
    for item in result.output:
        if item.type == "function_call":
            has_calls = True
            outcome.tools.append((item.name, json.loads(item.arguments)))
        elif item.type == "reasoning":
            outcome.reasoning += "".join(s.text for s in item.summary)
    if result.status == "incomplete":
        reason = result.incomplete_details.reason if result.incomplete_details else None
        outcome.stop = "max_tokens" if reason == "max_output_tokens" else "refusal"
    else:
        outcome.stop = "tool_use" if has_calls else "end_turn"
    if result.usage is not None:
        cached = result.usage.input_tokens_details.cached_tokens or 0
        outcome.usage = {
            "input": result.usage.input_tokens - cached,
            "output": result.usage.output_tokens,
            "cache_read": cached,
        }
    assert result.model == "client-model"
    return outcome
