"""Passthrough streams: bytes relayed as received, with usage read on the side.

Only when a model alias applies are the events that carry ``model`` rewritten (to the client's
name); every other byte stays as the upstream sent it.
"""

from __future__ import annotations

import json
from typing import Any

from ccproxy.llm.ir import Usage, WireFormat
from ccproxy.llm.sse import SSEEvent, SSEParser

__all__ = [
    "ModelRewriter",
    "StreamObserver",
    "stream_error_event",
    "usage_from_anthropic",
    "usage_from_chat",
    "usage_from_responses",
]

#: Events whose payload names the model, per upstream format.
_MODEL_EVENTS: dict[WireFormat, frozenset[str]] = {
    "anthropic": frozenset({"message_start"}),
    "responses": frozenset(
        {
            "response.created",
            "response.in_progress",
            "response.completed",
            "response.incomplete",
            "response.failed",
        }
    ),
    "chat": frozenset(),
}


def usage_from_anthropic(usage: dict[str, Any]) -> Usage:
    """Normalise an Anthropic ``usage`` object (input already excludes cache)."""
    creation = usage.get("cache_creation") or {}
    one_hour = int(creation.get("ephemeral_1h_input_tokens") or 0)
    writes = int(usage.get("cache_creation_input_tokens") or 0)
    return Usage(
        input=int(usage.get("input_tokens") or 0),
        output=int(usage.get("output_tokens") or 0),
        cache_read=int(usage.get("cache_read_input_tokens") or 0),
        cache_write_5m=max(writes - one_hour, 0),
        cache_write_1h=one_hour,
    )


def usage_from_chat(usage: dict[str, Any]) -> Usage:
    """Normalise a Chat Completions ``usage`` object (prompt tokens include cached ones)."""
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return Usage(
        input=max(int(usage.get("prompt_tokens") or 0) - cached, 0),
        output=int(usage.get("completion_tokens") or 0),
        cache_read=cached,
        reasoning=reasoning,
    )


def usage_from_responses(usage: dict[str, Any]) -> Usage:
    """Normalise a Responses ``usage`` object (input includes cached tokens)."""
    cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    return Usage(
        input=max(int(usage.get("input_tokens") or 0) - cached, 0),
        output=int(usage.get("output_tokens") or 0),
        cache_read=cached,
        reasoning=reasoning,
    )


#: Byte strings found in every event the observer reads, per upstream format. A run of
#: complete events holding none of them is skipped without parsing (most of a stream: deltas).
_OBSERVED_MARKERS: dict[WireFormat, tuple[bytes, ...]] = {
    "anthropic": (b"message_", b"error"),
    "responses": (b"response.completed", b"response.incomplete", b"response.failed", b"error"),
    # Chat events have no names: the usage chunk, the end marker and errors are found by content.
    "chat": (b'"usage":{', b'"usage": {', b"[DONE]", b'"error"'),
}
_EVENT_SEPARATORS = (b"\n\n", b"\r\n\r\n", b"\r\r")


class StreamObserver:
    """Reads usage (and, for Responses, the final response object) from a relayed stream.

    It parses only the few events that carry them: complete events are scanned as bytes for
    those events' names, and only a run that may hold one goes through the SSE parser.
    """

    def __init__(self, upstream_format: WireFormat) -> None:
        self.format = upstream_format
        self.usage = Usage()
        self.response: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.completed = False
        self._markers = _OBSERVED_MARKERS[upstream_format]
        self._parser = SSEParser()
        self._tail = b""  # bytes after the last complete event

    def feed(self, chunk: bytes) -> None:
        """Observe one relayed chunk."""
        if not self._markers:
            return
        data = self._tail + chunk if self._tail else chunk
        end = _last_event_end(data)
        if end == 0:
            self._tail = data
            return
        complete, self._tail = data[:end], data[end:]
        if any(marker in complete for marker in self._markers):
            for event in self._parser.feed(complete):
                self._event(event)

    def close(self) -> None:
        """Observe the end of the stream."""
        if not self._markers:
            return
        tail, self._tail = self._tail, b""
        events = self._parser.feed(tail) if tail else []
        for event in [*events, *self._parser.close()]:
            self._event(event)

    def _event(self, event: SSEEvent) -> None:
        name = event.event
        if self.format == "anthropic":
            if name == "message_start":
                usage = (_loads(event.data).get("message") or {}).get("usage") or {}
                self.usage = self.usage.merge(usage_from_anthropic(usage))
            elif name == "message_delta":
                self.usage = self.usage.merge(
                    usage_from_anthropic(_loads(event.data).get("usage") or {})
                )
            elif name == "message_stop":
                self.completed = True
            elif name == "error":
                self.error = _loads(event.data).get("error") or {}
        elif self.format == "responses":
            if name in ("response.completed", "response.incomplete", "response.failed"):
                response = _loads(event.data).get("response") or {}
                self.response = response
                self.usage = usage_from_responses(response.get("usage") or {})
                self.completed = name != "response.failed"
                if name == "response.failed":
                    self.error = response.get("error") or {"message": "response failed"}
            elif name == "error":
                self.error = _loads(event.data)
        elif self.format == "chat":
            if event.data.strip() == "[DONE]":
                self.completed = True
                return
            payload = _loads(event.data)
            usage = payload.get("usage")
            if isinstance(usage, dict):
                self.usage = usage_from_chat(usage)
            if isinstance(payload.get("error"), dict):
                self.error = payload["error"]


def _loads(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ModelRewriter:
    """Rewrites the ``model`` of model-carrying events; relays every other event's bytes as is.

    Output is re-chunked at event boundaries (the bytes of untouched events are identical).
    """

    def __init__(self, upstream_format: WireFormat, client_model: str) -> None:
        self._events = _MODEL_EVENTS[upstream_format]
        self._unnamed = upstream_format == "chat"
        self._model = client_model
        self._buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete events in ``chunk`` (plus what was buffered), rewritten where needed."""
        self._buffer += chunk
        out: list[bytes] = []
        while True:
            end, separator = _event_end(self._buffer)
            if end < 0:
                break
            block = self._buffer[: end + separator]
            self._buffer = self._buffer[end + separator :]
            out.append(self._rewrite(block))
        return b"".join(out)

    def close(self) -> bytes:
        """Whatever is left (an unterminated final event), untouched."""
        rest, self._buffer = self._buffer, b""
        return rest

    def _rewrite(self, block: bytes) -> bytes:
        if b'"model"' not in block:
            return block
        lines = block.splitlines(keepends=True)
        name = None
        for line in lines:
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
        if name not in self._events and not (self._unnamed and name is None):
            return block
        rewritten: list[bytes] = []
        for line in lines:
            if line.startswith(b"data:"):
                body = line[5:]
                ending = body[len(body.rstrip(b"\r\n")) :]
                try:
                    payload = json.loads(body.strip())
                except ValueError:  # not one JSON value per line (a split data field): as sent
                    return block
                _replace_model(payload, self._model)
                line = (
                    b"data: "
                    + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
                    + ending
                )
            rewritten.append(line)
        return b"".join(rewritten)


def _replace_model(payload: Any, model: str) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("model"), str):
        payload["model"] = model  # a Chat chunk
    for key in ("message", "response"):
        inner = payload.get(key) if isinstance(payload, dict) else None
        if isinstance(inner, dict) and "model" in inner:
            inner["model"] = model


def _last_event_end(data: bytes) -> int:
    """Where the last complete event in ``data`` ends (after its blank line; 0 when none)."""
    end = 0
    for separator in _EVENT_SEPARATORS:
        position = data.rfind(separator)
        if position >= 0:
            end = max(end, position + len(separator))
    return end


def _event_end(buffer: bytes) -> tuple[int, int]:
    """Position and length of the first blank-line separator in ``buffer`` (-1 when none)."""
    best = (-1, 0)
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        position = buffer.find(separator)
        if position >= 0 and (best[0] < 0 or position < best[0]):
            best = (position, len(separator))
    return best


def stream_error_event(upstream_format: WireFormat, message: str) -> bytes:
    """The format's own error event, appended when a relayed stream breaks off."""
    if upstream_format == "anthropic":
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": "api_error", "message": message},
        }
        return (
            b"event: error\ndata: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
        )
    if upstream_format == "responses":
        payload = {"type": "error", "code": "stream_interrupted", "message": message, "param": None}
        return (
            b"event: error\ndata: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
        )
    payload = {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
