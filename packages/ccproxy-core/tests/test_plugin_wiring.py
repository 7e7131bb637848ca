"""Everything a manifest declares is wired: middleware, mounts, hooks, tasks, health, context."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any, get_args

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from ccproxy.app import create_app, get_plugin_host, initialize_plugins_startup, shutdown_plugins
from ccproxy.config import Settings
from ccproxy.plugins import (
    HOOK_EVENT_DOCS,
    HookEvent,
    HookPayload,
    HookSpec,
    MiddlewareLayer,
    MiddlewareSpec,
    MountSpec,
    PluginContext,
    PluginFailed,
    PluginLoaded,
    PluginManifest,
    SystemPluginFactory,
    SystemPluginRuntime,
    TaskSpec,
    health_result,
)
from ccproxy.plugins.context import CONTEXT_KEYS
from ccproxy.testing import app_client, fake_entry_point, started_app


class TaggingMiddleware:
    """Appends its tag to ``x-layers`` on the way out, so the header lists inner layers first."""

    def __init__(self, app: ASGIApp, tag: str) -> None:
        self.app = app
        self.tag = tag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                existing = [v for k, v in headers if k == b"x-layers"]
                headers = [(k, v) for k, v in headers if k != b"x-layers"]
                value = (existing[0] + b"," if existing else b"") + self.tag.encode()
                headers.append((b"x-layers", value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, tagged_send)


async def test_middleware_runs_in_layer_order_lowest_outermost() -> None:
    manifest_a = PluginManifest(
        name="aaa",
        middleware=[
            MiddlewareSpec(TaggingMiddleware, MiddlewareLayer.APPLICATION, {"tag": "application"}),
            MiddlewareSpec(TaggingMiddleware, MiddlewareLayer.SECURITY, {"tag": "security"}),
        ],
    )
    manifest_b = PluginManifest(
        name="bbb",
        middleware=[
            MiddlewareSpec(TaggingMiddleware, MiddlewareLayer.ROUTING, {"tag": "routing"}),
            MiddlewareSpec(
                TaggingMiddleware, MiddlewareLayer.OBSERVABILITY, {"tag": "observability"}
            ),
            MiddlewareSpec(
                TaggingMiddleware, MiddlewareLayer.TRANSFORMATION, {"tag": "transformation"}
            ),
        ],
    )
    eps = [
        fake_entry_point("bbb", SystemPluginFactory(manifest_b)),
        fake_entry_point("aaa", SystemPluginFactory(manifest_a)),
    ]
    async with started_app(entry_points=eps) as app, app_client(app) as client:
        response = await client.get("/api/plugins/status")
    # Response headers are tagged innermost first.
    assert (
        response.headers["x-layers"] == "application,routing,transformation,observability,security"
    )


async def test_mounted_asgi_app_answers_and_its_resources_follow_the_runtime() -> None:
    events: list[str] = []

    async def sub_app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send(
            {"type": "http.response.body", "body": f"mounted at {scope['root_path']}".encode()}
        )

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            events.append("sub-app resources entered")

        async def _on_shutdown(self) -> None:
            events.append("sub-app resources left")

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    factory = Factory(PluginManifest(name="mounter", mounts=[MountSpec("/mounter/asgi", sub_app)]))
    async with started_app(entry_points=[fake_entry_point("mounter", factory)]) as app:
        async with app_client(app) as client:
            response = await client.get("/mounter/asgi/anything")
        assert events == ["sub-app resources entered"]
    assert response.status_code == 200
    assert response.text == "mounted at /mounter/asgi"
    assert events == ["sub-app resources entered", "sub-app resources left"]


class RecordingHook:
    def __init__(
        self,
        name: str,
        priority: int,
        journal: list[str],
        events: list[HookEvent],
        fail: bool = False,
    ) -> None:
        self.name = name
        self.priority = priority
        self.events = events
        self._journal = journal
        self._fail = fail

    async def __call__(self, event: HookPayload) -> None:
        plugin = event.plugin if isinstance(event, PluginLoaded | PluginFailed) else None
        self._journal.append(f"{self.name}:{event.kind.value}:{plugin}")
        if self._fail:
            raise RuntimeError("hook exploded")


async def test_hooks_run_by_priority_and_a_failing_hook_does_not_stop_the_others() -> None:
    journal: list[str] = []
    events = [HookEvent.APP_STARTUP]
    manifest = PluginManifest(
        name="hooky",
        hooks=[
            HookSpec(
                RecordingHook,
                {"name": "late", "priority": 50, "journal": journal, "events": events},
            ),
            HookSpec(
                RecordingHook,
                {
                    "name": "boom",
                    "priority": 10,
                    "journal": journal,
                    "events": events,
                    "fail": True,
                },
            ),
            HookSpec(
                RecordingHook,
                {"name": "early", "priority": 0, "journal": journal, "events": events},
            ),
            HookSpec(
                RecordingHook, {"name": "tie", "priority": 50, "journal": journal, "events": events}
            ),
        ],
    )
    async with started_app(entry_points=[fake_entry_point("hooky", SystemPluginFactory(manifest))]):
        pass
    assert journal == [
        "early:app.startup:None",
        "boom:app.startup:None",
        "late:app.startup:None",
        "tie:app.startup:None",
    ]


async def test_plugin_lifecycle_events_reach_hooks() -> None:
    journal: list[str] = []
    events = [
        HookEvent.PLUGIN_LOADED,
        HookEvent.PLUGIN_FAILED,
        HookEvent.APP_STARTUP,
        HookEvent.APP_SHUTDOWN,
    ]
    watcher = PluginManifest(
        name="aaa_watcher",
        hooks=[
            HookSpec(
                RecordingHook, {"name": "w", "priority": 0, "journal": journal, "events": events}
            )
        ],
    )

    def broken() -> Any:
        raise ImportError("nope")

    eps = [
        fake_entry_point("aaa_watcher", SystemPluginFactory(watcher)),
        fake_entry_point("zzz_ok", SystemPluginFactory(PluginManifest(name="zzz_ok"))),
        fake_entry_point("zzz_broken", broken),
    ]
    async with started_app(entry_points=eps):
        pass
    # The watcher's hooks are registered before its own PLUGIN_LOADED fires.
    assert journal == [
        "w:plugin.loaded:aaa_watcher",
        "w:plugin.loaded:zzz_ok",
        "w:plugin.failed:zzz_broken",
        "w:app.startup:None",
        "w:app.shutdown:None",
    ]


def test_every_hook_event_has_a_documented_frozen_payload() -> None:
    undocumented = [event for event in HookEvent if not HOOK_EVENT_DOCS.get(event, "").strip()]
    assert undocumented == []
    payloads = {cls.kind: cls for cls in get_args(HookPayload)}
    assert set(payloads) == set(HookEvent)
    for cls in payloads.values():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls


async def test_declared_task_runs_and_a_failing_task_backs_off() -> None:
    ran = asyncio.Event()
    failures: list[float] = []
    loop = asyncio.get_running_loop()

    async def good_task() -> None:
        ran.set()

    four_failures = asyncio.Event()

    async def bad_task() -> None:
        failures.append(loop.time())
        if len(failures) >= 4:
            four_failures.set()
        raise RuntimeError("upstream down")

    manifest = PluginManifest(
        name="tasky",
        tasks=[
            TaskSpec("good", interval_seconds=60, task=good_task, initial_delay_seconds=0),
            TaskSpec("bad", interval_seconds=0.02, task=bad_task, initial_delay_seconds=0),
        ],
    )
    async with started_app(
        entry_points=[fake_entry_point("tasky", SystemPluginFactory(manifest))]
    ) as app:
        await asyncio.wait_for(ran.wait(), timeout=5)
        await asyncio.wait_for(four_failures.wait(), timeout=5)
        scheduled = {t.spec.name: t for t in get_plugin_host(app).scheduler.tasks()}
    gaps = [b - a for a, b in itertools.pairwise(failures)]
    # Waits double after each failure: 0.04, 0.08, 0.16 seconds (timers only run late, never early).
    assert gaps[0] >= 0.04 * 0.95
    assert gaps[1] >= 0.08 * 0.95
    assert gaps[2] >= 0.16 * 0.95
    assert scheduled["bad"].consecutive_failures >= 4
    assert scheduled["bad"].last_error == "RuntimeError: upstream down"
    assert scheduled["good"].runs == 1


def test_backoff_is_capped() -> None:
    from ccproxy.logging import get_logger
    from ccproxy.plugins import Scheduler

    scheduler = Scheduler(get_logger("test"), max_backoff_seconds=10)
    assert [scheduler.backoff_delay(1, n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert scheduler.backoff_delay(60, 3) == 60  # an interval longer than the cap is kept


def health_plugin(name: str, status: str) -> Any:
    class Runtime(SystemPluginRuntime):
        async def health_check(self):  # type: ignore[override]
            return health_result(status, component_id=self.name, output=f"{name} says {status}")  # type: ignore[arg-type]

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    return fake_entry_point(name, Factory(PluginManifest(name=name)))


@pytest.mark.parametrize(
    ("statuses", "expected", "http_status"),
    [
        (["pass", "pass"], "pass", 200),
        (["pass", "warn"], "warn", 200),
        (["warn", "fail"], "fail", 503),
        ([], "pass", 200),
    ],
)
async def test_health_is_worst_of_the_plugins(
    statuses: list[str], expected: str, http_status: int
) -> None:
    eps = [health_plugin(f"p{i}", s) for i, s in enumerate(statuses)]
    async with started_app(entry_points=eps) as app, app_client(app) as client:
        response = await client.get("/health")
    assert response.status_code == http_status
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == expected
    for i, status in enumerate(statuses):
        [check] = body["checks"][f"plugin:p{i}"]
        assert check["status"] == status
        assert check["componentId"] == f"p{i}"


async def test_context_has_every_documented_key_and_answers_like_a_mapping() -> None:
    captured: dict[str, PluginContext] = {}

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            captured["ctx"] = self.context

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    async with started_app(
        entry_points=[fake_entry_point("ctx", Factory(PluginManifest(name="ctx")))]
    ) as app:
        ctx = captured["ctx"]
        for key in CONTEXT_KEYS:
            assert key in ctx
            assert ctx[key] is getattr(ctx, key)
        missing = [key for key in CONTEXT_KEYS if key != "config" and ctx.get(key) is None]
        assert missing == []
        assert ctx.get("config") is None  # no config_class declared
        assert ctx.app is app
        assert isinstance(ctx.http_client, httpx.AsyncClient)
        assert ctx.plugin_registry is get_plugin_host(app).registry
        ctx["custom"] = 1
        assert ctx.get("custom") == 1


async def test_startup_is_idempotent_and_works_without_lifespan() -> None:
    count: list[int] = []

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            count.append(1)

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    app = create_app(
        Settings(plugins_disable_local_discovery=True),
        entry_points=[fake_entry_point("once", Factory(PluginManifest(name="once")))],
    )
    await initialize_plugins_startup(app)
    await initialize_plugins_startup(app)
    async with app_client(app) as client:
        status = (await client.get("/api/plugins/status")).json()
    await shutdown_plugins(app)
    await shutdown_plugins(app)
    assert count == [1]
    assert status["plugins"][0]["initialized"] is True


async def test_two_apps_side_by_side_keep_separate_state() -> None:
    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            value = self.context.get("config").value
            self.context.plugin_registry.register_service("value", value, provider_plugin=self.name)

    from pydantic import BaseModel

    class Config(BaseModel):
        value: str = "default"

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    factory = Factory(PluginManifest(name="twin", config_class=Config, provides=["value"]))
    ep = fake_entry_point("twin", factory)
    first_settings = Settings(
        plugins_disable_local_discovery=True, plugins={"twin": {"value": "first"}}
    )
    second_settings = Settings(
        plugins_disable_local_discovery=True, plugins={"twin": {"value": "second"}}
    )
    async with (
        started_app(first_settings, entry_points=[ep]) as first,
        started_app(second_settings, entry_points=[ep]) as second,
    ):
        assert get_plugin_host(first).registry.get_service("value") == "first"
        assert get_plugin_host(second).registry.get_service("value") == "second"


async def test_plugin_status_shape() -> None:
    manifest = PluginManifest(
        name="shape",
        version="2.3.4",
        description="Shows its shape",
        provides=["s"],
        optional_requires=["o"],
    )

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            self.context.plugin_registry.register_service("s", object(), provider_plugin=self.name)

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    async with started_app(
        entry_points=[fake_entry_point("shape", Factory(manifest), distribution="shape-dist")]
    ) as app:
        async with app_client(app) as client:
            body = (await client.get("/api/plugins/status")).json()
    assert body == {
        "initialization_order": ["shape"],
        "services": {"s": "shape"},
        "plugins": [
            {
                "name": "shape",
                "version": "2.3.4",
                "type": "system",
                "description": "Shows its shape",
                "provides": ["s"],
                "requires": [],
                "optional_requires": ["o"],
                "initialized": True,
                "status": "initialized",
                "error": None,
                "source": "entry_point",
                "distribution": "shape-dist",
            }
        ],
    }


async def test_provider_health_warns_until_its_credentials_service_runs() -> None:
    from ccproxy.plugins import ProviderPluginFactory
    from ccproxy.services import AccountInfo

    class Tokens:
        async def access_token(self) -> str:
            return "t"

        async def refresh(self, rejected: str | None) -> str:
            return "t"

        def account(self) -> AccountInfo:
            return AccountInfo(id="a")

    class AuthRuntime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            self.context.plugin_registry.register_service(
                "oauth.prov", Tokens(), provider_plugin=self.name
            )

    class AuthFactory(SystemPluginFactory):
        runtime_class = AuthRuntime

    provider_ep = fake_entry_point(
        "prov", ProviderPluginFactory(PluginManifest(name="prov", is_provider=True))
    )
    auth_ep = fake_entry_point(
        "oauth_prov", AuthFactory(PluginManifest(name="oauth_prov", provides=["oauth.prov"]))
    )
    async with started_app(entry_points=[provider_ep]) as app:
        async with app_client(app) as client:
            alone = (await client.get("/health")).json()["checks"]["plugin:prov"][0]
    async with started_app(entry_points=[provider_ep, auth_ep]) as app:
        async with app_client(app) as client:
            paired = (await client.get("/health")).json()["checks"]["plugin:prov"][0]
    assert alone["status"] == "warn"
    assert "oauth_prov" in alone["output"]
    assert paired["status"] == "pass"


async def test_plain_routes_are_served_from_the_app_and_the_shared_router_stays_whole() -> None:
    from fastapi import APIRouter
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from ccproxy.plugins import RouteSpec

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(await request.body())

    router = APIRouter()
    router.add_route("/echo", echo, methods=["POST"])

    @router.get("/api")
    async def api() -> dict[str, bool]:
        return {"api": True}

    factory = SystemPluginFactory(PluginManifest(name="plain", routes=[RouteSpec(router)]))
    entry = fake_entry_point("plain", factory)
    async with (
        started_app(entry_points=[entry]) as first,
        started_app(entry_points=[entry]) as second,
    ):
        for app in (first, second):
            # On the app's own route list: no lazily included wrappers per request.
            assert any(type(r) is Route and r.path == "/plain/echo" for r in app.router.routes)
            async with app_client(app) as client:
                body = await client.post("/plain/echo", json={"a": 1})
                assert body.text == '{"a":1}'
                assert (await client.get("/plain/api")).json() == {"api": True}
    assert [getattr(r, "path", None) for r in router.routes] == ["/echo", "/api"]


def private_health_plugin() -> Any:
    class Runtime(SystemPluginRuntime):
        async def health_check(self):  # type: ignore[override]
            return health_result(
                "warn",
                component_id=self.name,
                details={"credentials_file": "/home/someone/.codex/auth.json"},
                output="account acct-123 on plan pro",
            )

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    return fake_entry_point("private", Factory(PluginManifest(name="private")))


async def test_health_without_the_token_answers_only_the_status() -> None:
    settings = Settings(plugins_disable_local_discovery=True, security={"auth_token": "tok-health"})
    eps = [private_health_plugin()]
    async with started_app(settings, entry_points=eps) as app, app_client(app) as client:
        anonymous = await client.get("/health")
        wrong = await client.get("/health", headers={"authorization": "Bearer nope"})
        full = await client.get("/health", headers={"x-api-key": "tok-health"})
    assert anonymous.status_code == wrong.status_code == full.status_code == 200
    assert anonymous.json() == wrong.json() == {"status": "warn"}
    assert anonymous.headers["content-type"] == "application/health+json"
    assert "/home/someone" not in anonymous.text
    [check] = full.json()["checks"]["plugin:private"]
    assert check["details"] == {"credentials_file": "/home/someone/.codex/auth.json"}


async def test_health_without_a_configured_token_is_the_full_report() -> None:
    settings = Settings(plugins_disable_local_discovery=True)
    async with started_app(settings, entry_points=[private_health_plugin()]) as app:
        async with app_client(app) as client:
            body = (await client.get("/health")).json()
    assert body["checks"]["plugin:private"][0]["output"] == "account acct-123 on plan pro"
