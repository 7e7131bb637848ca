"""count_tokens (passthrough to the upstream's own endpoint), /v1/models and the root routes."""

from __future__ import annotations

from claude_kit import (
    IDENTITY,
    OAUTH_BETA,
    ClaudeWorld,
    anthropic_sdk,
    http_client,
    openai_sdk,
    recorder,
)

NATIVE = {"claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5"}


async def test_count_tokens_is_a_passthrough_with_the_profile(world: ClaudeWorld) -> None:
    async with world.app() as app:
        hook = recorder(app)
        client = anthropic_sdk(app)
        counted = await client.messages.count_tokens(
            model="sonnet", messages=[{"role": "user", "content": "How many tokens is this?"}]
        )
        plain = world.fake.last_request
        raw = await client.post(
            "/v1/messages/count_tokens?beta=true",
            body={"model": "claude-opus-4-8", "messages": [{"role": "user", "content": "Hi"}]},
            cast_to=object,
            options={"headers": {"anthropic-beta": "token-counting-2024-11-01"}},
        )
    assert counted.input_tokens > 0
    assert isinstance(raw, dict)
    assert raw["input_tokens"] > 0
    assert plain.path == "/v1/messages/count_tokens"
    assert plain.json["model"] == "claude-sonnet-4-6"
    assert plain.json["system"][0]["text"] == IDENTITY
    assert plain.headers["authorization"] == f"Bearer {world.access_token}"
    assert plain.headers["anthropic-beta"] == OAUTH_BETA
    beta = world.fake.last_request
    assert beta.path == "/v1/messages/count_tokens"
    assert beta.query == {"beta": "true"}
    assert beta.headers["anthropic-beta"] == f"token-counting-2024-11-01,{OAUTH_BETA}"
    assert [r.route for r in hook.records] == ["/claude/v1/messages/count_tokens"] * 2
    assert not world.fake.requests_to("/v1/messages")  # nothing went to the Messages endpoint


async def test_models_lists_aliases_and_native_models_in_both_dialects(world: ClaudeWorld) -> None:
    async with world.app() as app:
        openai_ids = {model.id async for model in openai_sdk(app).models.list()}
        anthropic_page = await anthropic_sdk(app).models.list()
    expected = NATIVE | {"opus", "sonnet", "haiku"}
    assert openai_ids == expected
    assert {model.id for model in anthropic_page.data} == expected
    assert all(model.type == "model" for model in anthropic_page.data)


async def test_models_follow_configuration(world: ClaudeWorld) -> None:
    world.claude = {
        "default_model": "claude-opus-4-8",
        "model_aliases": {"fast": "claude-haiku-4-5", "haiku": ""},
    }
    async with world.app() as app:
        ids = {model.id async for model in openai_sdk(app).models.list()}
        await openai_sdk(app).chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
        )
        gpt_target = world.fake.last_request.json["model"]
        await openai_sdk(app).chat.completions.create(
            model="haiku", messages=[{"role": "user", "content": "Hi"}]
        )
        haiku_target = world.fake.last_request.json["model"]
    assert ids == NATIVE | {"opus", "sonnet", "fast"}
    assert gpt_target == "claude-opus-4-8"  # GPT-style prefixes follow default_model
    assert haiku_target == "claude-opus-4-8"  # the removed alias is just another unknown name


async def test_root_answers_head_and_get(world: ClaudeWorld) -> None:
    async with world.app() as app, http_client(app) as client:
        head = await client.head("/claude/")
        get = await client.get("/claude/")
    assert head.status_code == 200
    assert get.json() == {"provider": "claude", "status": "ok"}
