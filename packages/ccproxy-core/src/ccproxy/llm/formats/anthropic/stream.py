"""Anthropic Messages streams ↔ IR events, as state machines (one instance per stream).

``AnthropicStreamDecoder`` reads the upstream's events: ``message_start`` → ``ResponseStart``;
``content_block_start``/``_delta``/``_stop`` → block events (``signature_delta`` →
``ReasoningSignature``; a ``redacted_thinking`` start → ``Reasoning(redacted_data=…)``);
a tool block that streamed no input gets ``"{}"`` as its arguments before its stop;
``message_delta`` is remembered and ``message_stop`` — the terminal event — becomes
``ResponseEnd`` with the usage of ``message_start`` updated by ``message_delta``. ``ping`` and
unknown events are ignored; an ``error`` event becomes ``StreamError`` (with the error's type and
its HTTP status) and ends the stream; ``close()`` before ``message_stop`` reports a cut stream.

``AnthropicStreamEncoder`` writes what the real API sends, in its order::

    message_start → (content_block_start → content_block_delta* → content_block_stop)*
                  → message_delta → message_stop

Block indices count from 0 in the order blocks start. ``ping`` is never sent. A ``StreamError``
becomes ``event: error`` with ``{"type": "error", "error": {"type", "message"}}`` and nothing
follows it (no ``message_stop``); ``close()`` on an unfinished stream writes such an error too.

Anthropic blocks never interleave. When the IR starts a block while another is open, the new
block is buffered (its start, deltas and stop) and replayed as soon as the open block stops;
``ResponseEnd`` closes the open block and flushes every buffered one in start order. IR streams
whose blocks follow one another (every upstream decoder's) therefore stream live, and
interleaved ones lose nothing.

Thinking blocks get their ``signature_delta`` just before ``content_block_stop``: Anthropic
reasoning its own signature, foreign (OpenAI) reasoning our envelope around its id and encrypted
content (``ccproxy.llm.reasoning``), so the client sends it back for the origin upstream.

Lossy mappings:
- Upstream blocks the IR does not model in streams (``server_tool_use``,
  ``web_search_tool_result``, ...) are skipped with their deltas; ``citations_delta`` is ignored.
- Signatures of our own envelopes in an upstream stream are not opened (upstreams never send them).
- Foreign error types are mapped to Anthropic's (``rate_limit_exceeded`` → ``rate_limit_error``,
  else by HTTP status, else ``api_error``).
- Stop reasons as in ``response.py``; a ``ResponseStart`` id that is not ``msg_…`` is replaced.
"""

from __future__ import annotations

import json
from typing import Any

from ccproxy.llm.formats.anthropic.conversions import (
    ERROR_STATUS,
    anthropic_error_type,
    client_signature,
    decode_stop_reason,
    decode_usage,
    encode_stop_reason,
    encode_usage,
    input_to_arguments,
    message_id,
    response_tool_id,
)
from ccproxy.llm.ir import (
    BlockStart,
    BlockStop,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
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

__all__ = ["AnthropicStreamDecoder", "AnthropicStreamEncoder"]


# --- decoding (upstream → IR) ----------------------------------------------------------------


class AnthropicStreamDecoder:
    """Upstream Anthropic SSE events → IR events (see the module docstring)."""

    __slots__ = (
        "_blocks",
        "_done",
        "_next",
        "_no_arguments",
        "_stop_reason",
        "_stop_sequence",
        "_usage",
    )

    def __init__(self) -> None:
        self._done = False
        self._usage = Usage()
        self._stop_reason: StopReason | None = None
        self._stop_sequence: str | None = None
        self._blocks: dict[Any, int] = {}  # Anthropic block index → IR block index
        self._next = 0
        self._no_arguments: set[int] = set()  # tool blocks that have streamed no input yet

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """IR events for one upstream SSE event."""
        if self._done:
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            if event.event == "ping":
                return []
            self._done = True
            return [StreamError("api_error", "The upstream sent an event that is not JSON.", 502)]
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event.event
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._start(payload)
        if kind == "content_block_stop":
            index = self._blocks.get(payload.get("index"))
            if index is None:
                return []
            if index in self._no_arguments:
                # A tool without parameters streams no input: "{}" as in a non-streamed body.
                self._no_arguments.discard(index)
                return [ToolArgumentsDelta(index, "{}"), BlockStop(index)]
            return [BlockStop(index)]
        if kind == "message_start":
            message = payload.get("message")
            message = message if isinstance(message, dict) else {}
            self._usage = decode_usage(message.get("usage"))
            return [
                ResponseStart(
                    id=str(message.get("id", "")),
                    model=str(message.get("model", "")),
                    usage=self._usage,
                )
            ]
        if kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                if "stop_reason" in delta:
                    self._stop_reason = decode_stop_reason(delta["stop_reason"])
                sequence = delta.get("stop_sequence")
                self._stop_sequence = sequence if isinstance(sequence, str) else None
            self._usage = decode_usage(payload.get("usage"), self._usage)
            return []
        if kind == "message_stop":
            self._done = True
            return [ResponseEnd(self._stop_reason, self._usage, self._stop_sequence)]
        if kind == "error":
            self._done = True
            error = payload.get("error")
            error = error if isinstance(error, dict) else {}
            error_type = str(error.get("type") or "api_error")
            return [
                StreamError(
                    error_type,
                    str(error.get("message") or "The upstream reported an error."),
                    ERROR_STATUS.get(error_type),
                )
            ]
        return []  # ping and event types this decoder does not know

    def _start(self, payload: dict[str, Any]) -> list[StreamEvent]:
        block = payload.get("content_block")
        if not isinstance(block, dict):
            return []
        kind = block.get("type")
        index = self._next
        events: list[StreamEvent]
        if kind == "text":
            events = [BlockStart(index, Text(""))]
            text = block.get("text")
            if isinstance(text, str) and text:
                events.append(TextDelta(index, text))
        elif kind == "tool_use":
            events = [
                BlockStart(index, ToolCall(str(block.get("id", "")), str(block.get("name", ""))))
            ]
            initial = block.get("input")
            if isinstance(initial, dict) and initial:
                events.append(ToolArgumentsDelta(index, input_to_arguments(initial)))
            else:
                self._no_arguments.add(index)
        elif kind == "thinking":
            events = [BlockStart(index, Reasoning(origin="anthropic"))]
            thinking = block.get("thinking")
            if isinstance(thinking, str) and thinking:
                events.append(ReasoningDelta(index, thinking))
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                events.append(ReasoningSignature(index, signature=signature))
        elif kind == "redacted_thinking":
            data = block.get("data")
            events = [
                BlockStart(index, Reasoning(origin="anthropic", redacted_data=str(data or "")))
            ]
        else:
            return []
        self._blocks[payload.get("index")] = index
        self._next += 1
        return events

    def _delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        index = self._blocks.get(payload.get("index"))
        delta = payload.get("delta")
        if index is None or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [TextDelta(index, text)] if isinstance(text, str) and text else []
        if kind == "input_json_delta":
            partial = delta.get("partial_json")
            if not isinstance(partial, str) or not partial:
                return []
            self._no_arguments.discard(index)
            return [ToolArgumentsDelta(index, partial)]
        if kind == "thinking_delta":
            thinking = delta.get("thinking")
            return (
                [ReasoningDelta(index, thinking)] if isinstance(thinking, str) and thinking else []
            )
        if kind == "signature_delta":
            signature = delta.get("signature")
            return (
                [ReasoningSignature(index, signature=signature)]
                if isinstance(signature, str)
                else []
            )
        return []

    def close(self) -> list[StreamEvent]:
        """A ``StreamError`` when the stream ended before ``message_stop`` or an error event."""
        if self._done:
            return []
        self._done = True
        return [StreamError("api_error", "The upstream stream ended before message_stop.")]


# --- encoding (IR → client) ------------------------------------------------------------------

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_MESSAGE_START = b"event: message_start\ndata: "
_BLOCK_START = b"event: content_block_start\ndata: "
_BLOCK_DELTA = b"event: content_block_delta\ndata: "
_BLOCK_STOP = b"event: content_block_stop\ndata: "
_MESSAGE_DELTA = b"event: message_delta\ndata: "
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_ERROR = b"event: error\ndata: "
_END = b"\n\n"

_TEXT, _TOOL, _THINKING, _REDACTED = 0, 1, 2, 3


class _Block:
    """The open Anthropic block: its indices, kind and (for thinking) what its signature needs."""

    __slots__ = ("index", "ir", "kind", "reasoning")

    def __init__(self, ir: int, index: int, kind: int, reasoning: Reasoning | None) -> None:
        self.ir = ir
        self.index = index
        self.kind = kind
        self.reasoning = reasoning


class AnthropicStreamEncoder:
    """IR events → the SSE bytes of an Anthropic Messages stream reporting ``model``."""

    __slots__ = (
        "_finished",
        "_has_tool_calls",
        "_model",
        "_next_index",
        "_open",
        "_pending",
        "_started",
        "_usage",
    )

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._finished = False
        self._next_index = 0
        self._open: _Block | None = None
        self._pending: dict[int, list[StreamEvent]] = {}  # buffered blocks, in start order
        self._usage = Usage()
        self._has_tool_calls = False

    def encode(self, event: StreamEvent) -> bytes:
        """SSE bytes for one IR event."""
        if self._finished:
            return b""
        if isinstance(event, ResponseStart):
            return self._message_start(event.id, event.usage)
        if isinstance(event, ResponseEnd):
            return self._message_end(event)
        if isinstance(event, StreamError):
            return self._error(event.type, event.message, event.status_code)
        out = b"" if self._started else self._message_start(None, None)
        block = self._open
        if block is not None and block.ir == event.index:
            out += self._apply(event)
            if self._open is None and self._pending:
                out += self._drain()
            return out
        if isinstance(event, BlockStart):
            if block is None:
                return out + self._apply(event)
            self._pending[event.index] = [event]
            return out
        buffered = self._pending.get(event.index)
        if buffered is not None:
            buffered.append(event)
        return out

    def close(self) -> bytes:
        """An ``error`` event if the IR stream ended without ``ResponseEnd`` or ``StreamError``."""
        if self._finished:
            return b""
        return self._error("api_error", "The stream ended unexpectedly.", None)

    # -- message level

    def _message_start(self, response_id: str | None, usage: Usage | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        if usage is not None:
            self._usage = usage
        message: dict[str, Any] = {
            "id": message_id(response_id),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": encode_usage(self._usage),
        }
        return (
            _MESSAGE_START + _dumps({"type": "message_start", "message": message}).encode() + _END
        )

    def _message_end(self, event: ResponseEnd) -> bytes:
        out = b"" if self._started else self._message_start(None, None)
        while True:
            if self._open is not None:
                out += self._close_block()
            if not self._pending:
                break
            out += self._drain()
        self._finished = True
        usage = encode_usage(self._usage.merge(event.usage), split=False)
        payload = {
            "type": "message_delta",
            "delta": {
                "stop_reason": encode_stop_reason(
                    event.stop_reason, has_tool_calls=self._has_tool_calls
                ),
                "stop_sequence": event.stop_sequence,
            },
            "usage": usage,
        }
        return out + _MESSAGE_DELTA + _dumps(payload).encode() + _END + _MESSAGE_STOP

    def _error(self, error_type: str, message: str, status_code: int | None) -> bytes:
        self._finished = True
        self._pending.clear()
        payload = {
            "type": "error",
            "error": {"type": anthropic_error_type(error_type, status_code), "message": message},
        }
        return _ERROR + _dumps(payload).encode() + _END

    # -- block level

    def _drain(self) -> bytes:
        """Replay buffered blocks until one is left open (or none is buffered)."""
        out = b""
        while self._open is None and self._pending:
            index = next(iter(self._pending))
            for event in self._pending.pop(index):
                out += self._apply(event)
        return out

    def _apply(self, event: StreamEvent) -> bytes:
        """``event`` for the open block (or the start of a new one when none is open)."""
        block = self._open
        if isinstance(event, TextDelta):
            if block is None or block.kind != _TEXT or not event.text:
                return b""
            delta: dict[str, Any] = {"type": "text_delta", "text": event.text}
        elif isinstance(event, ToolArgumentsDelta):
            if block is None or block.kind != _TOOL or not event.delta:
                return b""
            delta = {"type": "input_json_delta", "partial_json": event.delta}
        elif isinstance(event, ReasoningDelta):
            if block is None or block.kind != _THINKING or not event.text:
                return b""
            delta = {"type": "thinking_delta", "thinking": event.text}
        elif isinstance(event, ReasoningSignature):
            if block is not None and block.reasoning is not None:
                if event.signature is not None:
                    block.reasoning.signature = event.signature
                if event.encrypted_content is not None:
                    block.reasoning.encrypted_content = event.encrypted_content
            return b""
        elif isinstance(event, BlockStop):
            return self._close_block() if block is not None else b""
        elif isinstance(event, BlockStart):
            return self._open_block(event)
        else:  # pragma: no cover - message-level events never reach here
            return b""
        assert block is not None
        payload = {"type": "content_block_delta", "index": block.index, "delta": delta}
        return _BLOCK_DELTA + _dumps(payload).encode() + _END

    def _open_block(self, event: BlockStart) -> bytes:
        part = event.part
        index = self._next_index
        self._next_index += 1
        initial: dict[str, Any] | None = None
        reasoning: Reasoning | None = None
        content: dict[str, Any]
        if isinstance(part, Text):
            kind = _TEXT
            content = {"type": "text", "text": ""}
            if part.text:
                initial = {"type": "text_delta", "text": part.text}
        elif isinstance(part, ToolCall):
            kind = _TOOL
            self._has_tool_calls = True
            content = {
                "type": "tool_use",
                "id": response_tool_id(part.id),
                "name": part.name,
                "input": {},
            }
            if part.arguments:
                initial = {"type": "input_json_delta", "partial_json": part.arguments}
        elif (
            part.origin == "anthropic" and part.redacted_data is not None and part.signature is None
        ):
            kind = _REDACTED
            content = {"type": "redacted_thinking", "data": part.redacted_data}
        else:
            kind = _THINKING
            reasoning = Reasoning(
                origin=part.origin,
                signature=part.signature,
                redacted_data=part.redacted_data,
                encrypted_content=part.encrypted_content,
                id=part.id,
            )
            content = {"type": "thinking", "thinking": "", "signature": ""}
            if part.text:
                initial = {"type": "thinking_delta", "thinking": part.text}
        self._open = _Block(event.index, index, kind, reasoning)
        start = {"type": "content_block_start", "index": index, "content_block": content}
        out = _BLOCK_START + _dumps(start).encode() + _END
        if initial is not None:
            payload = {"type": "content_block_delta", "index": index, "delta": initial}
            out += _BLOCK_DELTA + _dumps(payload).encode() + _END
        return out

    def _close_block(self) -> bytes:
        block = self._open
        assert block is not None
        self._open = None
        out = b""
        reasoning = block.reasoning
        if reasoning is not None:
            if reasoning.origin == "anthropic" or (
                reasoning.origin is None and reasoning.encrypted_content is None
            ):
                signature = reasoning.signature or ""
            else:
                signature = client_signature(reasoning)
            if signature:
                payload = {
                    "type": "content_block_delta",
                    "index": block.index,
                    "delta": {"type": "signature_delta", "signature": signature},
                }
                out += _BLOCK_DELTA + _dumps(payload).encode() + _END
        stop = {"type": "content_block_stop", "index": block.index}
        return out + _BLOCK_STOP + _dumps(stop).encode() + _END
