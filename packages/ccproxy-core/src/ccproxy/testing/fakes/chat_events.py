"""A scripted reply as an OpenAI Chat Completions answer and its chunks (independent of ccproxy.llm).

Reasoning comes as ``reasoning_text`` / ``reasoning_opaque`` on the message and the deltas, the
fields GitHub Copilot uses for Claude's thinking. Usage rides on the last chunk, with no
``stream_options`` needed, as Copilot sends it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ccproxy.testing.fakes._base import Event
from ccproxy.testing.fakes.scripting import (
    ReasoningPart,
    Reply,
    StreamInterruption,
    TextPart,
    ToolCallPart,
    approx_tokens,
    json_fragments,
    output_tokens,
)

__all__ = ["ChatRendering"]

_FINISH = {"stop": "stop", "tool_calls": "tool_calls", "max_tokens": "length"}


class ChatRendering:
    """A reply as one ``chat.completion`` or as ``chat.completion.chunk`` events.

    ``created`` is left out of both when ``created`` is ``None`` (Copilot may omit it).
    """

    def __init__(
        self, reply: Reply, body: Mapping[str, Any], serial: int, created: int | None
    ) -> None:
        self.reply = reply
        self.body = body
        self.completion_id = f"chatcmpl-fake{serial:06d}"
        self.model = reply.model or str(body.get("model"))
        self.created = created
        self.finish_reason = _FINISH[reply.finish]
        self.tool_calls = [
            {
                "id": part.call.id or f"call_fake_{serial:06d}_{index}",
                "type": "function",
                "function": {
                    "name": part.call.name,
                    "arguments": json.dumps(dict(part.call.arguments), separators=(",", ":")),
                },
            }
            for index, part in enumerate(reply.parts)
            if isinstance(part, ToolCallPart)
        ]
        self.usage = self._usage()

    def _usage(self) -> dict[str, Any]:
        overrides = self.reply.usage or {}
        prompt = [self.body.get("messages"), self.body.get("tools")]
        cached = overrides.get("cache_read", 0)
        prompt_tokens = (
            overrides.get("input", approx_tokens(prompt)) + cached + overrides.get("cache_write", 0)
        )
        reasoning_text = [p.text for p in self.reply.parts if isinstance(p, ReasoningPart)]
        reasoning = overrides.get("reasoning", approx_tokens(reasoning_text))
        visible = output_tokens(self.reply.parts, reasoning=False)
        completion = overrides.get("output", max(1, visible + reasoning))
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def _envelope(self, kind: str) -> dict[str, Any]:
        envelope: dict[str, Any] = {"id": self.completion_id, "object": kind, "model": self.model}
        if self.created is not None:
            envelope["created"] = self.created
        return envelope

    def completion(self) -> dict[str, Any]:
        """The non-streaming answer."""
        message: dict[str, Any] = {"role": "assistant", "content": None}
        text = "".join(p.text for p in self.reply.parts if isinstance(p, TextPart))
        if text:
            message["content"] = text
        for part in self.reply.parts:
            if isinstance(part, ReasoningPart):
                message["reasoning_text"] = message.get("reasoning_text", "") + part.text
                message["reasoning_opaque"] = part.signature
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": self.usage}

    def events(self) -> list[Event]:
        """Chunks (named ``chunk``; the SSE carries no event names), usage on the last."""
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        calls = iter(enumerate(self.tool_calls))
        for part in self.reply.parts:
            if isinstance(part, TextPart):
                deltas.extend({"content": chunk} for chunk in part.chunks)
            elif isinstance(part, ReasoningPart):
                deltas.extend({"reasoning_text": chunk} for chunk in part.chunks)
                deltas.append({"reasoning_opaque": part.signature})
            else:
                index, call = next(calls)
                deltas.extend(_tool_call_deltas(index, call))
        chunks = [self._chunk(delta, None) for delta in deltas]
        chunks.append({**self._chunk({}, self.finish_reason), "usage": self.usage})
        return [("chunk", chunk) for chunk in chunks]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {**self._envelope("chat.completion.chunk"), "choices": [choice]}

    @staticmethod
    def error_events(interruption: StreamInterruption) -> list[Event]:
        """A stream broken by an error: one ``data: {"error": ...}`` frame."""
        code = interruption.error_type or "server_error"
        return [("error", {"error": {"message": interruption.message, "code": code}})]


def _tool_call_deltas(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    function = call["function"]
    opening = {
        "index": index,
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": ""},
    }
    following = [
        {"index": index, "function": {"arguments": fragment}}
        for fragment in json_fragments(function["arguments"])
    ]
    return [{"tool_calls": [entry]} for entry in [opening, *following]]
