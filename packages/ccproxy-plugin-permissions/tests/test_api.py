"""The HTTP API, the SSE feed and the security checks in front of them."""

from __future__ import annotations

import asyncio

import httpx

from ccproxy.plugins import PermissionService
from ccproxy.testing import app_client
from ccproxy_plugin_permissions.store import PermissionStore
from permissions_kit import (
    call_check,
    live_app,
    make_settings,
    mcp_session,
    read_sse,
    started,
    wait_pending,
)


async def test_registered_as_the_permissions_service() -> None:
    async with started(make_settings(timeout_seconds=5)) as app:
        registry = app.state.plugin_host.registry
        service = registry.get_service("permissions", PermissionService)
        assert isinstance(service, PermissionStore)
        async with app_client(app) as client:
            call = asyncio.create_task(service.check("Edit", {"file": "a"}, "toolu_9"))
            [pending] = await wait_pending(client)
            first = await client.post(
                f"/permissions/api/requests/{pending['id']}/decision",
                json={"allow": False, "message": "no"},
            )
            assert first.status_code == 200
            second = await client.post(
                f"/permissions/api/requests/{pending['id']}/decision", json={"allow": True}
            )
            assert second.status_code == 409
            assert await call == {"behavior": "deny", "message": "no"}
            assert (await client.get(f"/permissions/api/requests/{pending['id']}")).json()[
                "status"
            ] == "denied"
            assert (await client.get("/permissions/api/requests/nope")).status_code == 404
            bad = await client.get("/permissions/api/requests", params={"status": "odd"})
            assert bad.status_code == 400


async def test_decision_body_must_be_json() -> None:
    async with started(make_settings()) as app, app_client(app) as client:
        response = await client.post(
            "/permissions/api/requests/x/decision",
            content=b"allow=true",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 415


async def test_sse_replays_pending_then_streams_in_order() -> None:
    async with live_app(make_settings(timeout_seconds=0.5)) as server:
        async with (
            mcp_session(server.url) as session,
            httpx.AsyncClient(base_url=server.url, timeout=10) as api,
        ):
            first = asyncio.create_task(
                call_check(session, {"tool_name": "Bash", "input": {"n": 1}})
            )
            [one] = await wait_pending(api)
            async with api.stream("GET", "/permissions/api/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                [(kind, replayed)] = await read_sse(lines, 1)
                assert (kind, replayed["id"]) == ("created", one["id"])
                await api.post(
                    f"/permissions/api/requests/{one['id']}/decision", json={"allow": True}
                )
                second = asyncio.create_task(
                    call_check(session, {"tool_name": "Read", "input": {"n": 2}})
                )
                events = await read_sse(lines, 3)
            assert [kind for kind, _ in events] == ["decided", "created", "expired"]
            assert events[0][1]["status"] == "allowed"
            assert events[1][1]["tool_name"] == "Read"
            assert events[2][1]["id"] == events[1][1]["id"]
            assert events[2][1]["status"] == "expired"
            assert (await first)["behavior"] == "allow"
            assert (await second)["behavior"] == "deny"


async def test_sse_sends_keepalive_comments() -> None:
    async with live_app(make_settings(keepalive_seconds=0.05)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
            async with api.stream("GET", "/permissions/api/events") as stream:
                lines = []
                async for line in stream.aiter_lines():
                    lines.append(line)
                    if line == ": keepalive":
                        break
            assert lines[0] == ": connected"


async def test_token_host_and_origin_are_checked() -> None:
    async with started(make_settings(token="tok")) as app, app_client(app) as client:
        assert (await client.get("/permissions/api/requests")).status_code == 401
        # Without the token the page is a sign-in form (see test_web_page for the browser).
        assert (await client.get("/permissions/")).status_code == 200
        auth = {"authorization": "Bearer tok"}
        assert (await client.get("/permissions/api/requests", headers=auth)).status_code == 200
        evil_host = await client.get(
            "/permissions/api/requests", headers={**auth, "host": "evil.example"}
        )
        assert evil_host.status_code == 403
        evil_origin = await client.post(
            "/permissions/api/requests/x/decision",
            json={"allow": True},
            headers={**auth, "origin": "http://evil.example"},
        )
        assert evil_origin.status_code == 403
        own_origin = await client.post(
            "/permissions/api/requests/x/decision",
            json={"allow": True},
            headers={**auth, "origin": "http://127.0.0.1"},
        )
        assert own_origin.status_code == 404


async def test_mcp_refuses_foreign_host_and_origin() -> None:
    async with live_app(make_settings()) as server, httpx.AsyncClient(base_url=server.url) as c:
        accept = {"accept": "application/json, text/event-stream"}
        host = await c.post("/permissions/mcp", json={}, headers={**accept, "host": "evil.example"})
        assert host.status_code == 403
        origin = await c.post(
            "/permissions/mcp", json={}, headers={**accept, "origin": "http://evil.example"}
        )
        assert origin.status_code == 403


async def test_session_exchanges_the_token_for_a_cookie() -> None:
    async with started(make_settings(token="tok")) as app, app_client(app) as client:
        refused = await client.post("/permissions/api/session", json={})
        assert refused.status_code == 401
        response = await client.post(
            "/permissions/api/session", json={}, headers={"authorization": "Bearer tok"}
        )
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("ccproxy_token=tok;")
        lowered = cookie.lower()
        assert "httponly" in lowered
        assert "samesite=strict" in lowered
        assert "path=/" in lowered
        # The cookie alone now opens the page and the API.
        jar = {"cookie": "ccproxy_token=tok"}
        page = await client.get("/permissions/", headers=jar)
        assert page.status_code == 200
        assert '<script src="page.js">' in page.text
        assert (await client.get("/permissions/api/requests", headers=jar)).status_code == 200
        # A cookie cannot mint a cookie: the exchange needs the Bearer header.
        again = await client.post("/permissions/api/session", json={}, headers=jar)
        assert again.status_code == 401


async def test_two_apps_in_one_process_keep_their_own_requests() -> None:
    async with live_app(make_settings()) as one, live_app(make_settings()) as two:
        async with (
            mcp_session(one.url) as s1,
            mcp_session(two.url) as s2,
            httpx.AsyncClient(base_url=one.url) as api1,
            httpx.AsyncClient(base_url=two.url) as api2,
        ):
            c1 = asyncio.create_task(call_check(s1, {"tool_name": "A", "input": {}}))
            c2 = asyncio.create_task(call_check(s2, {"tool_name": "B", "input": {}}))
            [p1] = await wait_pending(api1)
            [p2] = await wait_pending(api2)
            assert (p1["tool_name"], p2["tool_name"]) == ("A", "B")
            cross = await api2.post(
                f"/permissions/api/requests/{p1['id']}/decision", json={"allow": True}
            )
            assert cross.status_code == 404
            await api1.post(f"/permissions/api/requests/{p1['id']}/decision", json={"allow": True})
            await api2.post(f"/permissions/api/requests/{p2['id']}/decision", json={"allow": False})
            assert (await c1)["behavior"] == "allow"
            assert (await c2)["behavior"] == "deny"


async def test_health_reports_pending() -> None:
    async with started(make_settings()) as app, app_client(app) as client:
        body = (await client.get("/health")).json()
        assert body["status"] == "pass"


async def test_with_a_token_only_a_sign_in_page_is_served_without_it() -> None:
    async with started(make_settings(token="s3cret-token")) as app, app_client(app) as client:
        page = await client.get("/permissions/")
        login_script = await client.get("/permissions/login.js")
        script = await client.get("/permissions/page.js")
        data = await client.get("/permissions/api/requests")
        wrong_cookie = await client.get("/permissions/", headers={"cookie": "ccproxy_token=x"})
        session = await client.post(
            "/permissions/api/session", json={}, headers={"authorization": "Bearer s3cret-token"}
        )
        # The client keeps the cookie: from now on the real page and its script are served.
        signed_in_page = await client.get("/permissions/")
        signed_in_script = await client.get("/permissions/page.js")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<form id="login">' in page.text
    assert "page.js" not in page.text
    assert "s3cret-token" not in page.text
    assert login_script.status_code == 200
    assert "api/session" in login_script.text
    assert script.status_code == data.status_code == 401
    assert '<form id="login">' in wrong_cookie.text
    assert session.status_code == 200
    assert '<script src="page.js">' in signed_in_page.text
    assert signed_in_script.status_code == 200
    assert "EventSource" in signed_in_script.text


async def test_without_a_token_the_page_is_served_directly() -> None:
    async with started(make_settings()) as app, app_client(app) as client:
        page = await client.get("/permissions/")
        script = await client.get("/permissions/page.js")
    assert '<script src="page.js">' in page.text
    assert script.status_code == 200
