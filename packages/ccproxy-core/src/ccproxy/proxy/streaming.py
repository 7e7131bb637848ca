"""Relaying an upstream byte stream to the client, with stream hooks and guaranteed cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ccproxy.hooks import (
    HookEvent,
    HookManager,
    ProviderStreamChunk,
    ProviderStreamEnd,
    ProviderStreamStart,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["RelayResponse", "StreamingHandler"]

ChunkObserver = Callable[[bytes], None]
CompletionCallback = Callable[[BaseException | None], Awaitable[None]]


class RelayResponse(StreamingResponse):
    """A ``StreamingResponse`` that sends its body from the request's own task.

    Starlette's runs the body and a disconnect listener in an anyio task group; a relay holds
    that for the whole stream (about 4.5 KB per open stream). Here one plain task waits for
    ``http.disconnect`` and cancels the request task, which closes the upstream through the
    body's ``finally``; servers that report a gone client by raising ``OSError`` from ``send``
    (ASGI 2.4) end it the same way.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        disconnected = finished = False

        async def cancel_on_disconnect() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            # Runs only while the request task waits, so the cancel lands on that await.
            if not finished:
                disconnected = True
                task.cancel()

        listener = asyncio.get_running_loop().create_task(cancel_on_disconnect())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not disconnected:
                raise
            task.uncancel()
        except OSError:
            pass  # the client is gone
        finally:
            finished = True
            listener.cancel()
        if self.background is not None:
            await self.background()


class StreamingHandler:
    """Turns an open upstream ``httpx.Response`` into a client ``StreamingResponse``.

    Bytes are relayed as received (no re-serialisation). The upstream response is always closed:
    at the end, on error, and when the client disconnects. ``PROVIDER_STREAM_START``,
    ``PROVIDER_STREAM_CHUNK`` (only when someone subscribed) and ``PROVIDER_STREAM_END`` fire.
    """

    def __init__(self, hooks: HookManager) -> None:
        self._hooks = hooks

    async def iter_upstream(
        self,
        upstream: httpx.Response,
        *,
        request_id: str,
        plugin: str,
        body: AsyncIterator[bytes] | None = None,
        on_chunk: ChunkObserver | None = None,
        on_complete: CompletionCallback | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield the upstream bytes (or ``body``, a transformation of them) with hooks fired."""
        hooks = self._hooks
        error: BaseException | None = None
        source = upstream.aiter_raw() if body is None else body
        try:
            if hooks.has_subscribers(HookEvent.PROVIDER_STREAM_START):
                await hooks.emit(
                    ProviderStreamStart(
                        request_id=request_id,
                        provider=plugin,
                        status_code=upstream.status_code,
                        headers=dict(upstream.headers),
                    )
                )
            async for chunk in source:
                if on_chunk is not None:
                    on_chunk(chunk)
                if hooks.has_subscribers(HookEvent.PROVIDER_STREAM_CHUNK):
                    await hooks.emit(
                        ProviderStreamChunk(request_id=request_id, provider=plugin, chunk=chunk)
                    )
                yield chunk
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                # Shielded: on client disconnect the surrounding scope is cancelled, and the
                # upstream connection must still be released and the end reported.
                with anyio.CancelScope(shield=True):
                    await upstream.aclose()
                    if hooks.has_subscribers(HookEvent.PROVIDER_STREAM_END):
                        await hooks.emit(
                            ProviderStreamEnd(request_id=request_id, provider=plugin, error=error)
                        )
                    if on_complete is not None:
                        await on_complete(error)
            finally:
                # The error's traceback holds this frame: keeping it here would make a cycle,
                # and a stream that failed or lost its client (its connections and TLS state
                # included) would wait for the cyclic collector instead of going at once.
                error = None

    def relay(
        self,
        upstream: httpx.Response,
        *,
        request_id: str,
        plugin: str,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        body: AsyncIterator[bytes] | None = None,
        on_chunk: ChunkObserver | None = None,
        on_complete: CompletionCallback | None = None,
    ) -> StreamingResponse:
        """A ``StreamingResponse`` relaying ``upstream`` (status and headers as given)."""
        return RelayResponse(
            self.iter_upstream(
                upstream,
                request_id=request_id,
                plugin=plugin,
                body=body,
                on_chunk=on_chunk,
                on_complete=on_complete,
            ),
            status_code=upstream.status_code if status_code is None else status_code,
            headers=dict(headers) if headers is not None else None,
            media_type=media_type,
        )
