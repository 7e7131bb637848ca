"""The OAuth loopback callback server, through real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from ccproxy.auth.callback import CallbackResult, CallbackServer, PortsBusyError
from ccproxy.testing import free_port


async def test_a_redirect_with_the_state_ends_the_wait_with_its_code() -> None:
    async with CallbackServer(expected_state="s1", path="/cb") as server:
        assert server.redirect_uri == f"http://localhost:{server.port}/cb"
        waiting = asyncio.create_task(server.wait(10))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as browser:
            page = await browser.get("/cb", params={"code": "c0de", "state": "s1"})
            again = await browser.get("/cb", params={"code": "c0de", "state": "s1"})
        result = await waiting
    assert page.status_code == 200
    assert "Login complete" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert again.status_code == 409  # one login, one code
    assert (result.code, result.state, result.error) == ("c0de", "s1", None)
    assert "c0de" not in repr(result)


async def test_other_paths_methods_and_stale_states_do_not_end_the_wait() -> None:
    async with CallbackServer(expected_state="s1", path="/cb") as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as browser:
            missing = await browser.get("/favicon.ico")
            posted = await browser.post("/cb", params={"code": "c", "state": "s1"})
            stale = await browser.get("/cb", params={"code": "c", "state": "old"})
            head = await browser.head("/elsewhere")
            with pytest.raises(TimeoutError):
                await server.wait(0.2)
            done = await browser.get("/cb", params={"code": "c", "state": "s1"})
        result = await server.wait(5)
    assert (missing.status_code, posted.status_code, stale.status_code) == (404, 405, 400)
    assert head.status_code == 404
    assert done.status_code == 200 and result.code == "c"


async def test_deliver_mode_hands_a_foreign_state_or_an_error_to_the_login() -> None:
    async with CallbackServer(expected_state="s1", foreign_state="deliver") as server:
        async with httpx.AsyncClient() as browser:
            page = await browser.get(server.redirect_uri, params={"code": "c", "state": "x"})
        result = await server.wait(5)
    assert page.status_code == 400 and result.state == "x"
    async with CallbackServer(expected_state="s1") as server:
        async with httpx.AsyncClient() as browser:
            page = await browser.get(
                server.redirect_uri, params={"error": "access_denied", "state": "s1"}
            )
        result = await server.wait(5)
    assert page.status_code == 400
    assert (result.error, result.code) == ("access_denied", None)


async def test_the_cancel_path_ends_a_waiting_login() -> None:
    async with CallbackServer(expected_state="s", cancel_path="/cancel") as server:
        async with httpx.AsyncClient() as browser:
            page = await browser.get(f"http://127.0.0.1:{server.port}/cancel")
        result = await server.wait(5)
    assert page.status_code == 200
    assert result == CallbackResult(None, None, cancelled=True)


async def test_a_busy_port_falls_back_to_the_next_and_all_busy_is_an_error() -> None:
    busy, fallback = free_port(), free_port()
    blocker = socket.create_server(("127.0.0.1", busy))
    try:
        async with CallbackServer([busy, fallback], expected_state="s") as server:
            assert server.port == fallback
        with pytest.raises(PortsBusyError, match=str(busy)):
            await CallbackServer([busy], expected_state="s").start()
    finally:
        blocker.close()


async def test_closing_frees_the_port_and_an_oversized_head_is_refused() -> None:
    server = CallbackServer(expected_state="s")
    port = await server.start()
    async with httpx.AsyncClient() as browser:
        huge = await browser.get(f"http://127.0.0.1:{port}/cb", headers={"x-big": "a" * 100_000})
    await server.close()
    assert 400 <= huge.status_code < 500
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as browser:
            await browser.get(f"http://127.0.0.1:{port}/callback")
    socket.create_server(("127.0.0.1", port)).close()  # the port is free again
