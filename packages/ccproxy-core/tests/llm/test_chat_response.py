"""Chat Completions responses: encode (checked by the openai SDK's parser), decode, round trips."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy.llm import ir
from ccproxy.llm.errors import InvalidResponseError
from ccproxy.llm.formats.chat import codec


def _client(body: dict[str, Any]) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return openai.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def _create(body: dict[str, Any]) -> Any:
    return _client(body).chat.completions.create(
        model="client-model", messages=[{"role": "user", "content": "hi"}]
    )


def test_text_response_parses_in_sdk() -> None:
    response = ir.Response(
        id="msg_01",
        model="claude-upstream",
        content=[ir.Text("Hello "), ir.Text("there")],
        stop_reason="end_turn",
        usage=ir.Usage(
            input=10, output=7, cache_read=90, cache_write_5m=5, cache_write_1h=1, reasoning=2
        ),
    )
    body = codec.encode_response(response, model="client-model")

    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "client-model"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    # prompt_tokens includes cache reads and cache writes; completion includes reasoning.
    assert body["usage"] == {
        "prompt_tokens": 106,
        "completion_tokens": 7,
        "total_tokens": 113,
        "prompt_tokens_details": {"cached_tokens": 90, "cache_write_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }

    completion = _create(body)
    assert completion.model == "client-model"
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 106
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 90


def test_tool_call_response_parses_in_sdk() -> None:
    response = ir.Response(
        id="resp_1",
        model="gpt-upstream",
        content=[
            ir.Reasoning(text="think", origin="openai", encrypted_content="secret", id="rs_1"),
            ir.Text("Checking."),
            ir.ToolCall("toolu_1", "weather", '{"city": "Paris"}'),
            ir.ToolCall("call_2", "time", "{}"),
        ],
        stop_reason="tool_use",
    )
    body = codec.encode_response(response, model="client-model")
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "think"
    assert "secret" not in json.dumps(body)  # never a proof on Chat
    assert body["choices"][0]["finish_reason"] == "tool_calls"

    completion = _create(body)
    sdk_message = completion.choices[0].message
    assert sdk_message.content == "Checking."
    calls = sdk_message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("toolu_1", "weather", {"city": "Paris"}),
        ("call_2", "time", {}),
    ]


def test_tool_only_response_has_null_content() -> None:
    response = ir.Response(
        id="x", model="m", content=[ir.ToolCall("c1", "f", "{}")], stop_reason=None
    )
    body = codec.encode_response(response, model="m")
    assert body["choices"][0]["message"]["content"] is None
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    completion = _create(body)
    assert completion.choices[0].message.content is None


def test_stop_reason_mapping() -> None:
    expected = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "content_filter": "content_filter",
    }
    for stop_reason, finish in expected.items():
        response = ir.Response(id="x", model="m", content=[ir.Text("t")], stop_reason=stop_reason)  # type: ignore[arg-type]
        assert codec.encode_response(response, model="m")["choices"][0]["finish_reason"] == finish


def test_chatcmpl_id_is_kept_and_created_reused() -> None:
    response = ir.Response(id="chatcmpl-abc", model="m", created=1700000000)
    body = codec.encode_response(response, model="m")
    assert body["id"] == "chatcmpl-abc"
    assert body["created"] == 1700000000
    assert body["choices"][0]["message"]["content"] == ""


def test_decode_openai_response() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    }
    response = codec.decode_response(body)
    assert response.id == "chatcmpl-1"
    assert response.model == "gpt-4o"
    assert response.content == [ir.ToolCall("call_1", "f", "{}")]
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input=40, output=20, cache_read=60, reasoning=5)
    assert response.created == 1


def test_decode_refusal_and_reasoning() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I can't",
                    "reasoning_content": "hm",
                },
                "finish_reason": "stop",
            }
        ]
    }
    response = codec.decode_response(body)
    assert response.content == [ir.Reasoning(text="hm"), ir.Text("I can't")]
    assert response.stop_reason == "refusal"


def test_decode_tolerates_garbage_inside_a_completion() -> None:
    assert codec.decode_response({"choices": []}).content == []
    assert codec.decode_response({"choices": ["x"], "usage": 5}).usage == ir.Usage()


@pytest.mark.parametrize(
    "body", [{}, {"choices": "x"}, {"object": "chat.completion.chunk", "choices": []}]
)
def test_a_body_that_is_not_a_completion_is_an_invalid_response(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidResponseError, match="not a chat completion"):
        codec.decode_response(body)


_usage = st.builds(
    ir.Usage,
    input=st.integers(0, 10**6),
    output=st.integers(0, 10**6),
    cache_read=st.integers(0, 10**6),
    cache_write_5m=st.integers(0, 10**6),
    reasoning=st.integers(0, 10**6),
)


@given(
    reasoning=st.none() | st.text(min_size=1, max_size=30),
    text=st.none() | st.text(min_size=1, max_size=30),
    calls=st.lists(
        st.tuples(
            st.from_regex(r"call_[a-z0-9]{1,8}", fullmatch=True), st.text(min_size=1, max_size=8)
        ),
        max_size=3,
        unique_by=lambda c: c[0],
    ),
    stop_reason=st.sampled_from([None, "end_turn", "max_tokens", "tool_use", "content_filter"]),
    usage=_usage,
)
def test_response_round_trip(
    reasoning: str | None,
    text: str | None,
    calls: list[tuple[str, str]],
    stop_reason: ir.StopReason | None,
    usage: ir.Usage,
) -> None:
    content: list[ir.ContentPart] = []
    if reasoning is not None:
        content.append(ir.Reasoning(text=reasoning))
    if text is not None:
        content.append(ir.Text(text))
    content.extend(ir.ToolCall(call_id, name, '{"x":1}') for call_id, name in calls)
    if stop_reason is None:
        stop_reason = "tool_use" if calls else "end_turn"
    response = ir.Response(
        id="chatcmpl-x", model="m", content=content, stop_reason=stop_reason, usage=usage, created=5
    )
    snapshot = copy.deepcopy(response)
    body = codec.encode_response(response, model="m")
    assert codec.decode_response(json.loads(json.dumps(body))) == snapshot
