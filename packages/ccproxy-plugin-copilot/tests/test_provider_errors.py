"""Copilot's errors in the client's dialect (402 quota, 403 spammy_user, 400 model_not_supported,
401 re-mint), ``previous_response_id`` expanded into the whole history, and count_tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from ccproxy.testing import FakeCopilot, Reply, app_client
from copilot_kit import Holder, anthropic_sdk, copilot_app, model_calls, openai_sdk, served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ANTHROPIC = {"anthropic-version": "2023-06-01"}
CALLS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "anthropic": (
        "/copilot/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        ANTHROPIC,
    ),
    "chat": (
        "/copilot/v1/chat/completions",
        {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]},
        {},
    ),
    "responses": ("/copilot/v1/responses", {"model": "gpt-5.1-codex", "input": "Hi"}, {}),
    # converted: a Chat client on a Responses-only model, a Responses client on Claude
    "chat→responses": (
        "/copilot/v1/chat/completions",
        {"model": "gpt-5.1-codex", "messages": [{"role": "user", "content": "Hi"}]},
        {},
    ),
    "anthropic→chat": (
        "/copilot/v1/messages",
        {
            "model": "gemini-2.5-pro",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        ANTHROPIC,
    ),
}


def message_of(payload: dict[str, Any], dialect: str) -> str:
    if dialect.startswith("anthropic"):
        assert payload["type"] == "error"
        assert set(payload["error"]) == {"type", "message"}
    else:  # the proxy's own shape, or the upstream's OpenAI error relayed as it is
        assert set(payload["error"]) >= {"message", "code"}
    return str(payload["error"]["message"])


async def call(fake: FakeCopilot, case: str, holder: Holder | None = None) -> Any:
    path, body, headers = CALLS[case]
    async with copilot_app(fake, holder=holder) as app, app_client(app) as client:
        return await client.post(path, json=body, headers=headers)


@pytest.mark.parametrize("case", list(CALLS))
async def test_quota_exceeded_stays_402_with_the_upstream_message_and_no_retry(case: str) -> None:
    fake = FakeCopilot()
    fake.quota_exceeded = True
    response = await call(fake, case)
    assert response.status_code == 402
    assert message_of(response.json(), case) == "You have no quota"
    if case.startswith("anthropic"):
        assert response.json()["error"]["type"] == "billing_error"
    else:
        error = response.json()["error"]
        assert "quota_exceeded" in (error.get("code"), error.get("type"))
    assert len(model_calls(fake)) == 1


@pytest.mark.parametrize("case", list(CALLS))
async def test_spammy_user_is_explained_plainly(case: str) -> None:
    fake = FakeCopilot()
    fake.spammy = True
    response = await call(fake, case)
    assert response.status_code == 403
    message = message_of(response.json(), case)
    assert "GitHub has blocked this account's Copilot access" in message
    assert "abuse detection" in message
    if case.startswith("anthropic"):
        assert response.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize("case", ["anthropic", "chat", "responses"])
async def test_model_not_supported_names_the_available_models(case: str) -> None:
    fake = FakeCopilot()
    model = CALLS[case][1]["model"]
    fake.enqueue(
        Reply.error(400, "model_not_supported", message="The requested model is not supported.")
    )
    response = await call(fake, case)
    assert response.status_code == 400
    message = message_of(response.json(), case)
    assert "model_not_supported" in message
    assert "Available models: claude-haiku-4.5, claude-opus-4.1, claude-sonnet-4.5" in message
    assert served(fake) == [] and len(model_calls(fake)) == 1, model


def catalogue_fetches(fake: FakeCopilot) -> int:
    return len([r for r in fake.requests if r.path == "/models"])


async def test_model_not_supported_refetches_the_catalogue() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.error(400, "model_not_supported"), Reply.text("ok"))
    async with copilot_app(fake, copilot={"models_miss_refresh_seconds": 0}) as app:
        client = openai_sdk(app)
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "a"}]
            )
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "b"}]
        )
        for _ in range(200):  # the catalogue known is served while it is fetched again
            if catalogue_fetches(fake) == 2:
                break
            await asyncio.sleep(0.01)
    assert catalogue_fetches(fake) == 2


async def test_model_not_supported_refetches_at_most_once_per_interval() -> None:
    fake = FakeCopilot()
    fake.enqueue(*[Reply.error(400, "model_not_supported") for _ in range(3)])
    async with copilot_app(fake) as app:  # models_miss_refresh_seconds: 60
        client = openai_sdk(app)
        for text in "abc":
            with pytest.raises(openai.APIStatusError):
                await client.chat.completions.create(
                    model="gpt-4.1", messages=[{"role": "user", "content": text}]
                )
    assert catalogue_fetches(fake) == 1
    assert len(model_calls(fake)) == 3


@pytest.mark.parametrize("case", ["anthropic", "chat", "responses", "chat→responses"])
async def test_expired_copilot_token_is_reminted_and_the_request_retried_once(case: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("fine"))
    path, body, headers = CALLS[case]
    holder = Holder()
    async with copilot_app(fake, holder=holder) as app, app_client(app) as client:
        warm = await client.get("/copilot/v1/models")  # mints the first token
        fake.expire_copilot_tokens()
        response = await client.post(path, json=body, headers=headers)
    assert warm.status_code == 200
    assert response.status_code == 200
    assert holder.source is not None and len(holder.source.refreshes) == 1
    assert fake.mint_count == 2
    statuses = [r.status for r in model_calls(fake)]
    assert statuses == [401, 200]


async def test_a_revoked_login_ends_in_401_in_the_clients_dialect() -> None:
    fake = FakeCopilot()
    holder = Holder()
    async with copilot_app(fake, holder=holder) as app, app_client(app) as client:
        await client.get("/copilot/v1/models")
        assert holder.source is not None
        fake.revoke_github_token(holder.source.github_token)
        fake.expire_copilot_tokens()
        path, body, headers = CALLS["anthropic"]
        response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_keep_their_status(status: int) -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.error(status, retry_after=3 if status == 429 else None))
    response = await call(fake, "anthropic")
    assert response.status_code == status
    assert response.json()["type"] == "error"
    if status == 429:
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.headers["retry-after"] == "3"


@pytest.mark.parametrize("model", ["gpt-5.1-codex", "claude-sonnet-4-5"])
async def test_previous_response_id_is_expanded_into_the_whole_history(model: str) -> None:
    fake = FakeCopilot()
    fake.enqueue(
        Reply.reasoning("Think first.", then=Reply.text("Paris.")),
        Reply.text("About 2 million."),
    )
    async with copilot_app(fake) as app:
        client = openai_sdk(app)
        first = await client.responses.create(model=model, input="Capital of France?")
        second = await client.responses.create(
            model=model, previous_response_id=first.id, input="Its population?"
        )
    assert second.output_text == "About 2 million."
    calls = model_calls(fake)
    assert all("previous_response_id" not in c.json for c in calls)
    if model == "gpt-5.1-codex":  # passthrough: the stored items go back, reasoning included
        assert calls[0].json["store"] is False
        assert "reasoning.encrypted_content" in calls[0].json["include"]
        items = calls[1].json["input"]
        kinds = [i.get("type") or i.get("role") for i in items]
        assert kinds[0] in ("message", "user")
        reasoning = [i for i in items if i.get("type") == "reasoning"]
        assert reasoning and reasoning[0]["encrypted_content"].startswith("enc-")
        assert items[-1]["content"][0]["text"] == "Its population?"
    else:  # converted to Messages: the history as turns, the signed thinking kept
        messages = calls[1].json["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        thinking = [b for b in messages[1]["content"] if b["type"] == "thinking"]
        assert thinking and thinking[0]["signature"].startswith("sig-")


async def test_unknown_previous_response_id_is_a_400() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake) as app:
        with pytest.raises(openai.APIStatusError) as caught:
            await openai_sdk(app).responses.create(
                model="gpt-5.1-codex", previous_response_id="resp_nope", input="Hi"
            )
    assert caught.value.status_code == 400
    assert model_calls(fake) == []


async def test_count_tokens_is_an_estimate_with_no_upstream_call() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake) as app:
        counted = await anthropic_sdk(app).messages.count_tokens(
            model="claude-sonnet-4-5",
            system="Be brief.",
            messages=[{"role": "user", "content": "Hello there, how are you today?"}],
        )
        async with app_client(app) as client:
            raw = await client.post(
                "/copilot/v1/messages/count_tokens?beta=true",
                headers=ANTHROPIC,
                json={
                    "model": "claude-sonnet-4-5",
                    "messages": [{"role": "user", "content": "x" * 400}],
                },
            )
            bad = await client.post(
                "/copilot/v1/messages/count_tokens",
                headers={**ANTHROPIC, "content-type": "application/json"},
                content=b"[]",
            )
    assert 10 < counted.input_tokens < 40
    assert raw.headers["x-ccproxy-token-estimate"] == "true"
    assert raw.json()["input_tokens"] > 100
    assert bad.status_code == 400 and bad.json()["type"] == "error"
    assert fake.requests == []
