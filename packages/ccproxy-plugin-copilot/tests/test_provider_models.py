"""Model ids: SDK and Claude Code spellings to the catalogue's dotted ids, the newest of a
family, aliases, the client's name in every answer, routing by ``supported_endpoints`` and
``GET /v1/models``."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from ccproxy.plugins.provider import UnknownModelError
from ccproxy.testing import FakeCopilot, LiveServer, Reply
from ccproxy_plugin_copilot.models import (
    Catalogue,
    CatalogueModel,
    CopilotModelAliases,
    choose_format,
    sdk_spellings,
)
from copilot_kit import anthropic_sdk, copilot_app, model_calls, openai_sdk, served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def catalogue(*entries: tuple[str, list[str] | None]) -> Catalogue:
    found = Catalogue()
    found.replace({"data": [{"id": i, "supported_endpoints": e} for i, e in entries]}, now=0.0)
    return found


CATALOGUE = catalogue(
    ("claude-sonnet-4.5", ["/chat/completions", "/v1/messages"]),
    ("claude-opus-4.5", ["/chat/completions", "/v1/messages"]),
    ("claude-opus-4.6", ["/chat/completions", "/v1/messages"]),
    ("claude-3.7-sonnet-thought", None),
    ("gpt-5.1-codex", ["/responses"]),
    ("gpt-5", ["/chat/completions", "/responses"]),
    ("gpt-4o", None),
)


class TestMapping:
    @pytest.mark.parametrize(
        ("client", "upstream"),
        [
            ("claude-sonnet-4.5", "claude-sonnet-4.5"),
            ("claude-sonnet-4-5", "claude-sonnet-4.5"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
            ("claude-sonnet-4-5[1m]", "claude-sonnet-4.5"),
            ("claude-opus-4-5", "claude-opus-4.5"),
            ("claude-opus-4-8[1m]", "claude-opus-4.6"),  # newest Opus when 4.8 is missing
            ("claude-opus-4-1-20250805", "claude-opus-4.6"),
            ("claude-3-7-sonnet-thought", "claude-3.7-sonnet-thought"),
            ("GPT-4o", "gpt-4o"),
            ("gpt-5.1-codex", "gpt-5.1-codex"),
        ],
    )
    def test_client_ids_find_their_catalogue_id(self, client: str, upstream: str) -> None:
        assert CopilotModelAliases({}, CATALOGUE).resolve(client).upstream_model == upstream

    def test_no_family_match_names_the_available_models(self) -> None:
        with pytest.raises(UnknownModelError) as caught:
            CopilotModelAliases({}, CATALOGUE).resolve("claude-haiku-4-5")
        assert "claude-sonnet-4.5, gpt-4o" in str(caught.value).replace(
            "gpt-5, gpt-5.1-codex, ", ""
        )
        assert "plugins.copilot.model_aliases" in str(caught.value)

    def test_default_model_takes_unknown_names(self) -> None:
        aliases = CopilotModelAliases({}, CATALOGUE, default_model="gpt-5")
        assert aliases.resolve("llama-4").upstream_model == "gpt-5"

    def test_aliases_come_first_and_their_targets_are_spelled_like_client_ids(self) -> None:
        aliases = CopilotModelAliases(
            {"big": "claude-opus-4-5", "claude-haiku*": "gpt-5", "gpt-5": "gpt-5.1-codex"},
            CATALOGUE,
        )
        assert aliases.resolve("big").upstream_model == "claude-opus-4.5"
        assert aliases.resolve("claude-haiku-4-5-20251001").upstream_model == "gpt-5"
        assert aliases.resolve("gpt-5").upstream_model == "gpt-5.1-codex"
        assert "big" in aliases.listed_models()

    def test_before_the_catalogue_is_known_names_pass_in_their_dotted_spelling(self) -> None:
        aliases = CopilotModelAliases({}, Catalogue())
        assert (
            aliases.resolve("claude-sonnet-4-5-20250929[1m]").upstream_model == "claude-sonnet-4.5"
        )
        assert aliases.resolve("gpt-4o-2024-11-20").upstream_model == "gpt-4o-2024-11-20"

    def test_spellings_keep_the_original_first(self) -> None:
        assert sdk_spellings("claude-opus-4-8[1m]") == [
            "claude-opus-4-8[1m]",
            "claude-opus-4-8",
            "claude-opus-4.8",
        ]


class TestChooseFormat:
    def entry(self, model_id: str) -> CatalogueModel | None:
        return CATALOGUE.get(model_id)

    @pytest.mark.parametrize(
        ("client", "model", "upstream"),
        [
            ("chat", "claude-sonnet-4.5", "chat"),
            ("anthropic", "claude-sonnet-4.5", "anthropic"),
            ("responses", "claude-sonnet-4.5", "anthropic"),
            ("chat", "gpt-5.1-codex", "responses"),
            ("anthropic", "gpt-5.1-codex", "responses"),
            ("anthropic", "gpt-5", "responses"),
            ("anthropic", "gpt-4o", "chat"),  # no supported_endpoints: Chat
            ("responses", "gpt-4o", "chat"),
        ],
    )
    def test_the_clients_format_when_served_else_the_richest(
        self, client: str, model: str, upstream: str
    ) -> None:
        assert choose_format(client, self.entry(model), model) == upstream  # type: ignore[arg-type]

    def test_unknown_models_go_to_chat_except_codex_ones(self) -> None:
        assert choose_format("anthropic", None, "gpt-9") == "chat"
        assert choose_format("chat", None, "gpt-9-codex") == "responses"

    def test_embeddings_are_not_chat_models(self) -> None:
        found = Catalogue()
        found.replace(
            {"data": [{"id": "text-embedding-3", "capabilities": {"type": "embeddings"}}]}, now=0
        )
        assert found.ids() == []

    @pytest.mark.parametrize("limit", [True, False, 0, -5, 2.5, "16000", None])
    def test_only_a_positive_integer_is_an_output_token_limit(self, limit: object) -> None:
        raw = {"id": "m", "capabilities": {"type": "chat", "limits": {"max_output_tokens": limit}}}
        entry = CatalogueModel.parse(raw)
        assert entry is not None and entry.max_output_tokens is None
        raw["capabilities"]["limits"]["max_output_tokens"] = 16000  # type: ignore[index]
        assert CatalogueModel.parse(raw).max_output_tokens == 16000  # type: ignore[union-attr]


async def test_sdk_ids_are_mapped_and_restored_in_every_answer() -> None:
    fake = FakeCopilot()
    fake.enqueue(*(Reply.text(f"answer {n}") for n in range(4)))
    async with copilot_app(fake) as app:
        claude = anthropic_sdk(app)
        chat = openai_sdk(app)
        whole = await claude.messages.create(
            model="claude-sonnet-4-5-20250929",
            max_tokens=32,
            messages=[{"role": "user", "content": "Hi"}],
        )
        async with claude.messages.stream(
            model="claude-haiku-4-5[1m]",
            max_tokens=32,
            messages=[{"role": "user", "content": "Hi"}],
        ) as stream:
            streamed = await stream.get_final_message()
        completion = await chat.chat.completions.create(
            model="claude-opus-4-8", messages=[{"role": "user", "content": "Hi"}]
        )
        chunks = [
            c
            async for c in await chat.chat.completions.create(
                model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        ]
    assert whole.model == "claude-sonnet-4-5-20250929"
    assert streamed.model == "claude-haiku-4-5[1m]"
    assert completion.model == "claude-opus-4-8"
    assert {c.model for c in chunks} == {"claude-sonnet-4-5"}
    assert served(fake) == [
        ("/v1/messages", "claude-sonnet-4.5"),
        ("/v1/messages", "claude-haiku-4.5"),
        ("/chat/completions", "claude-opus-4.1"),
        ("/chat/completions", "claude-sonnet-4.5"),
    ]


async def test_configured_aliases_apply() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("from codex"))
    async with copilot_app(
        fake, copilot={"model_aliases": {"claude-haiku*": "gpt-5.1-codex"}}
    ) as app:
        message = await anthropic_sdk(app).messages.create(
            model="claude-haiku-4-5-20251001",
            max_tokens=32,
            messages=[{"role": "user", "content": "Hi"}],
        )
    assert message.model == "claude-haiku-4-5-20251001"
    assert message.content[0].text == "from codex"  # type: ignore[union-attr]
    assert served(fake) == [("/responses", "gpt-5.1-codex")]


async def test_unknown_models_are_a_400_naming_the_available_ones_without_a_model_call() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake) as app:
        with pytest.raises(openai.APIStatusError) as caught:
            await openai_sdk(app).chat.completions.create(
                model="llama-4", messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == 400
    assert "claude-sonnet-4.5" in str(caught.value) and "gpt-5.1-codex" in str(caught.value)
    assert model_calls(fake) == []


async def test_the_catalogue_is_fetched_once_and_again_on_a_miss() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("one"), Reply.text("two"), Reply.text("three"))
    async with copilot_app(fake, copilot={"models_miss_refresh_seconds": 0}) as app:
        client = openai_sdk(app)
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "a"}]
        )
        await client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "b"}]
        )
        fake.models.append({**fake.models[0], "id": "claude-sonnet-4.6"})  # a new model ships
        await client.chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "c"}]
        )
    lists = [r for r in fake.requests if r.path == "/models"]
    assert len(lists) == 2
    assert lists[0].headers["authorization"].startswith("Bearer ")
    assert served(fake)[-1] == ("/chat/completions", "claude-sonnet-4.6")


class HangingModels(FakeCopilot):
    """FakeCopilot whose ``GET /models`` hangs (until ``released``) while ``hang`` is set."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hang = False
        self.hung = 0
        self.arrived = asyncio.Event()  # a GET /models is hanging
        self.released = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.hang and scope.get("type") == "http" and scope.get("path") == "/models":
            self.hung += 1
            self.arrived.set()
            await self.released.wait()
        await super().__call__(scope, receive, send)


async def test_a_stale_catalogue_is_served_while_one_fetch_replaces_it() -> None:
    fake = HangingModels()
    fake.enqueue(*[Reply.text(text) for text in ("one", "two", "three", "four")])
    settings = {"models_ttl_seconds": 0.01, "models_miss_refresh_seconds": 0}
    async with copilot_app(fake, copilot=settings) as app:
        client = openai_sdk(app)
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "a"}]
        )
        fake.hang = True
        await asyncio.sleep(0.05)  # the catalogue is older than its TTL now
        async with asyncio.timeout(5):  # not held up by the hanging GET /models
            for text in "bc":
                await client.chat.completions.create(
                    model="gpt-4.1", messages=[{"role": "user", "content": text}]
                )
            await fake.arrived.wait()  # the background fetch reaches the fake
            await client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "d"}]
            )
        assert fake.hung == 1  # one refresh at a time
        fake.released.set()
    assert [model for _path, model in served(fake)] == ["gpt-4.1"] * 4


async def test_without_a_catalogue_a_hanging_fetch_holds_requests_up_only_until_its_timeout() -> (
    None
):
    fake = HangingModels()
    fake.hang = True
    fake.enqueue(Reply.text("one"))
    async with copilot_app(fake, copilot={"models_timeout_seconds": 0.2}) as app:
        async with asyncio.timeout(5):
            await openai_sdk(app).chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "a"}]
            )
        fake.released.set()
    assert fake.hung == 1
    assert served(fake) == [("/chat/completions", "gpt-4.1")]


async def test_a_disabled_model_is_not_matched_nor_refetched_on_every_request() -> None:
    fake = FakeCopilot()
    disabled = fake.model("gpt-4.1")
    assert disabled is not None
    disabled["policy"] = {"state": "disabled"}
    async with copilot_app(fake) as app:  # models_miss_refresh_seconds: 60
        client = openai_sdk(app)
        for text in "abc":
            with pytest.raises(openai.BadRequestError):
                await client.chat.completions.create(
                    model="gpt-4.1", messages=[{"role": "user", "content": text}]
                )
    assert len([r for r in fake.requests if r.path == "/models"]) == 1
    assert model_calls(fake) == []


def test_a_disabled_model_does_not_match_its_id() -> None:
    found = Catalogue()
    found.replace(
        {
            "data": [
                {"id": "claude-sonnet-4.5", "policy": {"state": "disabled"}},
                {"id": "claude-sonnet-4", "policy": {"state": "enabled"}},
            ]
        },
        now=0.0,
    )
    assert found.find("claude-sonnet-4.5", family=False) is None
    assert found.find("claude-sonnet-4-5") == "claude-sonnet-4"  # the newest enabled one


async def test_the_first_catalogue_fetch_goes_to_the_minted_api_base() -> None:
    # Before any token is minted the credential names no API base: the fetch must mint first
    # rather than fall back to the public default host.
    fake = FakeCopilot()
    async with copilot_app(fake) as app:
        listed = await openai_sdk(app).models.list()
    assert "gpt-5" in [m.id for m in listed.data]
    [models] = [r for r in fake.requests if r.path == "/models"]
    assert models.headers["host"] == "copilot.test"


async def test_models_are_listed_in_the_clients_dialect() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake, copilot={"model_aliases": {"fast": "gpt-5-mini"}}) as app:
        openai_list = await openai_sdk(app).models.list()
        anthropic_list = await anthropic_sdk(app).models.list()
    ids = [m.id for m in openai_list.data]
    assert {"claude-sonnet-4.5", "gpt-5.1-codex", "fast"} <= set(ids)
    owners = {m.id: m.owned_by for m in openai_list.data}
    assert owners["claude-sonnet-4.5"] == "Anthropic"
    names = {m.id: m.display_name for m in anthropic_list.data}
    assert names["claude-sonnet-4.5"] == "Claude Sonnet 4.5"


async def test_models_over_a_real_server() -> None:
    fake = FakeCopilot()
    async with copilot_app(fake) as app, LiveServer(app) as server:
        listed = await openai_sdk(base=server.url).models.list()
    assert "gpt-5" in [m.id for m in listed.data]
