"""How a successful upstream answer reaches the client.

Passthrough relays bytes (usage read on the side, the model rewritten only under an alias);
conversion decodes upstream SSE into IR events and encodes them for the client; collection turns
a stream into one response for a non-streaming client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from starlette.responses import Response, StreamingResponse

from ccproxy.llm.codec import get_codec
from ccproxy.llm.collect import ResponseCollector, UpstreamStreamError
from ccproxy.llm.ir import Request as IRRequest
from ccproxy.llm.ir import Response as IRResponse
from ccproxy.llm.ir import ResponseStart, StreamError, StreamEvent
from ccproxy.llm.sse import SSEParser
from ccproxy.proxy.exchange import ClientError, Exchange, client_response_id, dialect_type
from ccproxy.proxy.passthrough import (
    ModelRewriter,
    StreamObserver,
    stream_error_event,
    usage_from_anthropic,
    usage_from_chat,
    usage_from_responses,
)

if TYPE_CHECKING:
    from ccproxy.plugins.context import PluginContext
    from ccproxy.proxy.pipeline import ProviderEndpoint

__all__ = ["UpstreamRelay"]

_USAGE_READERS = {
    "anthropic": usage_from_anthropic,
    "chat": usage_from_chat,
    "responses": usage_from_responses,
}

#: Stores a Responses exchange for ``previous_response_id``: (exchange, client input, response).
Remember = Callable[[Exchange, list[dict[str, Any]] | None, dict[str, Any]], Awaitable[None]]
#: Ends a request: its record, ``REQUEST_COMPLETED`` and the log line.
Complete = Callable[[Exchange], Awaitable[None]]
#: Reports an upstream failure (``PROVIDER_ERROR``): (exchange, error, response details).
ReportError = Callable[[Exchange, str], Awaitable[None]]


class UpstreamRelay:
    """Turns one provider's successful upstream answers into client responses.

    The pipeline hands it an open upstream response and the request's ``Exchange``; it answers
    with a relayed or converted stream, or one JSON body, and calls back into the pipeline to
    remember a Responses exchange, report upstream failures and complete the request.
    """

    def __init__(
        self,
        endpoint: ProviderEndpoint,
        context: PluginContext,
        *,
        remember: Remember,
        complete: Complete,
        report_error: ReportError,
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self._remember = remember
        self._complete = complete
        self._emit_provider_error = report_error

    async def read_body(self, upstream: httpx.Response, exchange: Exchange) -> bytes:
        """The whole upstream body; a connection that fails or stalls is a 502 or 504."""
        try:
            return await upstream.aread()
        except httpx.HTTPError as exc:
            raise await self._read_failure(exc, exchange) from None
        finally:
            with anyio.CancelScope(shield=True):  # also when a client gone cancels the read
                await upstream.aclose()

    async def _read_failure(self, exc: httpx.HTTPError, exchange: Exchange) -> ClientError:
        """The client's answer when the upstream fails after its status line (nothing was sent
        to the client yet, and the request is never sent again)."""
        name = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            await self._emit_provider_error(exchange, f"timeout while reading: {name}")
            return ClientError(
                504,
                f"The upstream stopped sending its answer and timed out ({name}).",
                kind="upstream_timeout",
            )
        await self._emit_provider_error(exchange, f"connection failed while reading: {name}")
        return ClientError(
            502,
            f"The upstream connection failed while it was sending its answer ({name}).",
            kind="upstream_disconnected",
        )

    async def refuse_unconvertible(
        self, upstream: httpx.Response, exchange: Exchange, *, streamed: bool
    ) -> None:
        """Raise a 502 (closing ``upstream``) when a successful-looking answer on a converted
        route has nothing to convert: a 3xx, or a ``streamed`` request answered with a body
        that is not an event stream (a JSON document, an HTML page)."""
        media_type = upstream.headers.get("content-type", "").partition(";")[0].strip().lower()
        if not upstream.is_success:
            reason = f"HTTP {upstream.status_code} is not an answer"
        elif streamed and media_type and media_type != "text/event-stream":
            reason = f"an event stream was asked for, and {media_type} came back"
        else:
            return
        await upstream.aclose()
        raise await self._invalid_answer(exchange, reason)

    async def _invalid_answer(self, exchange: Exchange, reason: str) -> ClientError:
        """The client's answer when the upstream's 2xx (or 3xx) is not an answer of its format."""
        await self._emit_provider_error(exchange, f"invalid response: {reason}")
        return ClientError(
            502,
            f"The upstream's answer could not be read: {reason}.",
            kind="upstream_invalid_response",
        )

    def stream_passthrough(
        self,
        upstream: httpx.Response,
        exchange: Exchange,
        headers: dict[str, str],
        aliased: bool,
        client_input_items: list[dict[str, Any]] | None,
    ) -> StreamingResponse:
        observer = StreamObserver(self.endpoint.upstream_format)
        rewriter = (
            ModelRewriter(self.endpoint.upstream_format, exchange.client_model or "")
            if aliased
            else None
        )

        async def body() -> AsyncIterator[bytes]:
            failure: str | None = None
            try:
                async for chunk in upstream.aiter_raw():
                    observer.feed(chunk)
                    if rewriter is None:
                        yield chunk
                    else:
                        out = rewriter.feed(chunk)
                        if out:
                            yield out
            except httpx.HTTPError as exc:
                failure = f"upstream connection failed mid-stream ({type(exc).__name__})"
            if rewriter is not None:
                tail = rewriter.close()
                if tail:
                    yield tail
            observer.close()
            if failure is None and not observer.completed and observer.error is None:
                failure = "upstream stream ended before completion"
            if failure is not None:
                # The client must not see a stream that looks complete.
                exchange.error_kind, exchange.error = "upstream_stream_error", failure
                yield stream_error_event(self.endpoint.upstream_format, failure)

        async def on_complete(error: BaseException | None) -> None:
            exchange.usage = observer.usage
            if error is not None or observer.error is not None or not observer.completed:
                exchange.error_kind = exchange.error_kind or (
                    "client_disconnect" if error else "upstream_stream_error"
                )
                exchange.error = (
                    str(error or observer.error or "stream ended before completion") or None
                )
            else:
                exchange.completed = True
                if observer.response is not None:
                    await self._remember(exchange, client_input_items, observer.response)
            await self._complete(exchange)

        return self.context.streaming_handler.relay(
            upstream,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            headers=headers,
            media_type="text/event-stream",
            body=body(),
            on_complete=on_complete,
        )

    def stream_converted(
        self,
        upstream: httpx.Response,
        exchange: Exchange,
        headers: dict[str, str],
        client_input_items: list[dict[str, Any]] | None,
        *,
        client_request: IRRequest | None = None,
    ) -> StreamingResponse:
        decoder = get_codec(self.endpoint.upstream_format).stream_decoder()
        client_codec = get_codec(exchange.client_format)
        # The client's request carries stream options (Chat's stream_options.include_usage).
        encoder = client_codec.stream_encoder(
            model=exchange.client_model or "", request=client_request
        )
        collector = ResponseCollector()
        parser = SSEParser()
        response_id = client_response_id(exchange.client_format)

        def convert(events: list[StreamEvent]) -> bytes:
            out: list[bytes] = []
            for event in events:
                if isinstance(event, ResponseStart) and response_id is not None:
                    event = replace(event, id=response_id)
                collector.feed(event)
                if isinstance(event, StreamError):
                    exchange.error_kind = "upstream_stream_error"
                    exchange.error = event.message
                out.append(encoder.encode(event))
            return b"".join(out)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    events: list[StreamEvent] = []
                    for sse in parser.feed(chunk):
                        events.extend(decoder.feed(sse))
                    out = convert(events)
                    if out:
                        yield out
            except httpx.HTTPError:
                pass  # the decoder reports the incomplete stream below
            events = []
            for sse in parser.close():
                events.extend(decoder.feed(sse))
            events.extend(decoder.close())
            out = convert(events) + encoder.close()
            if out:
                yield out

        async def on_complete(error: BaseException | None) -> None:
            try:
                result = collector.response()
            except UpstreamStreamError:
                result = None
            if result is not None:
                exchange.usage = result.usage
            if error is not None:
                exchange.error_kind = exchange.error_kind or "client_disconnect"
                exchange.error = str(error) or None
            elif result is not None and exchange.error_kind is None:
                exchange.completed = True
                if exchange.client_format == "responses":
                    await self._remember(
                        exchange,
                        client_input_items,
                        client_codec.encode_response(result, model=exchange.client_model or ""),
                    )
            await self._complete(exchange)

        return self.context.streaming_handler.relay(
            upstream,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            headers=headers,
            media_type="text/event-stream",
            body=body(),
            on_complete=on_complete,
        )

    async def collect(self, upstream: httpx.Response, exchange: Exchange) -> IRResponse:
        decoder = get_codec(self.endpoint.upstream_format).stream_decoder()
        collector = ResponseCollector()
        parser = SSEParser()
        decoded = 0  # events of the upstream's format, before the decoder's own end-of-stream check
        try:
            async for chunk in upstream.aiter_raw():
                for sse in parser.feed(chunk):
                    for event in decoder.feed(sse):
                        decoded += 1
                        collector.feed(event)
        except httpx.HTTPError as exc:
            raise await self._read_failure(exc, exchange) from None
        finally:
            with anyio.CancelScope(shield=True):  # also when a client gone cancels the read
                await upstream.aclose()
        try:
            for sse in parser.close():
                for event in decoder.feed(sse):
                    decoded += 1
                    collector.feed(event)
            if not decoded:
                fmt = self.endpoint.upstream_format
                raise await self._invalid_answer(exchange, f"its stream held no {fmt} event")
            for event in decoder.close():
                collector.feed(event)
            result = collector.response()
        except UpstreamStreamError as exc:
            exchange.error_kind = "upstream_stream_error"
            raise ClientError(
                exc.error.status_code or 502,
                f"Upstream stream failed: {exc.error.message}",
                kind="upstream_stream_error",
                error_type=dialect_type(exc.error.type),
            ) from None
        response_id = client_response_id(exchange.client_format)
        if response_id is not None:
            result.id = response_id
        return result

    async def read_response(self, upstream: httpx.Response, exchange: Exchange) -> IRResponse:
        raw = await self.read_body(upstream, exchange)
        fmt = self.endpoint.upstream_format
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            result = get_codec(fmt).decode_response(payload)
        except (ValueError, TypeError, KeyError, RecursionError):
            # Whatever the codec cannot read in the upstream's body is the upstream's fault.
            reason = f"the body is not a {fmt} response"
            raise await self._invalid_answer(exchange, reason) from None
        response_id = client_response_id(exchange.client_format)
        if response_id is not None:
            result.id = response_id
        return result

    async def passthrough_json(
        self,
        upstream: httpx.Response,
        exchange: Exchange,
        headers: dict[str, str],
        aliased: bool,
        client_input_items: list[dict[str, Any]] | None = None,
    ) -> Response:
        """A whole upstream answer relayed as it is (the model renamed when aliased); a
        Responses answer is remembered for ``previous_response_id``."""
        raw = await self.read_body(upstream, exchange)
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            usage = payload.get("usage")
            if isinstance(usage, dict):
                exchange.usage = _USAGE_READERS[self.endpoint.upstream_format](usage)
            if aliased and "model" in payload:
                payload["model"] = exchange.client_model
                raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            await self._remember(exchange, client_input_items, payload)
        exchange.completed = True
        return Response(
            raw, status_code=upstream.status_code, headers=headers, media_type="application/json"
        )
