"""An upstream OpenAI Responses SSE stream (the ChatGPT Codex backend) → IR events.

One IR block per ``message`` / ``function_call`` / ``reasoning`` output item, numbered in the
order the items are added (other item types are skipped). The ``output_text`` parts of one
message item form one ``Text`` block; reasoning summary parts form one ``Reasoning`` block
(parts joined with a blank line) whose ``encrypted_content`` (from ``response.output_item.done``)
is sent as ``ReasoningSignature`` before ``BlockStop``. Text or arguments that arrive only in
``….done`` events or in the finished item are emitted as one delta. ``response.completed`` /
``response.incomplete`` end the stream with the usage they carry; ``response.failed`` and
``error`` (flat or nested) become ``StreamError``; bytes that end before a terminal event make
``close()`` return a ``StreamError``.

Lossy mappings:
- Output items other than message / function_call / reasoning are not streamed to the IR.
- Refusal deltas become text (stop reason ``refusal``); ``reasoning_text`` deltas become
  reasoning text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ccproxy.llm.formats.responses.response import decode_stop_reason, decode_usage
from ccproxy.llm.ir import (
    BlockStart,
    BlockStop,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    ResponseEnd,
    ResponseStart,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    ToolArgumentsDelta,
    ToolCall,
)
from ccproxy.llm.sse import SSEEvent

__all__ = ["CUT_STREAM_ERROR", "ResponsesStreamDecoder"]

#: ``StreamError.type`` for a stream that ended early or sent data that is not JSON.
CUT_STREAM_ERROR = "api_error"


class _Item:
    __slots__ = ("index", "kind", "seen", "stopped")

    def __init__(self, index: int, kind: str | None) -> None:
        self.index = index
        self.kind = kind
        #: Parts that produced text: ("t", content_index), ("s", summary_index), ("a", 0) for arguments.
        self.seen: set[tuple[str, int]] = set()
        self.stopped = False


class ResponsesStreamDecoder:
    """One upstream Responses stream's SSE events → IR events (see the module docstring)."""

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._items: dict[int, _Item] = {}
        self._next_index = 0
        self._has_tool_call = False
        self._refused = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """IR events for one SSE event (none once the stream has ended)."""
        if self._finished:
            return []
        try:
            data = json.loads(event.data)
        except ValueError:
            return self._fail(CUT_STREAM_ERROR, "upstream sent a stream event that is not JSON")
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, data) if handler is not None else []

    def close(self) -> list[StreamEvent]:
        """A ``StreamError`` if the stream ended before its terminal event, else nothing."""
        if self._finished:
            return []
        self._finished = True
        return [
            StreamError(
                type=CUT_STREAM_ERROR, message="upstream stream ended before response.completed"
            )
        ]

    def _fail(self, error_type: str, message: str) -> list[StreamEvent]:
        self._finished = True
        return [StreamError(type=error_type, message=message)]

    def _start(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._started:
            return []
        self._started = True
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        return [
            ResponseStart(id=str(response.get("id") or ""), model=str(response.get("model") or ""))
        ]

    def _item_for(self, data: dict[str, Any], kind: str) -> _Item | None:
        item = self._items.get(_int(data.get("output_index")))
        return item if item is not None and item.kind == kind and not item.stopped else None

    def _added(self, data: dict[str, Any]) -> list[StreamEvent]:
        output_index = _int(data.get("output_index"))
        raw = data.get("item")
        if output_index in self._items or not isinstance(raw, dict):
            return []
        events = self._start(data)
        kind = raw.get("type")
        if kind not in ("message", "function_call", "reasoning"):
            self._items[output_index] = _Item(-1, None)
            return events
        item = self._items[output_index] = _Item(self._next_index, kind)
        self._next_index += 1
        part: Text | ToolCall | Reasoning
        if kind == "function_call":
            self._has_tool_call = True
            part = ToolCall(
                id=str(raw.get("call_id") or raw.get("id") or ""), name=str(raw.get("name") or "")
            )
        elif kind == "reasoning":
            item_id = raw.get("id")
            part = Reasoning(origin="openai", id=item_id if isinstance(item_id, str) else None)
        else:
            part = Text("")
        events.append(BlockStart(index=item.index, part=part))
        return events

    def _text(self, data: dict[str, Any], key: str, field: str, *, done: bool) -> list[StreamEvent]:
        item = self._item_for(data, "message")
        if item is None:
            return []
        if key == "refusal":
            self._refused = True
        mark = ("t", _int(data.get("content_index")))
        text = data.get(field)
        if (done and mark in item.seen) or not isinstance(text, str) or not text:
            return []
        item.seen.add(mark)
        return [TextDelta(index=item.index, text=text)]

    def _text_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._text(data, "text", "delta", done=False)

    def _text_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._text(data, "text", "text", done=True)

    def _refusal_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._text(data, "refusal", "delta", done=False)

    def _refusal_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._text(data, "refusal", "refusal", done=True)

    def _arguments(self, data: dict[str, Any], field: str, *, done: bool) -> list[StreamEvent]:
        item = self._item_for(data, "function_call")
        text = data.get(field)
        if (
            item is None
            or (done and ("a", 0) in item.seen)
            or not isinstance(text, str)
            or not text
        ):
            return []
        item.seen.add(("a", 0))
        return [ToolArgumentsDelta(index=item.index, delta=text)]

    def _arguments_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._arguments(data, "delta", done=False)

    def _arguments_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._arguments(data, "arguments", done=True)

    def _reasoning(
        self, item: _Item, mark: tuple[str, int], text: Any, *, done: bool
    ) -> list[StreamEvent]:
        if (done and mark in item.seen) or not isinstance(text, str) or not text:
            return []
        separator = "\n\n" if mark not in item.seen and item.seen else ""
        item.seen.add(mark)
        return [ReasoningDelta(index=item.index, text=separator + text)]

    def _summary_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = self._item_for(data, "reasoning")
        if item is None:
            return []
        return self._reasoning(
            item, ("s", _int(data.get("summary_index"))), data.get("delta"), done=False
        )

    def _summary_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = self._item_for(data, "reasoning")
        if item is None:
            return []
        text = data.get("text")
        if text is None and isinstance(data.get("part"), dict):
            text = data["part"].get("text")
        return self._reasoning(item, ("s", _int(data.get("summary_index"))), text, done=True)

    def _reasoning_text_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = self._item_for(data, "reasoning")
        if item is None:
            return []
        return self._reasoning(
            item, ("c", _int(data.get("content_index"))), data.get("delta"), done=False
        )

    def _done(self, data: dict[str, Any]) -> list[StreamEvent]:
        raw = data.get("item")
        if not isinstance(raw, dict):
            return []
        output_index = _int(data.get("output_index"))
        events = [] if output_index in self._items else self._added(data)
        item = self._items.get(output_index)
        if item is None or item.kind is None or item.stopped:
            return events
        if item.kind == "message":
            for content_index, part in enumerate(raw.get("content") or []):
                if isinstance(part, dict):
                    key = "refusal" if part.get("type") == "refusal" else "text"
                    field_data = {
                        "output_index": output_index,
                        "content_index": content_index,
                        **part,
                    }
                    events += self._text(field_data, key, key, done=True)
        elif item.kind == "function_call":
            events += self._arguments({"output_index": output_index, **raw}, "arguments", done=True)
        else:
            for summary_index, part in enumerate(raw.get("summary") or []):
                if isinstance(part, dict):
                    events += self._reasoning(
                        item, ("s", summary_index), part.get("text"), done=True
                    )
            encrypted = raw.get("encrypted_content")
            if isinstance(encrypted, str) and encrypted:
                events.append(ReasoningSignature(index=item.index, encrypted_content=encrypted))
        item.stopped = True
        events.append(BlockStop(index=item.index))
        return events

    def _terminal(self, data: dict[str, Any], status: str) -> list[StreamEvent]:
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        events = self._start(data)
        if not self._items:  # nothing was streamed: take the items from the final object
            for output_index, raw in enumerate(response.get("output") or []):
                events += self._done({"output_index": output_index, "item": raw})
        for item in sorted(self._items.values(), key=lambda i: i.index):
            if item.kind is not None and not item.stopped:
                item.stopped = True
                events.append(BlockStop(index=item.index))
        self._finished = True
        stop = decode_stop_reason(
            status,
            response.get("incomplete_details"),
            has_tool_call=self._has_tool_call,
            refused=self._refused,
        )
        events.append(ResponseEnd(stop_reason=stop, usage=decode_usage(response.get("usage"))))
        return events

    def _completed(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._terminal(data, "completed")

    def _incomplete(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._terminal(data, "incomplete")

    def _failed(self, data: dict[str, Any]) -> list[StreamEvent]:
        response = data.get("response")
        error = response.get("error") if isinstance(response, dict) else None
        error = error if isinstance(error, dict) else {}
        error_type = error.get("type") or error.get("code") or "server_error"
        return self._fail(str(error_type), str(error.get("message") or "The response failed."))

    def _error(self, data: dict[str, Any]) -> list[StreamEvent]:
        nested = data.get("error")
        error = nested if isinstance(nested, dict) else data
        error_type = error.get("type") if nested is not None else None
        error_type = error_type or error.get("code") or data.get("code") or "server_error"
        message = error.get("message") or data.get("message") or "upstream stream error"
        return self._fail(str(error_type), str(message))


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


_Handler = Callable[[ResponsesStreamDecoder, dict[str, Any]], list[StreamEvent]]
_HANDLERS: dict[str, _Handler] = {
    "response.created": ResponsesStreamDecoder._start,
    "response.in_progress": ResponsesStreamDecoder._start,
    "response.queued": ResponsesStreamDecoder._start,
    "response.output_item.added": ResponsesStreamDecoder._added,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.delta": ResponsesStreamDecoder._refusal_delta,
    "response.refusal.done": ResponsesStreamDecoder._refusal_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._arguments_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._arguments_done,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._summary_delta,
    "response.reasoning_summary_text.done": ResponsesStreamDecoder._summary_done,
    "response.reasoning_summary_part.done": ResponsesStreamDecoder._summary_done,
    "response.reasoning_text.delta": ResponsesStreamDecoder._reasoning_text_delta,
    "response.output_item.done": ResponsesStreamDecoder._done,
    "response.completed": ResponsesStreamDecoder._completed,
    "response.incomplete": ResponsesStreamDecoder._incomplete,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._error,
}
