"""The adapter's per-request extension points: ``edit_upstream_request`` (headers from the body,
tags for the record), ``upstream_base_url`` (a base URL per credential) and
``explain_upstream_error`` (a clearer message for an upstream error)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from provider_kit import ListTokenSource, Recorder, provider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ccproxy.app import get_plugin_host
from ccproxy.config import Settings
from ccproxy.plugins import AccountInfo
from ccproxy.proxy.pipeline import ProviderAdapter, UpstreamRequest
from ccproxy.proxy.profile import ProviderProfile
from ccproxy.testing import FakeAnthropic, Reply, app_client, started_app

SETTINGS = Settings(plugins_disable_local_discovery=True)
HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


class HostedTokenSource(ListTokenSource):
    """A credential that names the API host it must be used with."""

    def __init__(self, *tokens: str, api_base: str | None) -> None:
        super().__init__(*tokens)
        self.api_base = api_base

    def account(self) -> AccountInfo:
        return AccountInfo(id=self.account_id, source="test", api_base=self.api_base)


class EditingAdapter(ProviderAdapter):
    def edit_upstream_request(self, request: UpstreamRequest, *, converted: bool) -> None:
        last = request.body["messages"][-1]["content"]
        request.headers["x-last-words"] = str(last)[:20]
        request.tags["converted"] = str(converted).lower()

    def upstream_base_url(self, source: Any) -> str | None:
        base: str | None = source.account().api_base
        return base

    def explain_upstream_error(self, status_code: int, message: str, raw: bytes) -> str | None:
        if status_code == 403 and b"blocked_user" in raw:
            return "This account is blocked upstream."
        return None


async def test_request_edits_reach_the_upstream_and_tags_the_record() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.text("One"), Reply.text("Two"))
    source = HostedTokenSource("tok", api_base="http://account-host.test")
    ep = provider(token_source=source, adapter_class=EditingAdapter)
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        recorder = Recorder()
        get_plugin_host(app).hooks.register(recorder)
        async with app_client(app) as client:
            native = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
            converted = await client.post(
                "/testprov/v1/chat/completions",
                json={
                    "model": "claude-sonnet-4-6",
                    "messages": [{"role": "user", "content": "Yo"}],
                },
            )
    assert native.status_code == converted.status_code == 200
    first, second = fake.requests
    assert first.headers["host"] == "account-host.test"
    assert first.path == "/v1/messages"
    assert first.headers["x-last-words"] == "Hi"
    assert second.headers["x-last-words"].startswith("[{")  # the converted body's blocks
    assert [r.tags for r in recorder.records()] == [{"converted": "false"}, {"converted": "true"}]
    sent = [e.request for e in recorder.seen if e.kind.name == "PROVIDER_REQUEST_SENT"]
    assert sent[0].url == "http://account-host.test/v1/messages"  # type: ignore[attr-defined]


async def test_without_a_base_url_from_the_credential_the_endpoints_is_used() -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    fake.enqueue(Reply.text("One"))
    source = HostedTokenSource("tok", api_base=None)
    ep = provider(token_source=source, adapter_class=EditingAdapter)
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            response = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    assert response.status_code == 200
    assert fake.requests[0].headers["host"] == "upstream.test"


@pytest.mark.parametrize("explained", [True, False])
async def test_explained_upstream_errors_replace_the_relayed_body(explained: bool) -> None:
    fake = FakeAnthropic(accepted_tokens={"tok"})
    error_type = "blocked_user" if explained else "permission_error"
    fake.enqueue(Reply.error(403, error_type, message="Forbidden."))
    ep = provider(token_source=ListTokenSource("tok"), adapter_class=EditingAdapter)
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=fake)
    ) as app:
        async with app_client(app) as client:
            response = await client.post("/testprov/v1/messages", json=MESSAGE, headers=HEADERS)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "permission_error"
    assert error["message"] == ("This account is blocked upstream." if explained else "Forbidden.")


async def test_a_whole_responses_answer_relayed_as_is_is_remembered_for_chaining() -> None:
    """An upstream that answers Responses without streaming (GitHub Copilot's ``/responses``):
    the passthrough answer is stored, so ``previous_response_id`` expands into full input."""
    seen: list[dict[str, Any]] = []

    async def responses(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        turn = len(seen)
        return JSONResponse(
            {
                "id": f"resp_{turn}",
                "object": "response",
                "model": body["model"],
                "status": "completed",
                "output": [
                    {
                        "type": "message",
                        "id": f"msg_{turn}",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": f"answer {turn}"}],
                    }
                ],
                "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
            }
        )

    upstream = Starlette(routes=[Route("/responses", responses, methods=["POST"])])
    ep = provider(
        upstream_format="responses",
        profile=ProviderProfile(),
        token_source=ListTokenSource("tok"),
        native_prefix="gpt-",
    )
    async with started_app(
        SETTINGS, entry_points=[ep], http_transport=httpx.ASGITransport(app=upstream)
    ) as app:
        recorder = Recorder()
        get_plugin_host(app).hooks.register(recorder)
        async with app_client(app) as client:
            first = await client.post(
                "/testprov/v1/responses", json={"model": "gpt-5", "input": "Hi"}
            )
            second = await client.post(
                "/testprov/v1/responses",
                json={"model": "gpt-5", "input": "More", "previous_response_id": "resp_1"},
            )
    assert first.status_code == second.status_code == 200
    assert "previous_response_id" not in seen[1]
    assert [item.get("role") for item in seen[1]["input"]] == ["user", "assistant", "user"]
    assert recorder.records()[0].usage.output == 2
