"""Chat Completions streams ↔ IR events, as state machines (one instance per stream).

The wire (``data: {chat.completion.chunk}`` lines, no ``event:`` lines, ``data: [DONE]`` last)::

    {"id","object":"chat.completion.chunk","created","model",
     "choices":[{"index":0,"delta":{...},"logprobs":null,"finish_reason":null}]}

- The first chunk's delta is ``{"role":"assistant","content":""}``.
- Text is ``delta.content``; reasoning text ``delta.reasoning_content`` (a non-standard extension,
  never a proof).
- Each tool call has its own ``index`` (0, 1, 2… in order of appearance, independent of the IR
  block index) on every chunk of that call. Its first chunk carries ``id``, ``type: "function"``
  and ``function: {name, arguments: ""}`` (or the arguments the IR start already holds); later
  chunks only ``index`` and ``function.arguments`` fragments, streamed as the IR deltas arrive.
- The last choice chunk has ``delta: {}`` and the ``finish_reason``. With
  ``stream_options.include_usage`` every chunk carries ``"usage": null`` and one more chunk with
  ``"choices": []`` and the usage follows. Then ``data: [DONE]``.
- A failure is a ``data: {"error": {"message", "type", "param", "code"}}`` chunk and no
  ``[DONE]``: the ``openai`` SDK raises ``openai.APIError`` on it. ``type`` is the IR error type,
  ``code`` the upstream HTTP status as a string when known.

Lossy mappings:
- Reasoning proofs (``ReasoningSignature``, redacted reasoning) are not written.
- Chat has no block boundaries: decoding opens a new IR block whenever the kind of content
  changes (text, reasoning, a new tool call), so two adjacent text blocks decode as one.
- A late argument fragment for a tool call whose block was already closed is still decoded as a
  ``ToolArgumentsDelta`` for that call's block.
- Choices other than index 0 are ignored when decoding.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ccproxy.llm.formats.chat.response import (
    decode_finish_reason,
    decode_usage,
    encode_finish_reason,
    encode_usage,
    new_call_id,
    response_id,
)
from ccproxy.llm.ir import (
    BlockStart,
    BlockStop,
    Reasoning,
    ReasoningDelta,
    ResponseEnd,
    ResponseStart,
    StopReason,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    ToolArgumentsDelta,
    ToolCall,
    Usage,
)
from ccproxy.llm.sse import SSEEvent

__all__ = ["ChatStreamDecoder", "ChatStreamEncoder", "error_chunk"]

_DONE = b"data: [DONE]\n\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def error_chunk(error: StreamError) -> bytes:
    """The ``data: {"error": ...}`` chunk that ends a failed Chat stream."""
    payload = {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": None,
            "code": str(error.status_code) if error.status_code is not None else None,
        }
    }
    return b"data: " + _dumps(payload).encode() + b"\n\n"


class ChatStreamEncoder:
    """IR events → the bytes of one Chat Completions stream reporting ``model``."""

    __slots__ = (
        "_created",
        "_failed",
        "_finished",
        "_id",
        "_include_usage",
        "_model",
        "_prefix",
        "_suffix",
        "_tool_index",
    )

    def __init__(self, *, model: str, include_usage: bool = False) -> None:
        self._model = model
        self._include_usage = include_usage
        self._prefix = ""
        usage = ',"usage":null' if include_usage else ""
        self._suffix = ',"logprobs":null,"finish_reason":null}]' + usage + "}\n\n"
        self._id = ""
        self._created = 0
        self._tool_index: dict[int, int] = {}
        self._finished = False
        self._failed = False

    def _start(self, ir_id: str | None) -> bytes:
        self._id = response_id(ir_id)
        self._created = int(time.time())
        self._prefix = (
            'data: {"id":'
            + _dumps(self._id)
            + ',"object":"chat.completion.chunk","created":'
            + str(self._created)
            + ',"model":'
            + _dumps(self._model)
            + ',"choices":[{"index":0,"delta":'
        )
        return self._chunk({"role": "assistant", "content": ""})

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return (self._prefix + _dumps(delta) + self._suffix).encode()

    def encode(self, event: StreamEvent) -> bytes:
        """The SSE bytes for one IR event (empty when the event has no Chat equivalent)."""
        if self._failed:
            return b""
        if isinstance(event, StreamError):
            self._failed = True
            return error_chunk(event)
        if self._finished:
            return b""
        head = b""
        if not self._prefix:
            head = self._start(event.id if isinstance(event, ResponseStart) else None)
            if isinstance(event, ResponseStart):
                return head
        if isinstance(event, TextDelta):
            return head + self._chunk({"content": event.text}) if event.text else head
        if isinstance(event, ToolArgumentsDelta):
            tool = self._tool_index.get(event.index)
            if tool is None or not event.delta:
                return head
            return head + self._chunk(
                {"tool_calls": [{"index": tool, "function": {"arguments": event.delta}}]}
            )
        if isinstance(event, ReasoningDelta):
            return head + self._chunk({"reasoning_content": event.text}) if event.text else head
        if isinstance(event, BlockStart):
            return head + self._block_start(event)
        if isinstance(event, ResponseEnd):
            return head + self._end(event)
        return head

    def _block_start(self, event: BlockStart) -> bytes:
        part = event.part
        if isinstance(part, ToolCall):
            tool = len(self._tool_index)
            self._tool_index[event.index] = tool
            call = {
                "index": tool,
                "id": part.id or new_call_id(),
                "type": "function",
                "function": {"name": part.name, "arguments": part.arguments},
            }
            return self._chunk({"tool_calls": [call]})
        if isinstance(part, Reasoning):
            return self._chunk({"reasoning_content": part.text}) if part.text else b""
        return self._chunk({"content": part.text}) if part.text else b""

    def _end(self, event: ResponseEnd) -> bytes:
        self._finished = True
        finish = encode_finish_reason(event.stop_reason, has_tool_calls=bool(self._tool_index))
        usage = ',"usage":null' if self._include_usage else ""
        out = (
            self._prefix
            + '{},"logprobs":null,"finish_reason":'
            + _dumps(finish)
            + "}]"
            + usage
            + "}\n\n"
        ).encode()
        if self._include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": encode_usage(event.usage),
            }
            out += b"data: " + _dumps(chunk).encode() + b"\n\n"
        return out

    def close(self) -> bytes:
        """``data: [DONE]`` after a complete stream; an error chunk if the IR stream just stopped."""
        if self._failed:
            return b""
        if self._finished:
            return _DONE
        self._failed = True
        return error_chunk(
            StreamError(type="api_error", message="The upstream stream ended before completing")
        )


class ChatStreamDecoder:
    """Chat Completions SSE events → IR events (one instance per stream)."""

    __slots__ = (
        "_done",
        "_next_index",
        "_open",
        "_open_kind",
        "_started",
        "_stop_reason",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: int | None = None
        self._open_kind = ""
        self._tools: dict[int, int] = {}
        self._stop_reason: StopReason | None = None
        self._usage = Usage()

    def _fail(self, message: str) -> list[StreamEvent]:
        self._done = True
        return [StreamError(type="api_error", message=message)]

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """IR events for one chunk; ``data: [DONE]`` ends the response."""
        if self._done:
            return []
        data = event.data
        if data.strip() == "[DONE]":
            self._done = True
            end = self._close_block([])
            end.append(ResponseEnd(stop_reason=self._stop_reason, usage=self._usage))
            return end
        try:
            payload = json.loads(data)
        except ValueError:
            return self._fail("Invalid JSON in the stream")
        if not isinstance(payload, dict):
            return self._fail("Unexpected chunk in the stream")
        error = payload.get("error")
        if error:
            return [self._error(error)]
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(
                ResponseStart(
                    id=str(payload.get("id") or ""), model=str(payload.get("model") or "")
                )
            )
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage = decode_usage(usage)
        choices = payload.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    self._choice(choice, out)
        return out

    def _error(self, error: Any) -> StreamError:
        self._done = True
        if not isinstance(error, dict):
            return StreamError(type="api_error", message=str(error))
        code = error.get("code")
        status = int(code) if isinstance(code, str) and code.isdigit() else None
        if isinstance(code, int) and not isinstance(code, bool):
            status = code
        return StreamError(
            type=str(error.get("type") or "api_error"),
            message=str(error.get("message") or "An error occurred during streaming"),
            status_code=status,
        )

    def _close_block(self, out: list[StreamEvent]) -> list[StreamEvent]:
        if self._open is not None:
            out.append(BlockStop(self._open))
            self._open = None
            self._open_kind = ""
        return out

    def _open_block(
        self, kind: str, part: Text | ToolCall | Reasoning, out: list[StreamEvent]
    ) -> int:
        self._close_block(out)
        index = self._next_index
        self._next_index += 1
        self._open, self._open_kind = index, kind
        out.append(BlockStart(index, part))
        return index

    def _choice(self, choice: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                index = self._open if self._open_kind == "reasoning" else None
                if index is None:
                    index = self._open_block("reasoning", Reasoning(), out)
                out.append(ReasoningDelta(index, reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                index = self._open if self._open_kind == "text" else None
                if index is None:
                    index = self._open_block("text", Text(""), out)
                out.append(TextDelta(index, content))
            tool_calls = delta.get("tool_calls")
            if isinstance(tool_calls, list):
                for call in tool_calls:
                    if isinstance(call, dict):
                        self._tool_call(call, out)
        finish = choice.get("finish_reason")
        if finish is not None:
            self._stop_reason = decode_finish_reason(finish)
            self._close_block(out)

    def _tool_call(self, call: dict[str, Any], out: list[StreamEvent]) -> None:
        position = call.get("index")
        if not isinstance(position, int):
            position = len(self._tools) if call.get("id") else max(self._tools, default=0)
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        index = self._tools.get(position)
        if index is None:
            name = function.get("name")
            part = ToolCall(
                id=str(call.get("id") or new_call_id()), name=name if isinstance(name, str) else ""
            )
            index = self._open_block("tool", part, out)
            self._tools[position] = index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(ToolArgumentsDelta(index, arguments))

    def close(self) -> list[StreamEvent]:
        """A ``StreamError`` when the stream ended before ``data: [DONE]`` or an error chunk."""
        if self._done:
            return []
        return self._fail("The stream ended before data: [DONE]")
