"""Server-sent events: an incremental parser that accepts any chunk boundaries, and a writer.

The parser follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CR at the end of
one chunk may pair with an LF at the start of the next); ``data`` lines join with newlines; lines
starting with ``:`` are comments; an event is dispatched on a blank line. Bytes are decoded as
UTF-8 only once a whole line is in hand, so multi-byte characters may be split anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEEvent", "SSEParser", "encode_event", "encode_json_event"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``event`` is ``None`` when no ``event:`` line was given."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return json.loads(self.data)


class SSEParser:
    """Feed bytes in, get complete events out; ``close()`` flushes a final unterminated event."""

    __slots__ = ("_buffer", "_data", "_event", "_id", "_pending_cr", "_retry", "_seen_field")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_cr = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._seen_field = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk`` and return the events it completed."""
        events: list[SSEEvent] = []
        if not chunk:
            return events
        start = 0
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                start = 1
        buffer = self._buffer
        length = len(chunk)
        position = start
        while position < length:
            cr = chunk.find(b"\r", position)
            lf = chunk.find(b"\n", position)
            if cr == -1 and lf == -1:
                buffer += chunk[position:]
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_position = lf, lf + 1
            else:
                end = cr
                if cr + 1 < length:
                    next_position = cr + 2 if chunk[cr + 1 : cr + 2] == b"\n" else cr + 1
                else:
                    next_position = cr + 1
                    self._pending_cr = True
            if buffer:
                buffer += chunk[position:end]
                line = bytes(buffer)
                buffer.clear()
            else:
                line = chunk[position:end]
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
            position = next_position
        return events

    def close(self) -> list[SSEEvent]:
        """Dispatch what is left at the end of the stream (an event missing its blank line)."""
        events: list[SSEEvent] = []
        if self._buffer:
            event = self._line(bytes(self._buffer).decode("utf-8", errors="replace"))
            self._buffer.clear()
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._seen_field = True
        elif name == "event":
            self._event = value
            self._seen_field = True
        elif name == "id":
            if "\0" not in value:
                self._id = value
            self._seen_field = True
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
            self._seen_field = True
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            # Per spec an event without data is not dispatched; its event type is forgotten.
            self._event = None
            self._retry = None
            self._seen_field = False
            return None
        event = SSEEvent(
            data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry
        )
        self._data = []
        self._event = None
        self._retry = None
        self._seen_field = False
        return event


def encode_event(data: str, event: str | None = None) -> bytes:
    """One SSE event as bytes (multi-line ``data`` split into several ``data:`` lines)."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    for part in data.split("\n"):
        lines.append(f"data: {part}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_json_event(payload: Any, event: str | None = None) -> bytes:
    """``payload`` as compact JSON in one SSE event."""
    return encode_event(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), event)
