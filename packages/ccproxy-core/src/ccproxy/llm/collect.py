"""Accumulating IR stream events into a complete ``Response``.

Serves non-streaming clients of stream-only upstreams: the result comes from parsed events,
never from searching bytes.
"""

from __future__ import annotations

from ccproxy.llm.ir import (
    BlockStart,
    BlockStop,
    ContentPart,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    Response,
    ResponseEnd,
    ResponseStart,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    ToolArgumentsDelta,
    ToolCall,
    Usage,
)

__all__ = ["ResponseCollector", "UpstreamStreamError"]


class UpstreamStreamError(RuntimeError):
    """The stream ended in an error event (or was cut) before completing."""

    def __init__(self, error: StreamError) -> None:
        super().__init__(error.message)
        self.error = error


class ResponseCollector:
    """Feed every IR event; ``response()`` returns the accumulated response."""

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._blocks: dict[int, ContentPart] = {}
        self._text: dict[int, list[str]] = {}
        self._usage = Usage()
        self._end: ResponseEnd | None = None
        self._error: StreamError | None = None

    def feed(self, event: StreamEvent) -> None:
        """Accumulate one event."""
        if isinstance(event, ResponseStart):
            self._id, self._model = event.id, event.model
            if event.usage is not None:
                self._usage = self._usage.merge(event.usage)
        elif isinstance(event, BlockStart):
            part = event.part
            if isinstance(part, ToolCall):
                self._blocks[event.index] = ToolCall(
                    id=part.id, name=part.name, arguments=part.arguments
                )
            elif isinstance(part, Reasoning):
                self._blocks[event.index] = Reasoning(
                    text=part.text,
                    origin=part.origin,
                    signature=part.signature,
                    redacted_data=part.redacted_data,
                    encrypted_content=part.encrypted_content,
                    id=part.id,
                )
            else:
                self._blocks[event.index] = Text(text=part.text)
            self._text[event.index] = (
                [part.text] if isinstance(part, (Text, Reasoning)) and part.text else []
            )
        elif isinstance(event, TextDelta | ReasoningDelta):
            self._text.setdefault(event.index, []).append(event.text)
        elif isinstance(event, ToolArgumentsDelta):
            self._text.setdefault(event.index, []).append(event.delta)
        elif isinstance(event, ReasoningSignature):
            block = self._blocks.get(event.index)
            if isinstance(block, Reasoning):
                if event.signature is not None:
                    block.signature = event.signature
                if event.encrypted_content is not None:
                    block.encrypted_content = event.encrypted_content
        elif isinstance(event, BlockStop):
            self._finish_block(event.index)
        elif isinstance(event, ResponseEnd):
            self._end = event
            self._usage = self._usage.merge(event.usage)
        elif isinstance(event, StreamError):
            self._error = event

    def _finish_block(self, index: int) -> None:
        block = self._blocks.get(index)
        pieces = "".join(self._text.get(index, []))
        if isinstance(block, ToolCall):
            block.arguments = pieces
        elif isinstance(block, Text | Reasoning):
            block.text = pieces

    def response(self) -> Response:
        """The accumulated response; raises ``UpstreamStreamError`` if the stream failed."""
        if self._error is not None:
            raise UpstreamStreamError(self._error)
        for index in self._blocks:
            self._finish_block(index)
        end = self._end
        return Response(
            id=self._id,
            model=self._model,
            content=[self._blocks[i] for i in sorted(self._blocks)],
            stop_reason=end.stop_reason if end else None,
            stop_sequence=end.stop_sequence if end else None,
            usage=self._usage,
        )
