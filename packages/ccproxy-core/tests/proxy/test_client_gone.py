"""A client that is gone is never sent upstream, and its upstream is closed at once.

Real uvicorn on 127.0.0.1 in front of a loopback upstream written on raw sockets, so the test
sees exactly how many requests reached the upstream and when its connections closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import types
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from provider_kit import ListTokenSource, Recorder, provider, raw_upstream
from structlog.testing import capture_logs

import ccproxy
from ccproxy.app import get_plugin_host
from ccproxy.config import HttpSettings, Settings
from ccproxy.hooks import HookEvent, HookPayload
from ccproxy.proxy.client_watch import ClientWatch
from ccproxy.proxy.exchange import Exchange
from ccproxy.testing import LiveServer, started_app

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
CHAT = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]}
RESPONSES = {"model": "gpt-5", "input": [{"role": "user", "content": "Hi"}]}
ANSWER = (
    b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-6",'
    b'"content":[{"type":"text","text":"held"}],"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}'
)
FIRST_EVENT = b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'

#: What the upstream does once it has read a request: answer it, or start an answer and stall.
Behaviour = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class CountingUpstream:
    """Counts the requests it reads and notes each connection it sees close."""

    behaviour: Behaviour
    requests: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the proxy closed the connection
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                self.arrived.set()
                answering = asyncio.create_task(self.behaviour(writer))
                # A request whose connection closes before the answer is over is abandoned.
                eof = asyncio.create_task(reader.read(1))
                done, _ = await asyncio.wait({answering, eof}, return_when=asyncio.FIRST_COMPLETED)
                if eof in done:
                    answering.cancel()
                    return
                eof.cancel()
        finally:
            self.closed.set()
            writer.close()


def answer_after(release: asyncio.Event) -> Behaviour:
    async def behaviour(writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
        )
        await writer.drain()

    return behaviour


async def answer_now(writer: asyncio.StreamWriter) -> None:
    released = asyncio.Event()
    released.set()
    await answer_after(released)(writer)


def stall(start: bytes) -> Behaviour:
    """Send ``start`` (maybe nothing, maybe a status line and part of a body), then hang."""

    async def behaviour(writer: asyncio.StreamWriter) -> None:
        writer.write(start)
        await writer.drain()
        await asyncio.Event().wait()

    return behaviour


class Watching(Recorder):
    """A recorder that can be waited on."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    async def __call__(self, event: HookPayload) -> None:
        await super().__call__(event)
        async with self.changed:
            self.changed.notify_all()

    async def until(self, condition: Callable[[], bool], *, seconds: float = 10) -> None:
        """Wait (generously) until ``condition`` holds; fail the test if it never does."""
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(condition)


def started(recorder: Recorder) -> int:
    return sum(1 for e in recorder.seen if e.kind == HookEvent.REQUEST_STARTED)


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
async def test_clients_that_give_up_while_waiting_for_a_connection_are_never_sent(
    stream: bool,
) -> None:
    release = asyncio.Event()
    upstream = CountingUpstream(answer_after(release))
    settings = Settings(
        plugins_disable_local_discovery=True,
        http=HttpSettings(max_connections=1, pool_timeout_seconds=30),
    )
    async with raw_upstream(upstream.serve) as upstream_url:
        entry = provider(base_url=upstream_url, token_source=ListTokenSource("tok"))
        async with started_app(settings, entry_points=[entry]) as app:
            recorder = Watching()
            get_plugin_host(app).hooks.register(recorder)
            with capture_logs() as events:
                async with LiveServer(app) as proxy, httpx.AsyncClient(timeout=30) as client:
                    url = f"{proxy.url}/testprov/v1/messages"
                    holder = asyncio.create_task(client.post(url, json=MESSAGE, headers=HEADERS))
                    await asyncio.wait_for(upstream.arrived.wait(), 10)
                    # Five clients whose requests wait for the one connection, then give up.
                    waiting = [
                        asyncio.create_task(
                            client.post(url, json={**MESSAGE, "stream": stream}, headers=HEADERS)
                        )
                        for _ in range(5)
                    ]
                    await recorder.until(lambda: started(recorder) == 6)
                    for task in waiting:
                        task.cancel()
                    await asyncio.gather(*waiting, return_exceptions=True)
                    # Recorded as gone while the one connection is still busy, not sent later.
                    await recorder.until(lambda: len(recorder.records()) == 5)
                    release.set()
                    held = await asyncio.wait_for(holder, 10)
                    await recorder.until(lambda: len(recorder.records()) == 6)

    assert held.status_code == 200
    assert upstream.requests == 1
    # A client leaving is no error of the proxy's: no error line, no traceback.
    assert [e for e in events if e["log_level"] == "error" or "exc_info" in e] == []
    gone = [r for r in recorder.records() if r.error_kind == "client_disconnect"]
    assert len(gone) == 5
    assert {r.status_code for r in gone} == {499}


# (route, upstream format, what the upstream sends before it stalls)
STALLS = [
    ("/testprov/v1/messages", "anthropic", b""),
    ("/testprov/v1/messages", "anthropic", b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{"),
    (
        "/testprov/v1/chat/completions",
        "anthropic",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    ),
    (
        "/testprov/v1/chat/completions",
        "responses",
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(FIRST_EVENT), FIRST_EVENT),
    ),
]


@pytest.mark.parametrize(
    ("route", "upstream_format", "start"),
    STALLS,
    ids=["before-headers", "passthrough-body", "converted-body", "collected-stream"],
)
async def test_a_non_streaming_client_that_leaves_closes_its_upstream_at_once(
    route: str, upstream_format: str, start: bytes
) -> None:
    upstream = CountingUpstream(stall(start))
    # A read timeout far beyond the test's: only noticing the client ends the upstream request.
    settings = Settings(
        plugins_disable_local_discovery=True, http=HttpSettings(read_timeout_seconds=300)
    )
    async with raw_upstream(upstream.serve) as upstream_url:
        entry = provider(
            base_url=upstream_url,
            token_source=ListTokenSource("tok"),
            upstream_format=upstream_format,  # type: ignore[arg-type]
            native_prefix="claude-" if upstream_format == "anthropic" else "gpt-",
            default_model="claude-sonnet-4-6" if upstream_format == "anthropic" else "gpt-5",
        )
        async with started_app(settings, entry_points=[entry]) as app:
            recorder = Watching()
            get_plugin_host(app).hooks.register(recorder)
            async with LiveServer(app) as proxy, httpx.AsyncClient(timeout=30) as client:
                body = MESSAGE if route.endswith("/messages") else CHAT
                request = asyncio.create_task(
                    client.post(f"{proxy.url}{route}", json=body, headers=HEADERS)
                )
                await asyncio.wait_for(upstream.arrived.wait(), 10)
                request.cancel()
                await asyncio.gather(request, return_exceptions=True)
                await asyncio.wait_for(upstream.closed.wait(), 10)
                await recorder.until(lambda: len(recorder.records()) == 1)

    [record] = recorder.records()
    assert (record.status_code, record.error_kind) == (499, "client_disconnect")
    assert upstream.requests == 1


@contextlib.contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """What the cyclic garbage collector would free of what the block leaves behind."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[object] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


STREAM_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
)


#: What a client does against the proxy, and how it knows the proxy has recorded it.
ClientPlay = Callable[[httpx.AsyncClient, str, Watching, CountingUpstream], Awaitable[None]]


async def finish_three(
    client: httpx.AsyncClient, proxy: str, recorder: Watching, upstream: CountingUpstream
) -> None:
    for _ in range(3):
        response = await client.post(f"{proxy}/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
        assert response.status_code == 200
    await recorder.until(lambda: len(recorder.records()) == 3)


def leave_mid_stream(route: str, body: dict[str, object]) -> ClientPlay:
    async def play(
        client: httpx.AsyncClient, proxy: str, recorder: Watching, upstream: CountingUpstream
    ) -> None:
        stream = {**body, "stream": True}
        async with client.stream("POST", proxy + route, json=stream, headers=HEADERS) as response:
            assert response.status_code == 200
            async for _chunk in response.aiter_raw():
                break  # hang up after the first event
        await recorder.until(lambda: len(recorder.records()) == 1)

    return play


async def leave_while_waiting(
    client: httpx.AsyncClient, proxy: str, recorder: Watching, upstream: CountingUpstream
) -> None:
    request = asyncio.create_task(
        client.post(f"{proxy}/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    )
    await asyncio.wait_for(upstream.arrived.wait(), 10)
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    await recorder.until(lambda: len(recorder.records()) == 1)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(STREAM_START), STREAM_START)
)


@pytest.mark.parametrize(
    ("behaviour", "client"),
    [
        (answer_now, finish_three),
        (stall(STREAM_HEAD), leave_mid_stream("/testprov/v1/messages", MESSAGE)),
        (stall(STREAM_HEAD), leave_mid_stream("/testprov/v1/chat/completions", CHAT)),
        (stall(b""), leave_while_waiting),
    ],
    ids=["finished", "leaves-mid-stream", "leaves-mid-converted-stream", "leaves-while-waiting"],
)
async def test_a_request_leaves_none_of_the_proxy_s_objects_to_the_cyclic_collector(
    behaviour: Behaviour, client: ClientPlay
) -> None:
    """The disconnect watch and the relay end without tying themselves, the request's frames
    and its exchange into a cycle (an exception whose traceback holds the frame that keeps it):
    a request's objects are freed when it ends, not whenever the collector next runs."""
    upstream = CountingUpstream(behaviour)
    package = str(Path(ccproxy.__file__).parent)
    async with raw_upstream(upstream.serve) as upstream_url:
        entry = provider(base_url=upstream_url, token_source=ListTokenSource("tok"))
        settings = Settings(plugins_disable_local_discovery=True)
        async with started_app(settings, entry_points=[entry]) as app:
            recorder = Watching()
            get_plugin_host(app).hooks.register(recorder)
            async with LiveServer(app) as proxy, httpx.AsyncClient(timeout=30) as http:
                with cyclic_garbage() as garbage:
                    await client(http, proxy.url, recorder, upstream)
                    recorder.seen.clear()  # the events it kept would keep their errors alive
                    await asyncio.sleep(0.1)  # cancelled watches and relays have finished

    assert [o for o in garbage if isinstance(o, (ClientWatch, Exchange))] == []
    ours = [
        o.f_code.co_qualname
        for o in garbage
        if isinstance(o, types.FrameType) and o.f_code.co_filename.startswith(package)
    ]
    assert ours == []
