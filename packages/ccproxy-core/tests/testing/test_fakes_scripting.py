"""Reply builders and the reply queue: immutable, validated, format-neutral."""

from __future__ import annotations

import dataclasses

import pytest

import ccproxy.testing
from ccproxy.testing import Reply, ToolCallSpec
from ccproxy.testing.fakes.scripting import (
    RecordedRequest,
    ReplyQueue,
    TextPart,
    ToolCallPart,
    approx_tokens,
    split_chunks,
)

REQUEST = RecordedRequest("POST", "/v1/messages", {}, {}, json={"model": "m"})


def test_fakes_are_exported_lazily_from_ccproxy_testing() -> None:
    for name in (
        "FakeAnthropic",
        "FakeCodex",
        "FakeClaudeOAuth",
        "FakeCodexOAuth",
        "Reply",
        "ToolCallSpec",
    ):
        assert name in ccproxy.testing.__all__
        assert getattr(ccproxy.testing, name) is not None


def test_replies_are_immutable() -> None:
    reply = Reply.text("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.delay_between_events = 1.0  # type: ignore[misc]
    slower = reply.evolve(delay_between_events=0.5, stop_reason="refusal")
    assert (slower.delay_between_events, slower.stop_reason) == (0.5, "refusal")
    assert reply.delay_between_events == 0.0


def test_text_chunks() -> None:
    assert Reply.text("a b  c").parts == (TextPart("a b  c", ("a", " b", " ", " c")),)
    assert Reply.text(chunks=["x", "y"]).parts == (TextPart("xy", ("x", "y")),)
    assert Reply.text().parts[0].text == "Hello from the fake."  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="join"):
        Reply.text("abc", chunks=["a", "b"])
    assert split_chunks("") == ("",)


def test_tool_calls_and_reasoning_compose() -> None:
    reply = Reply.reasoning(
        "why",
        then=Reply.tool_calls([ToolCallSpec("f", {"a": 1})], text_before="t", usage={"output": 9}),
    )
    kinds = [type(part).__name__ for part in reply.parts]
    assert kinds == ["ReasoningPart", "TextPart", "ToolCallPart"]
    assert reply.finish == "tool_calls"
    assert reply.usage == {"output": 9}
    assert reply.parts[0].signature == Reply.reasoning("why").parts[0].signature  # type: ignore[union-attr]
    assert isinstance(reply.parts[2], ToolCallPart)
    with pytest.raises(ValueError, match="at least one"):
        Reply.tool_calls([])


def test_usage_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown usage keys"):
        Reply.text("x", usage={"prompt_tokens": 1})


def test_error_reply_carries_retry_after() -> None:
    reply = Reply.error(429, retry_after=2.5, headers={"x-a": "b"})
    assert reply.http_error is not None and reply.http_error.status == 429
    assert reply.headers == {"x-a": "b", "retry-after": "2.5"}
    assert Reply.error(503, retry_after=3).headers["retry-after"] == "3"


def test_interruptions_wrap_a_base_reply() -> None:
    base = Reply.tool_calls([ToolCallSpec("f")])
    broken = Reply.stream_error(after_events=2, base=base)
    assert broken.parts == base.parts
    assert broken.interruption is not None and broken.interruption.kind == "error"
    cut = Reply.cut(after_events=1, abort=True)
    assert cut.interruption is not None and cut.interruption.abort


def test_queue_is_fifo_then_default() -> None:
    queue = ReplyQueue()
    queue.enqueue(Reply.text("one"), lambda request: Reply.text(request.json["model"]))
    assert len(queue) == 2
    assert queue.next(REQUEST).parts[0].text == "one"  # type: ignore[union-attr]
    assert queue.next(REQUEST).parts[0].text == "m"  # type: ignore[union-attr]
    assert queue.next(REQUEST) is queue.default
    queue.default = Reply.text("other")
    assert queue.next(REQUEST).parts[0].text == "other"  # type: ignore[union-attr]


def test_approx_tokens_is_deterministic() -> None:
    assert approx_tokens("abcd") == 1
    assert approx_tokens({"a": ["abcde", {"b": "xyz"}], "n": 3}) == 2
    assert approx_tokens(None) == 0


def test_recorded_request_bearer_token() -> None:
    assert RecordedRequest("GET", "/", {}, {"authorization": "Bearer abc"}).bearer_token == "abc"
    assert RecordedRequest("GET", "/", {}, {"authorization": "Basic abc"}).bearer_token is None
    assert RecordedRequest("GET", "/", {}, {}).bearer_token is None
