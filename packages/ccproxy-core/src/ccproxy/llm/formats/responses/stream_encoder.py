"""IR events → a spec-exact OpenAI Responses SSE stream (what Responses clients receive).

Every event is ``event: <type>\\ndata: <json>\\n\\n`` and carries ``type`` and
``sequence_number`` (0, 1, 2 … per stream). Order: ``response.created`` (status ``in_progress``,
empty output), ``response.in_progress``; per IR block one output item:
``response.output_item.added`` →
- text: ``response.content_part.added`` → ``response.output_text.delta``… →
  ``response.output_text.done`` → ``response.content_part.done``;
- tool call: ``response.function_call_arguments.delta``… → ``…arguments.done``;
- reasoning: ``response.reasoning_summary_part.added`` → ``response.reasoning_summary_text.delta``…
  → ``….done`` → ``response.reasoning_summary_part.done`` (only when there is text), the proof
  in the ``encrypted_content`` of the finished item;

→ ``response.output_item.done`` (the full item); finally ``response.completed`` (or
``response.incomplete`` for ``max_tokens`` / ``content_filter`` / ``refusal``) with the full
response object and usage.

A ``StreamError`` becomes an ``error`` event followed by ``response.failed`` (status ``failed``,
``error: {code, message, type}``). The ``error`` event has the documented flat fields (``code``,
``message``, ``param``) *and* the nested ``error`` object the real API sends: the ``openai`` SDK
raises ``APIError`` only for an event whose payload has an ``error`` key, and ignores
``response.failed`` (its ``get_final_response()`` merely finds no ``response.completed``).
``response.failed`` is what the Codex CLI and other spec-following clients look for.

Lossy mappings:
- ``StreamError.status_code`` is not carried; the error ``type`` travels in ``error.type``
  (``code`` is a Responses code: ``rate_limit_exceeded`` for rate limits, else ``server_error``
  unless the type already is a Responses code).
- Empty text, argument and reasoning deltas are not emitted.
- ``ResponseStart.usage`` is not shown (the response object has usage only when it ends).
"""

from __future__ import annotations

import json
import time
from typing import Any

from ccproxy.llm.formats.responses.response import (
    client_reasoning,
    encode_usage,
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    terminal_status,
)
from ccproxy.llm.ir import (
    BlockStart,
    BlockStop,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    Request,
    ResponseEnd,
    ResponseStart,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    ToolArgumentsDelta,
    ToolCall,
)

__all__ = ["ResponsesStreamEncoder"]

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_JSON_ASCII = json.JSONEncoder(separators=(",", ":")).encode

#: ``error.code`` values of the Responses API (the ``openai`` SDK's ``ResponseError.code``).
_RESPONSES_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "context_length_exceeded",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)


def _sse(kind: str, payload: dict[str, Any]) -> bytes:
    try:
        return f"event: {kind}\ndata: {_JSON(payload)}\n\n".encode()
    except UnicodeEncodeError:  # a lone surrogate: fall back to \\u escapes
        return f"event: {kind}\ndata: {_JSON_ASCII(payload)}\n\n".encode()


def _error_code(error_type: str) -> str:
    if error_type in _RESPONSES_CODES:
        return error_type
    return "rate_limit_exceeded" if "rate_limit" in error_type else "server_error"


# --- encoder ----------------------------------------------------------------------------------


class _Block:
    __slots__ = ("call", "item_id", "kind", "output_index", "pieces", "reasoning", "summary_open")

    def __init__(self, kind: str, item_id: str, output_index: int) -> None:
        self.kind = kind
        self.item_id = item_id
        self.output_index = output_index
        self.pieces: list[str] = []
        self.call: ToolCall | None = None
        self.reasoning: Reasoning | None = None
        self.summary_open = False


class ResponsesStreamEncoder:
    """IR events → one Responses SSE stream reporting ``model`` (see the module docstring)."""

    def __init__(self, *, model: str, request: Request | None = None) -> None:
        self._model = model
        self._request = request
        self._seq = 0
        self._id = ""
        self._created_at = int(time.time())
        self._started = False
        self._finished = False
        self._blocks: dict[int, _Block] = {}
        self._output: list[dict[str, Any] | None] = []

    def _emit(self, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self._seq
        self._seq += 1
        return _sse(payload["type"], payload)

    def encode(self, event: StreamEvent) -> bytes:
        """SSE bytes for one IR event (empty for events that produce none)."""
        if self._finished:
            return b""
        if isinstance(event, TextDelta):
            return self._text_delta(event)
        if isinstance(event, ToolArgumentsDelta):
            return self._arguments_delta(event)
        if isinstance(event, ReasoningDelta):
            return self._reasoning_delta(event)
        if isinstance(event, ResponseStart):
            return b"" if self._started else self._start(event.id)
        prefix = b"" if self._started else self._start(None)
        if isinstance(event, BlockStart):
            return prefix + self._block_start(event.index, event.part)
        if isinstance(event, BlockStop):
            block = self._blocks.pop(event.index, None)
            return prefix + (self._block_stop(block) if block is not None else b"")
        if isinstance(event, ReasoningSignature):
            block = self._blocks.get(event.index)
            if block is not None and block.reasoning is not None:
                if event.signature is not None:
                    block.reasoning.signature = event.signature
                if event.encrypted_content is not None:
                    block.reasoning.encrypted_content = event.encrypted_content
            return prefix
        if isinstance(event, ResponseEnd):
            return prefix + self._end(event)
        return prefix + self._error(event)

    def close(self) -> bytes:
        """Nothing: a Responses stream ends with its terminal event (no ``[DONE]``)."""
        return b""

    # --- lifecycle ---

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        output = [item for item in self._output if item is not None]
        return response_object(
            self._id,
            self._model,
            self._created_at,
            status=status,
            output=output,
            request=self._request,
            **fields,
        )

    def _start(self, response_id: str | None) -> bytes:
        self._started = True
        self._id = (
            response_id if response_id and response_id.startswith("resp_") else new_id("resp")
        )
        created = self._response("in_progress")
        return self._emit({"type": "response.created", "response": created}) + self._emit(
            {"type": "response.in_progress", "response": created}
        )

    def _end(self, event: ResponseEnd) -> bytes:
        out = self._close_open_blocks()
        status, incomplete = terminal_status(event.stop_reason)
        if status == "failed":
            return out + self._error(
                StreamError(type="server_error", message="The response failed.")
            )
        self._finished = True
        kind = "response.completed" if status == "completed" else "response.incomplete"
        response = self._response(
            status, usage=encode_usage(event.usage), incomplete_details=incomplete
        )
        return out + self._emit({"type": kind, "response": response})

    def _error(self, event: StreamError) -> bytes:
        self._finished = True
        code = _error_code(event.type)
        nested = {"type": event.type, "code": code, "message": event.message, "param": None}
        error = {"code": code, "message": event.message}
        if event.type != code:
            error["type"] = event.type
        return self._emit(
            {
                "type": "error",
                "code": code,
                "message": event.message,
                "param": None,
                "error": nested,
            }
        ) + self._emit(
            {"type": "response.failed", "response": self._response("failed", error=error)}
        )

    def _close_open_blocks(self) -> bytes:
        out = b""
        for index in sorted(self._blocks):
            out += self._block_stop(self._blocks.pop(index))
        return out

    # --- blocks ---

    def _block_start(self, index: int, part: Text | ToolCall | Reasoning) -> bytes:
        if index in self._blocks:
            return b""
        output_index = len(self._output)
        self._output.append(None)
        if isinstance(part, ToolCall):
            block = _Block("tool", new_id("fc"), output_index)
            block.call = ToolCall(id=part.id, name=part.name)
            self._blocks[index] = block
            item = function_call_item(block.item_id, block.call, "in_progress")
            out = self._added(block, item)
            if part.arguments:
                out += self._arguments_delta(ToolArgumentsDelta(index, part.arguments))
            return out
        if isinstance(part, Reasoning):
            reasoning = Reasoning(
                origin=part.origin,
                signature=part.signature,
                redacted_data=part.redacted_data,
                encrypted_content=part.encrypted_content,
                id=part.id,
            )
            item_id = (
                part.id
                if part.origin == "openai" and part.id and part.id.startswith("rs_")
                else new_id("rs")
            )
            block = _Block("reasoning", item_id, output_index)
            block.reasoning = reasoning
            self._blocks[index] = block
            out = self._added(block, {"id": item_id, "type": "reasoning", "summary": []})
            if part.text:
                out += self._reasoning_delta(ReasoningDelta(index, part.text))
            return out
        block = _Block("text", new_id("msg"), output_index)
        self._blocks[index] = block
        item = {
            "id": block.item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        out = self._added(block, item) + self._emit(
            {
                "type": "response.content_part.added",
                "item_id": block.item_id,
                "output_index": output_index,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            }
        )
        if part.text:
            out += self._text_delta(TextDelta(index, part.text))
        return out

    def _added(self, block: _Block, item: dict[str, Any]) -> bytes:
        return self._emit(
            {"type": "response.output_item.added", "output_index": block.output_index, "item": item}
        )

    def _open(self, index: int, kind: str) -> tuple[_Block | None, bytes]:
        block = self._blocks.get(index)
        if block is not None:
            return (block, b"") if block.kind == kind else (None, b"")
        # A delta without BlockStart: open the block it implies rather than lose the text.
        part: Text | ToolCall | Reasoning = (
            Text("")
            if kind == "text"
            else Reasoning()
            if kind == "reasoning"
            else ToolCall(id=new_id("call"), name="")
        )
        out = (b"" if self._started else self._start(None)) + self._block_start(index, part)
        return self._blocks[index], out

    def _text_delta(self, event: TextDelta) -> bytes:
        if not event.text:
            return b""
        block, out = self._open(event.index, "text")
        if block is None:
            return b""
        block.pieces.append(event.text)
        return out + self._emit(
            {
                "type": "response.output_text.delta",
                "item_id": block.item_id,
                "output_index": block.output_index,
                "content_index": 0,
                "delta": event.text,
                "logprobs": [],
            }
        )

    def _arguments_delta(self, event: ToolArgumentsDelta) -> bytes:
        if not event.delta:
            return b""
        block, out = self._open(event.index, "tool")
        if block is None:
            return b""
        block.pieces.append(event.delta)
        return out + self._emit(
            {
                "type": "response.function_call_arguments.delta",
                "item_id": block.item_id,
                "output_index": block.output_index,
                "delta": event.delta,
            }
        )

    def _reasoning_delta(self, event: ReasoningDelta) -> bytes:
        if not event.text:
            return b""
        block, out = self._open(event.index, "reasoning")
        if block is None:
            return b""
        if not block.summary_open:
            block.summary_open = True
            out += self._emit(
                {
                    "type": "response.reasoning_summary_part.added",
                    "item_id": block.item_id,
                    "output_index": block.output_index,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                }
            )
        block.pieces.append(event.text)
        return out + self._emit(
            {
                "type": "response.reasoning_summary_text.delta",
                "item_id": block.item_id,
                "output_index": block.output_index,
                "summary_index": 0,
                "delta": event.text,
            }
        )

    def _block_stop(self, block: _Block) -> bytes:
        text = "".join(block.pieces)
        ids = {"item_id": block.item_id, "output_index": block.output_index}
        out = b""
        if block.kind == "text":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out += self._emit(
                {
                    "type": "response.output_text.done",
                    **ids,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                }
            )
            out += self._emit(
                {"type": "response.content_part.done", **ids, "content_index": 0, "part": part}
            )
            item = message_item(block.item_id, text)
        elif block.kind == "tool" and block.call is not None:
            block.call.arguments = text
            out += self._emit(
                {"type": "response.function_call_arguments.done", **ids, "arguments": text}
            )
            item = function_call_item(block.item_id, block.call)
        else:
            reasoning = block.reasoning or Reasoning()
            if block.summary_open:
                summary_ids = {**ids, "summary_index": 0}
                out += self._emit(
                    {"type": "response.reasoning_summary_text.done", **summary_ids, "text": text}
                )
                out += self._emit(
                    {
                        "type": "response.reasoning_summary_part.done",
                        **summary_ids,
                        "part": {"type": "summary_text", "text": text},
                    }
                )
            _, encrypted = client_reasoning(reasoning)
            item = reasoning_item(block.item_id, text, encrypted)
        self._output[block.output_index] = item
        return out + self._emit(
            {"type": "response.output_item.done", "output_index": block.output_index, "item": item}
        )
