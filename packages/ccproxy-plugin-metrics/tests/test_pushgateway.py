"""The optional Pushgateway task pushes this app's registry to a loopback fake."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccproxy.app import get_plugin_host
from ccproxy.testing import LiveServer, app_client, started_app
from ccproxy_plugin_metrics.collector import MetricsCollector
from ccproxy_plugin_metrics.pushgateway import PushgatewayError, push, push_url
from metrics_kit import metrics_plugin, settings, tiny_provider, wait_for


class FakePushgateway:
    """Records every push; answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.pushes: list[tuple[str, str, str, str]] = []
        self.app = Starlette(
            routes=[Route("/metrics/job/{job:path}", self.receive, methods=["PUT", "POST"])]
        )

    async def receive(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.pushes.append(
            (request.method, request.url.path, request.headers.get("content-type", ""), body)
        )
        return Response(status_code=self.status)


async def test_scheduled_push_reaches_the_pushgateway() -> None:
    gateway = FakePushgateway()
    async with LiveServer(gateway.app) as server:
        config = settings(pushgateway_url=server.url, pushgateway_interval_seconds=0.05)
        async with started_app(config, entry_points=[metrics_plugin(), tiny_provider()]) as app:
            async with app_client(app) as client:
                await client.post("/tiny/items/1?model=m")
            await wait_for(lambda: len(gateway.pushes) >= 2)
            tasks = get_plugin_host(app).scheduler.tasks()
    method, path, content_type, body = gateway.pushes[-1]
    assert (method, path) == ("PUT", "/metrics/job/ccproxy")
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    [requests] = families["ccproxy_requests"].samples
    assert requests.value == 1 and requests.labels["provider"] == "tiny"
    assert [(t.plugin, t.spec.name) for t in tasks] == [("metrics", "pushgateway")]


async def test_no_push_task_without_a_url() -> None:
    async with started_app(settings(), entry_points=[metrics_plugin()]) as app:
        assert get_plugin_host(app).scheduler.tasks() == []


async def test_push_encodes_the_job_and_raises_on_an_error_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if "broken" in request.url.path else 202, text="nope")

    registry = CollectorRegistry()
    registry.register(MetricsCollector(core_version="1.2.3"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await push(client, registry, base_url="http://gw.test:9091/", job="my job/1")
        with pytest.raises(PushgatewayError, match="answered 500"):
            await push(client, registry, base_url="http://gw.test:9091", job="broken")
    assert seen[0].method == "PUT"
    assert str(seen[0].url) == "http://gw.test:9091/metrics/job/my%20job%2F1"
    assert b'ccproxy_build_info{version="1.2.3"} 1.0' in seen[0].content
    assert push_url("http://x/", "ccproxy") == "http://x/metrics/job/ccproxy"
