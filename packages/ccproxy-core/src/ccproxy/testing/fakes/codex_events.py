"""A scripted reply as an OpenAI Responses event stream (written independently of ccproxy.llm)."""

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

__all__ = ["ResponsesRendering"]


class ResponsesRendering:
    """Output items, usage and events for one reply to one request body.

    Events come without ``sequence_number``; the fake numbers them as it sends them.
    """

    def __init__(self, reply: Reply, body: Mapping[str, Any], serial: int, created_at: int) -> None:
        self.reply = reply
        self.body = body
        self.serial = serial
        self.created_at = created_at
        self.response_id = f"resp_fake_{serial:06d}"
        self.model = reply.model or str(body.get("model"))
        self.items = [self._item(index, part) for index, part in enumerate(reply.parts)]
        self.usage = self._usage()

    # items -----------------------------------------------------------------------------------

    def _item(self, index: int, part: Any) -> dict[str, Any]:
        suffix = f"{self.serial:06d}_{index}"
        if isinstance(part, TextPart):
            status = "incomplete" if self.reply.finish == "max_tokens" else "completed"
            return {
                "id": f"msg_fake_{suffix}",
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [_text_content(part.text)],
            }
        if isinstance(part, ReasoningPart):
            return {
                "id": f"rs_fake_{suffix}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": part.text}],
                "encrypted_content": part.encrypted_content,
            }
        assert isinstance(part, ToolCallPart)
        call = part.call
        return {
            "id": f"fc_fake_{suffix}",
            "type": "function_call",
            "status": "completed",
            "call_id": call.id or f"call_fake_{suffix}",
            "name": call.name,
            "arguments": json.dumps(dict(call.arguments), separators=(",", ":")),
        }

    def _usage(self) -> dict[str, Any]:
        overrides = self.reply.usage or {}
        prompt = [self.body.get("instructions"), self.body.get("input"), self.body.get("tools")]
        fresh = overrides.get("input", approx_tokens(prompt))
        cached = overrides.get("cache_read", 0)
        input_tokens = fresh + cached + overrides.get("cache_write", 0)
        reasoning_text = [p.text for p in self.reply.parts if isinstance(p, ReasoningPart)]
        reasoning = overrides.get("reasoning", approx_tokens(reasoning_text))
        visible = output_tokens(self.reply.parts, reasoning=False)
        output = overrides.get("output", max(1, visible + reasoning))
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output,
        }

    def response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """The ``response`` object the lifecycle events carry."""
        body = self.body
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "usage": None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "reasoning": body.get("reasoning"),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "store": False,
            "text": body.get("text") or {"format": {"type": "text"}},
            "metadata": {},
            **extra,
        }

    # events ----------------------------------------------------------------------------------

    def events(self) -> list[Event]:
        started = self.response("in_progress", [])
        events: list[Event] = [
            _event("response.created", response=started),
            _event("response.in_progress", response=started),
        ]
        for index, (part, item) in enumerate(zip(self.reply.parts, self.items, strict=True)):
            events.extend(_item_events(index, part, item))
        if self.reply.finish == "max_tokens":
            final = self.response(
                "incomplete",
                self.items,
                usage=self.usage,
                incomplete_details={"reason": "max_output_tokens"},
            )
            events.append(_event("response.incomplete", response=final))
        else:
            final = self.response("completed", self.items, usage=self.usage)
            events.append(_event("response.completed", response=final))
        return events

    def error_events(self, interruption: StreamInterruption) -> list[Event]:
        code = interruption.error_type or "server_error"
        if interruption.codex_event == "response.failed":
            error = {"code": code, "message": interruption.message}
            failed = self.response("failed", [], error=error)
            return [_event("response.failed", response=failed)]
        return [_event("error", code=code, message=interruption.message, param=None)]


def _event(event_type: str, /, **fields: Any) -> Event:
    return event_type, {"type": event_type, **fields}


def _text_content(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _item_events(index: int, part: Any, item: dict[str, Any]) -> list[Event]:
    at = {"item_id": item["id"], "output_index": index}
    if isinstance(part, TextPart):
        added = {**item, "status": "in_progress", "content": []}
        at_part = {**at, "content_index": 0}
        return [
            _event("response.output_item.added", output_index=index, item=added),
            _event("response.content_part.added", **at_part, part=_text_content("")),
            *[
                _event("response.output_text.delta", **at_part, delta=chunk, logprobs=[])
                for chunk in part.chunks
            ],
            _event("response.output_text.done", **at_part, text=part.text, logprobs=[]),
            _event("response.content_part.done", **at_part, part=_text_content(part.text)),
            _event("response.output_item.done", output_index=index, item=item),
        ]
    if isinstance(part, ReasoningPart):
        added = {**item, "summary": []}
        at_summary = {**at, "summary_index": 0}
        return [
            _event("response.output_item.added", output_index=index, item=added),
            _event(
                "response.reasoning_summary_part.added",
                **at_summary,
                part={"type": "summary_text", "text": ""},
            ),
            *[
                _event("response.reasoning_summary_text.delta", **at_summary, delta=chunk)
                for chunk in part.chunks
            ],
            _event("response.reasoning_summary_text.done", **at_summary, text=part.text),
            _event(
                "response.reasoning_summary_part.done",
                **at_summary,
                part={"type": "summary_text", "text": part.text},
            ),
            _event("response.output_item.done", output_index=index, item=item),
        ]
    added = {**item, "status": "in_progress", "arguments": ""}
    return [
        _event("response.output_item.added", output_index=index, item=added),
        *[
            _event("response.function_call_arguments.delta", **at, delta=fragment)
            for fragment in json_fragments(item["arguments"])
        ],
        _event(
            "response.function_call_arguments.done",
            **at,
            name=item["name"],
            arguments=item["arguments"],
        ),
        _event("response.output_item.done", output_index=index, item=item),
    ]
