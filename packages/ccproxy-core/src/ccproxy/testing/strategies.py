"""Hypothesis strategies for client request bodies, for tests that throw input at provider routes.

``request_bodies(format)`` draws mostly well-formed bodies of one wire format (messages with the
format's roles and block types, tools, options), some with up to two fields replaced by any JSON
value; ``json_values`` draws any JSON value. A proxy must answer every one of them with a 2xx or
a 4xx in the route's dialect. Needs ``hypothesis`` (a test dependency, not a runtime one).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ccproxy.llm.ir import WireFormat

__all__ = ["assert_dialect_answer", "json_values", "request_bodies"]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_texts = st.text(max_size=30)
_schemas = st.fixed_dictionaries(
    {"type": st.just("object")},
    optional={
        "properties": st.dictionaries(_texts, json_values, max_size=3),
        "required": json_values,
    },
)


def _blocks(kinds: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Content blocks of the given ``type`` values, with plausible or arbitrary fields."""
    return st.fixed_dictionaries(
        {"type": st.sampled_from(kinds)},
        optional={
            "text": _texts,
            "id": _texts,
            "call_id": _texts,
            "tool_use_id": _texts,
            "name": _texts,
            "input": st.dictionaries(_texts, json_values, max_size=2),
            "arguments": _texts,
            "output": _texts,
            "content": _texts
            | st.lists(
                st.fixed_dictionaries({"type": st.just("text"), "text": _texts}), max_size=2
            ),
            "source": st.fixed_dictionaries(
                {"type": st.sampled_from(["base64", "url", "file"])},
                optional={"media_type": _texts, "data": _texts, "url": _texts},
            ),
            "image_url": _texts | st.fixed_dictionaries({"url": _texts}),
            "thinking": _texts,
            "signature": _texts,
            "cache_control": st.just({"type": "ephemeral"}),
            "summary": json_values,
            "encrypted_content": _texts,
        },
    )


def _messages(
    kinds: list[str], roles: list[str], *, items: bool = False
) -> st.SearchStrategy[list[Any]]:
    message = st.fixed_dictionaries(
        {"role": st.sampled_from(roles), "content": _texts | st.lists(_blocks(kinds), max_size=3)},
        optional={
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": _texts,
                        "type": st.just("function"),
                        "function": st.fixed_dictionaries({"name": _texts, "arguments": _texts}),
                    }
                ),
                max_size=2,
            ),
            "tool_call_id": _texts,
            "name": _texts,
        },
    )
    # Responses input mixes messages and items; the other formats have only messages.
    return st.lists(message | _blocks(kinds) if items else message, min_size=1, max_size=4)


def _tools(shape: str) -> st.SearchStrategy[list[Any]]:
    if shape == "anthropic":
        tool = st.fixed_dictionaries(
            {"name": _texts, "input_schema": _schemas},
            optional={
                "description": _texts,
                "type": st.sampled_from(["custom", "web_search_20250305"]),
            },
        )
    elif shape == "chat":
        tool = st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries(
                    {"name": _texts}, optional={"parameters": _schemas, "strict": st.booleans()}
                ),
            }
        )
    else:
        tool = st.fixed_dictionaries(
            {"type": st.sampled_from(["function", "web_search"]), "name": _texts},
            optional={"parameters": _schemas},
        )
    return st.lists(tool, max_size=2)


def _bodies(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """Mostly well-formed bodies, some with up to two fields replaced by any JSON value."""
    shaped = st.fixed_dictionaries(
        {"model": st.sampled_from(["claude-sonnet-4-6", "gpt-5", "gpt-5-codex"]), **required},
        optional={"stream": st.booleans(), "temperature": st.floats(0, 2), **optional},
    )
    fields = st.sampled_from(sorted({"model", "stream", *required, *optional}))
    mutations = st.dictionaries(fields, json_values, max_size=2)
    return st.builds(lambda body, changes: {**body, **changes}, shaped, mutations)


_ANTHROPIC = _bodies(
    {
        "max_tokens": st.integers(1, 10**9),
        "messages": _messages(
            [
                "text",
                "image",
                "tool_use",
                "tool_result",
                "thinking",
                "redacted_thinking",
                "document",
            ],
            ["user", "assistant", "system"],
        ),
    },
    {
        "system": _texts | st.lists(_blocks(["text"]), max_size=2),
        "tools": _tools("anthropic"),
        "tool_choice": st.fixed_dictionaries(
            {"type": st.sampled_from(["auto", "any", "tool", "none"])}, optional={"name": _texts}
        ),
        "thinking": st.fixed_dictionaries(
            {"type": st.sampled_from(["enabled", "disabled", "adaptive"])},
            optional={"budget_tokens": st.integers(0, 10**6)},
        ),
        "stop_sequences": st.lists(_texts, max_size=2),
        "metadata": st.fixed_dictionaries({}, optional={"user_id": _texts}),
        "output_config": st.fixed_dictionaries(
            {}, optional={"effort": st.sampled_from(["low", "high", "max"])}
        ),
    },
)
_CHAT = _bodies(
    {
        "messages": _messages(
            ["text", "image_url", "input_audio", "file"],
            ["system", "developer", "user", "assistant", "tool", "function"],
        )
    },
    {
        "max_tokens": st.integers(1, 10**9),
        "max_completion_tokens": st.integers(1, 10**9),
        "tools": _tools("chat"),
        "tool_choice": st.sampled_from(["auto", "none", "required"])
        | st.just({"type": "function", "function": {"name": "f"}}),
        "stop": _texts | st.lists(_texts, max_size=2),
        "n": st.integers(1, 3),
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            ]
        ),
        "reasoning_effort": st.sampled_from(["low", "medium", "high", "none"]),
        "user": _texts,
    },
)
_RESPONSES = _bodies(
    {
        "input": _texts
        | _messages(
            [
                "input_text",
                "output_text",
                "input_image",
                "function_call",
                "function_call_output",
                "reasoning",
                "item_reference",
            ],
            ["user", "assistant", "system", "developer"],
            items=True,
        )
    },
    {
        "instructions": _texts,
        "tools": _tools("responses"),
        "tool_choice": st.sampled_from(["auto", "none", "required"])
        | st.just({"type": "function", "name": "f"}),
        "max_output_tokens": st.integers(1, 10**9),
        "reasoning": st.fixed_dictionaries(
            {},
            optional={
                "effort": st.sampled_from(["low", "high", "none"]),
                "summary": st.sampled_from(["auto", "detailed"]),
            },
        ),
        "text": st.fixed_dictionaries(
            {},
            optional={
                "format": st.just(
                    {"type": "json_schema", "name": "x", "schema": {"type": "object"}}
                ),
                "verbosity": st.sampled_from(["low", "high"]),
            },
        ),
        "previous_response_id": _texts,
        "include": st.just(["reasoning.encrypted_content"]),
        "store": st.booleans(),
        "prompt_cache_key": _texts,
    },
)


def request_bodies(wire_format: WireFormat) -> st.SearchStrategy[Any]:
    """Request bodies of ``wire_format`` (see the module docstring)."""
    return {"anthropic": _ANTHROPIC, "chat": _CHAT, "responses": _RESPONSES}[wire_format]


def assert_dialect_answer(response: Any, route: str, body: Any = None) -> None:
    """What any generated body must get from an LLM route: no 5xx, and an error (if any) in the
    route's dialect (an ``error.message``; Anthropic's ``type: error`` on Messages routes).

    ``response`` is an ``httpx.Response``; ``body`` only labels a failure.
    """
    assert response.status_code < 500, (route, body, response.text)
    if response.status_code >= 400:
        payload = response.json()
        assert isinstance(payload["error"]["message"], str), payload
        if "/v1/messages" in route:
            assert payload["type"] == "error", payload
