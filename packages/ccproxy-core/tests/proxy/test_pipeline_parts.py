"""The pipeline's building blocks: aliases, header policy, profile edits, passthrough relays,
conversation keys and the previous_response_id store."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy.llm.ir import Message, Request, Text
from ccproxy.proxy.aliases import ModelAliases, UnknownModelError
from ccproxy.proxy.conversation import conversation_key
from ccproxy.proxy.headers import (
    client_to_upstream_headers,
    merge_beta_header,
    rate_limit_headers,
    upstream_to_client_headers,
)
from ccproxy.proxy.passthrough import ModelRewriter, StreamObserver
from ccproxy.proxy.profile import ProviderProfile, apply_body_profile, apply_header_profile
from ccproxy.proxy.response_store import ResponseStore

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."


def claude_aliases(default: str | None = None) -> ModelAliases:
    return ModelAliases(
        {
            "sonnet": "claude-sonnet-4-6",
            "gpt-*": "claude-sonnet-4-6",
            "gpt-4o-mini*": "claude-haiku-4-5",
            "o*": "claude-opus-4-6",
        },
        provider="claude",
        is_native=lambda m: m.startswith("claude-"),
        default_model=default,
    )


class TestAliases:
    def test_exact_beats_prefix_and_longest_prefix_wins(self) -> None:
        aliases = claude_aliases()
        assert aliases.resolve("sonnet").upstream_model == "claude-sonnet-4-6"
        assert aliases.resolve("gpt-4o").upstream_model == "claude-sonnet-4-6"
        assert aliases.resolve("gpt-4o-mini-2024").upstream_model == "claude-haiku-4-5"
        assert aliases.resolve("o3").rule == "o*"

    def test_native_names_pass_through_unaliased(self) -> None:
        resolution = claude_aliases().resolve("claude-opus-4-6")
        assert resolution.upstream_model == "claude-opus-4-6"
        assert resolution.aliased is False

    def test_foreign_names_use_default_model_or_fail_naming_the_setting(self) -> None:
        assert (
            claude_aliases("claude-sonnet-4-6").resolve("mistral-large").upstream_model
            == "claude-sonnet-4-6"
        )
        with pytest.raises(UnknownModelError, match=r"plugins\.claude\.default_model"):
            claude_aliases().resolve("mistral-large")

    def test_listed_models(self) -> None:
        assert "sonnet" in claude_aliases().listed_models()
        assert "claude-opus-4-6" in claude_aliases().listed_models()


class TestHeaders:
    def test_client_credentials_and_transport_headers_never_reach_upstream(self) -> None:
        out = client_to_upstream_headers(
            [
                ("Authorization", "Bearer client-token"),
                ("x-api-key", "k"),
                ("Cookie", "a=b"),
                ("Host", "127.0.0.1:8000"),
                ("Content-Length", "12"),
                ("Accept-Encoding", "gzip"),
                ("X-Forwarded-For", "1.2.3.4"),
                ("Connection", "keep-alive"),
                ("anthropic-beta", "claude-code-20250219"),
                ("x-claude-code-session-id", "s1"),
                ("session-id", "codex-session"),
            ]
        )
        assert out == {
            "anthropic-beta": "claude-code-20250219",
            "x-claude-code-session-id": "s1",
            "session-id": "codex-session",
            "accept-encoding": "identity",
        }

    def test_upstream_headers_to_client(self) -> None:
        out = upstream_to_client_headers(
            [
                ("content-length", "10"),
                ("content-encoding", "gzip"),
                ("set-cookie", "x"),
                ("transfer-encoding", "chunked"),
                ("retry-after", "3"),
                ("request-id", "req_1"),
                ("anthropic-ratelimit-unified-status", "allowed"),
            ]
        )
        assert out == {
            "retry-after": "3",
            "request-id": "req_1",
            "anthropic-ratelimit-unified-status": "allowed",
        }

    def test_rate_limit_headers_are_allow_listed(self) -> None:
        headers = {
            "anthropic-ratelimit-unified-5h-utilization": "0.4",
            "x-codex-primary-used-percent": "12",
            "server": "x",
        }
        assert rate_limit_headers(headers) == {
            "anthropic-ratelimit-unified-5h-utilization": "0.4",
            "x-codex-primary-used-percent": "12",
        }

    def test_beta_tags_are_merged_without_duplicates(self) -> None:
        assert merge_beta_header("a, b,a", ["oauth-2025-04-20", "b"]) == "a,b,oauth-2025-04-20"
        assert merge_beta_header(None, ["oauth-2025-04-20"]) == "oauth-2025-04-20"
        assert merge_beta_header(None, []) is None


CLAUDE_PROFILE = ProviderProfile(
    headers={"anthropic-version": "2023-06-01"},
    required_betas=["oauth-2025-04-20"],
    identity_system_prompt=IDENTITY,
    drop_null_params=["temperature"],
    max_cache_control_blocks=4,
    add_cache_breakpoints=True,
)


class TestProfile:
    def test_headers(self) -> None:
        headers = {"anthropic-beta": "claude-code-20250219"}
        profile = ProviderProfile(
            headers={"anthropic-version": "2023-06-01"},
            required_betas=["oauth-2025-04-20"],
            originator="codex_cli_rs",
            session_header="session_id",
        )
        apply_header_profile(profile, headers, conversation_key="conv-1")
        assert headers == {
            "anthropic-beta": "claude-code-20250219,oauth-2025-04-20",
            "anthropic-version": "2023-06-01",
            "originator": "codex_cli_rs",
            "session_id": "conv-1",
        }

    @pytest.mark.parametrize(
        ("system", "expected"),
        [
            (None, [{"type": "text", "text": IDENTITY}]),
            (
                "Be brief.",
                [{"type": "text", "text": IDENTITY}, {"type": "text", "text": "Be brief."}],
            ),
            (IDENTITY + " More.", IDENTITY + " More."),
            (
                [
                    {"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                    {"type": "text", "text": IDENTITY},
                ],
                [
                    {"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                    {"type": "text", "text": IDENTITY},
                ],
            ),
            (
                [
                    {"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                    {"type": "text", "text": "Other"},
                ],
                [
                    {"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                    {"type": "text", "text": IDENTITY},
                    {"type": "text", "text": "Other"},
                ],
            ),
        ],
    )
    def test_identity_prompt_prepended_only_when_absent(
        self, system: object, expected: object
    ) -> None:
        body = {"model": "m", "messages": []}
        if system is not None:
            body["system"] = system
        out = apply_body_profile(CLAUDE_PROFILE, body, upstream_format="anthropic", converted=False)
        assert out["system"] == expected
        again = apply_body_profile(
            CLAUDE_PROFILE, out, upstream_format="anthropic", converted=False
        )
        assert again["system"] == expected

    def test_params_dropped_forced_and_nulls_removed(self) -> None:
        profile = ProviderProfile(
            drop_params=["max_output_tokens", "metadata"],
            drop_null_params=["temperature"],
            force_params={"stream": True, "store": False},
        )
        body = {
            "model": "m",
            "max_output_tokens": 10,
            "metadata": {},
            "temperature": None,
            "top_p": None,
        }
        out = apply_body_profile(profile, body, upstream_format="responses", converted=True)
        assert out == {"model": "m", "top_p": None, "stream": True, "store": False}
        assert body["max_output_tokens"] == 10  # the input is not edited

    def test_cache_control_capped_keeping_system_tools_and_latest_messages(self) -> None:
        marker = {"type": "ephemeral"}
        body = {
            "model": "m",
            "system": [{"type": "text", "text": IDENTITY, "cache_control": marker}],
            "tools": [{"name": "t", "input_schema": {}, "cache_control": marker}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": f"m{i}", "cache_control": marker}],
                }
                for i in range(4)
            ],
        }
        out = apply_body_profile(CLAUDE_PROFILE, body, upstream_format="anthropic", converted=False)
        marked = [
            m["content"][0]["text"] for m in out["messages"] if "cache_control" in m["content"][0]
        ]
        assert marked == ["m2", "m3"]
        assert "cache_control" in out["system"][0]
        assert "cache_control" in out["tools"][0]
        assert all("cache_control" in m["content"][0] for m in body["messages"])  # input untouched

    def test_breakpoints_added_to_converted_requests_without_any(self) -> None:
        body = {
            "model": "m",
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "second"}]},
            ],
        }
        out = apply_body_profile(CLAUDE_PROFILE, body, upstream_format="anthropic", converted=True)
        assert out["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert out["messages"][2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert out["messages"][0]["content"] == "first"
        native = apply_body_profile(
            CLAUDE_PROFILE, body, upstream_format="anthropic", converted=False
        )
        assert native["messages"][2]["content"][-1].get("cache_control") is None


ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-6","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":5,'
    b'"cache_creation_input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi \\"model\\""}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


class TestPassthrough:
    @given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
    def test_observer_reads_usage_whatever_the_chunking(self, cuts: list[int]) -> None:
        observer = StreamObserver("anthropic")
        for chunk in split_at(ANTHROPIC_STREAM, cuts):
            observer.feed(chunk)
        observer.close()
        assert observer.completed
        assert (observer.usage.input, observer.usage.output) == (10, 7)
        assert (observer.usage.cache_read, observer.usage.cache_write_5m) == (5, 3)

    @given(
        st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
        st.sampled_from([b"\r\n", b"\r"]),
        st.booleans(),
    )
    def test_observer_reads_usage_whatever_the_line_endings(
        self, cuts: list[int], newline: bytes, unterminated: bool
    ) -> None:
        """Events are found on CRLF and CR streams too, and a last event missing its blank
        line is read when the stream closes."""
        stream = ANTHROPIC_STREAM.replace(b"\n", newline)
        if unterminated:
            stream = stream[: -2 * len(newline)]
        observer = StreamObserver("anthropic")
        for chunk in split_at(stream, cuts):
            observer.feed(chunk)
        assert not observer.completed or not unterminated
        observer.close()
        assert observer.completed
        assert (observer.usage.input, observer.usage.output) == (10, 7)

    @given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
    def test_rewriter_changes_only_the_model_of_model_events(self, cuts: list[int]) -> None:
        rewriter = ModelRewriter("anthropic", "sonnet")
        out = (
            b"".join(rewriter.feed(chunk) for chunk in split_at(ANTHROPIC_STREAM, cuts))
            + rewriter.close()
        )
        before = ANTHROPIC_STREAM.split(b"\n\n")
        after = out.split(b"\n\n")
        assert len(before) == len(after)
        assert after[1:] == before[1:]  # every other event byte-identical
        start = json.loads(after[0].split(b"data: ", 1)[1])
        assert start["message"]["model"] == "sonnet"
        assert start["message"]["usage"]["input_tokens"] == 10

    def test_responses_observer_keeps_final_response(self) -> None:
        completed = {
            "type": "response.completed",
            "sequence_number": 3,
            "response": {
                "id": "resp_1",
                "model": "gpt-5",
                "output": [{"type": "message", "role": "assistant", "content": []}],
                "usage": {
                    "input_tokens": 100,
                    "input_tokens_details": {"cached_tokens": 40},
                    "output_tokens": 30,
                    "output_tokens_details": {"reasoning_tokens": 12},
                },
            },
        }
        observer = StreamObserver("responses")
        observer.feed(
            b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"
        )
        assert observer.completed
        assert observer.response is not None
        assert observer.response["id"] == "resp_1"
        assert (
            observer.usage.input,
            observer.usage.cache_read,
            observer.usage.output,
            observer.usage.reasoning,
        ) == (
            60,
            40,
            30,
            12,
        )


class TestConversationKey:
    def request(self, system: str, first: str, **kw: object) -> Request:
        return Request(
            model="m",
            system=[Text(system)],
            messages=[Message("user", [Text(first)]), Message("assistant", [Text("ok")])],
            **kw,  # type: ignore[arg-type]
        )

    def test_precedence(self) -> None:
        args = {"route": "/codex/v1/messages", "upstream_model": "gpt-5"}
        assert (
            conversation_key(
                self.request("s", "u", prompt_cache_key="pck"),
                {"x-claude-code-session-id": "cc"},
                **args,
            )
            == "pck"
        )
        assert (
            conversation_key(
                self.request("s", "u", user="uid"), {"x-claude-code-session-id": "cc"}, **args
            )
            == "cc"
        )
        assert conversation_key(self.request("s", "u", user="uid"), {}, **args) == "uid"

    def test_hash_is_stable_per_conversation_and_differs_between_them(self) -> None:
        args = {"route": "/codex/v1/messages", "upstream_model": "gpt-5"}
        turn_one = self.request("sys", "hello")
        turn_two = self.request("sys", "hello")
        turn_two.messages.append(Message("user", [Text("next")]))
        other = self.request("sys", "something else")
        key = conversation_key(turn_one, {}, **args)
        assert len(key) == 32
        assert key == conversation_key(turn_two, {}, **args)
        assert key != conversation_key(other, {}, **args)


class TestResponseStore:
    async def test_history_lru_and_ttl(self) -> None:
        now = [0.0]
        store = ResponseStore(max_entries=2, ttl_seconds=10, clock=lambda: now[0])
        await store.put("r1", [{"n": 1}], [{"o": 1}])
        await store.put("r2", [{"n": 2}], [{"o": 2}])
        assert await store.history("r1") == [{"n": 1}, {"o": 1}]
        await store.put("r3", [{"n": 3}], [{"o": 3}])  # r2 was least recently used
        assert await store.history("r2") is None
        assert await store.history("r1") is not None
        now[0] = 11.0
        assert await store.history("r3") is None
        assert len(store) == 1


CHAT_STREAM = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4.1","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4.1","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4.1","choices":[],'
    b'"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59,'
    b'"prompt_tokens_details":{"cached_tokens":20},'
    b'"completion_tokens_details":{"reasoning_tokens":4}}}\n\n'
    b"data: [DONE]\n\n"
)


class TestChatPassthrough:
    """Chat Completions upstreams (GitHub Copilot's): usage, the end and the model are found in
    events that have no names."""

    @given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
    def test_observer_reads_usage_and_the_end_whatever_the_chunking(self, cuts: list[int]) -> None:
        observer = StreamObserver("chat")
        for chunk in split_at(CHAT_STREAM, cuts):
            observer.feed(chunk)
        observer.close()
        assert observer.completed
        usage = observer.usage
        assert (usage.input, usage.cache_read, usage.output, usage.reasoning) == (30, 20, 9, 4)

    def test_a_stream_without_done_is_not_complete_and_errors_are_seen(self) -> None:
        observer = StreamObserver("chat")
        observer.feed(CHAT_STREAM.removesuffix(b"data: [DONE]\n\n"))
        observer.feed(b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n')
        observer.close()
        assert not observer.completed
        assert observer.error == {"message": "overloaded", "type": "server_error"}

    @given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
    def test_rewriter_renames_the_model_of_every_chunk(self, cuts: list[int]) -> None:
        rewriter = ModelRewriter("chat", "client-name")
        out = b"".join(rewriter.feed(c) for c in split_at(CHAT_STREAM, cuts)) + rewriter.close()
        events = [e for e in out.split(b"\n\n") if e]
        assert events[-1] == b"data: [DONE]"
        models = {json.loads(e.removeprefix(b"data: "))["model"] for e in events[:-1]}
        assert models == {"client-name"}

    def test_rewriter_relays_an_event_it_cannot_parse_as_sent(self) -> None:
        split = b'data: {"model": "gpt-4.1",\ndata: "object": "chat.completion.chunk"}\n\n'
        odd = b'data: not json, "model" in prose\n\n'
        rewriter = ModelRewriter("chat", "client-name")
        assert rewriter.feed(split + odd) + rewriter.close() == split + odd
