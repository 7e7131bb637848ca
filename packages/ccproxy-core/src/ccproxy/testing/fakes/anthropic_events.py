"""A scripted reply as an Anthropic message and its SSE events (independent of ccproxy.llm)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ccproxy.testing.fakes._base import Event
from ccproxy.testing.fakes.scripting import (
    ReasoningPart,
    Reply,
    TextPart,
    ToolCallPart,
    approx_tokens,
    json_fragments,
    output_tokens,
)

__all__ = ["MessageRendering"]

_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "max_tokens": "max_tokens"}


class MessageRendering:
    """A reply as Anthropic content blocks, usage and stream events for one request."""

    def __init__(self, reply: Reply, body: Mapping[str, Any], message_id: str, serial: int) -> None:
        self.reply = reply
        self.model = reply.model or str(body.get("model"))
        self.message_id = message_id
        self.blocks: list[dict[str, Any]] = []
        for index, part in enumerate(reply.parts):
            if isinstance(part, TextPart):
                self.blocks.append({"type": "text", "text": part.text})
            elif isinstance(part, ReasoningPart):
                block = {"type": "thinking", "thinking": part.text, "signature": part.signature}
                self.blocks.append(block)
            else:
                call = part.call
                call_id = call.id or f"toolu_fake_{serial:04d}_{index}"
                block = {"type": "tool_use", "id": call_id, "name": call.name}
                self.blocks.append({**block, "input": dict(call.arguments)})
        overrides = reply.usage or {}
        self.usage = {
            "input_tokens": overrides.get(
                "input",
                approx_tokens([body.get("system"), body.get("messages"), body.get("tools")]),
            ),
            "cache_creation_input_tokens": overrides.get("cache_write", 0),
            "cache_read_input_tokens": overrides.get("cache_read", 0),
            "output_tokens": overrides.get(
                "output", max(1, output_tokens(reply.parts, reasoning=True))
            ),
        }
        self.stop_reason = reply.stop_reason or _STOP_REASONS[reply.finish]

    def message(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage,
        }

    def events(self, *, send_ping: bool) -> list[Event]:
        start = {
            **self.message(),
            "content": [],
            "stop_reason": None,
            "usage": {**self.usage, "output_tokens": min(1, self.usage["output_tokens"])},
        }
        events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
        if send_ping:
            events.append(("ping", {"type": "ping"}))
        for index, (part, block) in enumerate(zip(self.reply.parts, self.blocks, strict=True)):
            events.extend(_block_events(index, part, block))
        delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
        events.append(
            ("message_delta", {"type": "message_delta", "delta": delta, "usage": self.usage})
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def _block_events(index: int, part: Any, block: dict[str, Any]) -> list[Event]:
    def delta(payload: dict[str, Any]) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": payload},
        )

    if isinstance(part, TextPart):
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": chunk}) for chunk in part.chunks]
    elif isinstance(part, ReasoningPart):
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": chunk}) for chunk in part.chunks]
        deltas.append(delta({"type": "signature_delta", "signature": part.signature}))
    else:
        assert isinstance(part, ToolCallPart)
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        arguments = json.dumps(block["input"], separators=(",", ":"))
        deltas = [
            delta({"type": "input_json_delta", "partial_json": fragment})
            for fragment in ["", *json_fragments(arguments)]
        ]
    return [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        ),
        *deltas,
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]
