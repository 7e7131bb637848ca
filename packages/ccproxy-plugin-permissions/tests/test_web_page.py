"""The web page in a real headless chromium: a person sees the request and clicks Allow."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ccproxy.testing.browser import open_page
from permissions_kit import call_check, live_app, make_settings, mcp_session, wait_pending

PENDING_CARD = "document.querySelectorAll('#requests .request').length"


@pytest.mark.timeout(90)
async def test_clicking_allow_approves_the_pending_request() -> None:
    tool_input = {"command": "echo <b>hi</b>", "flag": True, "list": [1, None]}
    async with live_app(make_settings()) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            call = asyncio.create_task(
                call_check(session, {"tool_name": "Bash", "input": tool_input})
            )
            [pending] = await wait_pending(api)
            async with open_page(f"{server.url}/permissions/") as page:
                await page.wait_for(f"{PENDING_CARD} === 1")
                shown = await page.evaluate("document.querySelector('.request .input').textContent")
                assert '"command": "echo <b>hi</b>"' in shown  # text, never parsed as HTML
                assert await page.evaluate("document.querySelectorAll('.request b').length") == 0
                tool = await page.evaluate("document.querySelector('.request .tool').textContent")
                assert tool == "Bash"
                await page.click(".request .allow")
                assert await call == {"behavior": "allow", "updatedInput": tool_input}
                await page.wait_for(f"{PENDING_CARD} === 0")
            detail = (await api.get(f"/permissions/api/requests/{pending['id']}")).json()
            assert detail["status"] == "allowed"


@pytest.mark.timeout(90)
async def test_page_shows_new_requests_live_and_denies() -> None:
    async with live_app(make_settings()) as server:
        async with mcp_session(server.url) as session:
            async with open_page(f"{server.url}/permissions/") as page:
                await page.wait_for("document.getElementById('status').textContent === 'Live.'")
                call = asyncio.create_task(
                    call_check(session, {"tool_name": "Write", "input": {"path": "x"}})
                )
                await page.wait_for(f"{PENDING_CARD} === 1")
                await page.click(".request .deny")
                result = await call
                assert result["behavior"] == "deny"


@pytest.mark.timeout(90)
async def test_with_a_token_the_page_signs_in_through_its_form() -> None:
    async with live_app(make_settings(token="page-token")) as server:
        async with (
            mcp_session(server.url, token="page-token") as session,
            httpx.AsyncClient(base_url=server.url) as api,
        ):
            async with open_page(f"{server.url}/permissions/") as page:
                await page.wait_for("document.getElementById('login') !== null")
                assert await page.evaluate("document.getElementById('requests')") is None
                await page.evaluate("document.getElementById('token').value = 'wrong'")
                await page.click("#login button")
                await page.wait_for(
                    "document.getElementById('status').textContent"
                    " === 'Could not sign in: the token was refused'"
                )
                await page.evaluate("document.getElementById('token').value = 'page-token'")
                await page.click("#login button")
                await page.wait_for("document.getElementById('status')?.textContent === 'Live.'")
                call = asyncio.create_task(
                    call_check(session, {"tool_name": "Edit", "input": {"file": "a"}})
                )
                await page.wait_for(f"{PENDING_CARD} === 1")
                await page.click(".request .allow")
                assert (await call)["behavior"] == "allow"
                # The token itself never shows up in the address bar or the page.
                assert "page-token" not in await page.evaluate("document.documentElement.outerHTML")
            assert (await api.get("/permissions/api/requests")).status_code == 401


@pytest.mark.timeout(90)
async def test_a_token_in_the_fragment_signs_in_once_and_leaves_the_address_bar() -> None:
    async with live_app(make_settings(token="frag-token")) as server:
        async with open_page(f"{server.url}/permissions/#token=frag-token") as page:
            await page.wait_for("document.getElementById('status')?.textContent === 'Live.'")
            assert await page.evaluate("location.href") == f"{server.url}/permissions/"
