"""Hypothesis strategies for request bodies of the three client dialects.

Each body is close to what a real client sends (the right top-level keys, messages with roles
and content blocks) with every part allowed to go wrong: unknown roles and block types, wrong
JSON types, missing fields, odd numbers, deep nesting and arbitrary extra keys.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "gpt-5-codex", "gpt-5", "no-such-model", ""]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
small_text = st.text(max_size=40)


class Deep:
    """A value nested ``depth`` levels deep (objects and arrays in turn), kept small until sent.

    Hypothesis prints and compares what it draws recursively; the nested value itself exists
    only in the JSON text that ``dumps`` produces.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.marker = f"\u0000deep:{depth}\u0000"

    def __repr__(self) -> str:
        return f"Deep({self.depth})"

    def text(self) -> str:
        opening = "".join('{"a":' if index % 2 == 0 else "[" for index in range(self.depth))
        closing = "".join("}" if index % 2 == 0 else "]" for index in reversed(range(self.depth)))
        return f'{opening}"x"{closing}'


def dumps(body: Any) -> bytes:
    """``body`` as JSON, with every ``Deep`` expanded into its nested text."""
    deep: list[Deep] = []

    def placeholder(value: Any) -> str:
        if isinstance(value, Deep):
            deep.append(value)
            return value.marker
        raise TypeError(f"cannot encode {type(value).__name__}")

    text = json.dumps(body, default=placeholder)
    for value in deep:
        text = text.replace(json.dumps(value.marker), value.text(), 1)
    return text.encode()


# Nesting deeper than a JSON parser or a recursive converter may like.
deep_values = st.integers(min_value=50, max_value=3000).map(Deep)
any_value = st.one_of(json_values, json_values, json_values, json_values, deep_values)


def _object(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A dict with ``required`` keys, some ``optional`` ones and maybe unknown extra keys."""
    base = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=2)
    return st.builds(lambda b, e: {**e, **b}, base, extra)


def _sometimes_wrong(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``, now and then any JSON value instead."""
    return st.one_of(strategy, strategy, strategy, any_value)


# --- Anthropic Messages -------------------------------------------------------------------

anthropic_roles = st.sampled_from(["user", "assistant", "system", "tool", "developer"]) | small_text
anthropic_block_types = st.sampled_from(
    ["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking", "document"]
)
_text_block = _object({"type": st.just("text"), "text": _sometimes_wrong(small_text)}, {})
_image_block = _object(
    {
        "type": st.just("image"),
        "source": _sometimes_wrong(
            _object(
                {
                    "type": st.sampled_from(["base64", "url", "file"]) | small_text,
                    "media_type": st.sampled_from(["image/png", "image/jpeg"]) | small_text,
                    "data": st.sampled_from(["iVBORw0KGgo=", ""]) | small_text,
                },
                {"url": small_text},
            )
        ),
    },
    {},
)
_tool_use_block = _object(
    {
        "type": st.just("tool_use"),
        "id": _sometimes_wrong(small_text),
        "name": _sometimes_wrong(small_text),
        "input": _sometimes_wrong(st.dictionaries(st.text(max_size=8), any_value, max_size=3)),
    },
    {},
)
_tool_result_block = _object(
    {
        "type": st.just("tool_result"),
        "tool_use_id": _sometimes_wrong(small_text),
    },
    {
        "content": small_text | st.lists(_text_block | _image_block, max_size=3) | any_value,
        "is_error": st.booleans() | any_value,
    },
)
_thinking_block = _object(
    {"type": st.just("thinking"), "thinking": _sometimes_wrong(small_text)},
    {"signature": _sometimes_wrong(small_text)},
)
_unknown_block = _object({"type": anthropic_block_types | small_text}, {"text": small_text})
anthropic_blocks = st.one_of(
    _text_block, _image_block, _tool_use_block, _tool_result_block, _thinking_block,
    _unknown_block, any_value,
)  # fmt: skip
anthropic_message = _sometimes_wrong(
    _object(
        {
            "role": _sometimes_wrong(anthropic_roles),
            "content": small_text | st.lists(anthropic_blocks, max_size=4) | any_value,
        },
        {},
    )
)
anthropic_tools = st.lists(
    _sometimes_wrong(
        _object(
            {"name": _sometimes_wrong(small_text)},
            {
                "description": small_text,
                "input_schema": st.dictionaries(st.text(max_size=8), any_value, max_size=3),
                "type": st.sampled_from(["custom", "web_search_20250305", "bash_20250124"])
                | small_text,
            },
        )
    ),
    max_size=3,
)

anthropic_bodies = _object(
    {
        "model": _sometimes_wrong(st.sampled_from(MODELS) | small_text),
        "messages": _sometimes_wrong(st.lists(anthropic_message, max_size=5)),
    },
    {
        "max_tokens": _sometimes_wrong(st.integers(min_value=-5, max_value=200_000)),
        "system": small_text | st.lists(_text_block | any_value, max_size=3) | any_value,
        "tools": _sometimes_wrong(anthropic_tools),
        "tool_choice": _sometimes_wrong(
            _object(
                {"type": st.sampled_from(["auto", "any", "tool", "none"]) | small_text},
                {"name": small_text},
            )
        ),
        "thinking": _sometimes_wrong(
            _object(
                {"type": st.sampled_from(["enabled", "disabled", "adaptive"]) | small_text},
                {"budget_tokens": st.integers(-5, 100_000) | any_value},
            )
        ),
        "stream": st.booleans() | any_value,
        "temperature": _sometimes_wrong(st.floats(-1, 3)),
        "top_p": _sometimes_wrong(st.floats(-1, 2)),
        "stop_sequences": _sometimes_wrong(st.lists(small_text, max_size=3)),
        "metadata": _sometimes_wrong(_object({}, {"user_id": small_text})),
    },
)

# --- OpenAI Chat Completions --------------------------------------------------------------

chat_roles = (
    st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]) | small_text
)
_chat_part = st.one_of(
    _object({"type": st.just("text"), "text": _sometimes_wrong(small_text)}, {}),
    _object(
        {
            "type": st.just("image_url"),
            "image_url": _sometimes_wrong(
                _object(
                    {
                        "url": st.sampled_from(
                            ["data:image/png;base64,iVBORw0KGgo=", "https://example.invalid/a.png"]
                        )
                        | small_text
                    },
                    {"detail": small_text},
                )
            ),
        },
        {},
    ),
    _object({"type": st.sampled_from(["input_audio", "file", "refusal"]) | small_text}, {}),
    any_value,
)
_chat_tool_call = _sometimes_wrong(
    _object(
        {
            "id": _sometimes_wrong(small_text),
            "type": st.just("function") | small_text,
            "function": _sometimes_wrong(
                _object(
                    {"name": _sometimes_wrong(small_text)},
                    {"arguments": small_text | st.just("{}") | any_value},
                )
            ),
        },
        {},
    )
)
chat_message = _sometimes_wrong(
    _object(
        {"role": _sometimes_wrong(chat_roles)},
        {
            "content": st.none() | small_text | st.lists(_chat_part, max_size=3) | any_value,
            "tool_calls": st.lists(_chat_tool_call, max_size=2) | any_value,
            "tool_call_id": _sometimes_wrong(small_text),
            "name": small_text,
        },
    )
)
chat_tools = st.lists(
    _sometimes_wrong(
        _object(
            {
                "type": st.just("function") | small_text,
                "function": _sometimes_wrong(
                    _object(
                        {"name": _sometimes_wrong(small_text)},
                        {
                            "description": small_text,
                            "parameters": st.dictionaries(
                                st.text(max_size=8), any_value, max_size=3
                            ),
                        },
                    )
                ),
            },
            {},
        )
    ),
    max_size=3,
)
chat_bodies = _object(
    {
        "model": _sometimes_wrong(st.sampled_from(MODELS) | small_text),
        "messages": _sometimes_wrong(st.lists(chat_message, max_size=5)),
    },
    {
        "stream": st.booleans() | any_value,
        "stream_options": _sometimes_wrong(_object({}, {"include_usage": st.booleans()})),
        "tools": _sometimes_wrong(chat_tools),
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | any_value,
        "max_tokens": _sometimes_wrong(st.integers(-5, 200_000)),
        "max_completion_tokens": _sometimes_wrong(st.integers(-5, 200_000)),
        "temperature": _sometimes_wrong(st.floats(-1, 3)),
        "n": _sometimes_wrong(st.integers(-1, 4)),
        "stop": small_text | st.lists(small_text, max_size=3) | any_value,
        "reasoning_effort": st.sampled_from(["low", "medium", "high"]) | any_value,
        "response_format": _sometimes_wrong(
            _object(
                {"type": st.sampled_from(["text", "json_object", "json_schema"]) | small_text},
                {"json_schema": _object({"name": small_text}, {"schema": json_values})},
            )
        ),
    },
)

# --- OpenAI Responses ---------------------------------------------------------------------

_responses_part = st.one_of(
    _object(
        {
            "type": st.sampled_from(["input_text", "output_text"]),
            "text": _sometimes_wrong(small_text),
        },
        {},
    ),
    _object(
        {"type": st.just("input_image")},
        {"image_url": small_text | st.just("data:image/png;base64,iVBORw0KGgo=")},
    ),
    _object({"type": st.sampled_from(["refusal", "input_file"]) | small_text}, {}),
    any_value,
)
responses_item = st.one_of(
    _object(
        {"role": _sometimes_wrong(chat_roles)},
        {
            "type": st.just("message"),
            "content": small_text | st.lists(_responses_part, max_size=3) | any_value,
        },
    ),
    _object(
        {
            "type": st.just("function_call"),
            "call_id": _sometimes_wrong(small_text),
            "name": _sometimes_wrong(small_text),
        },
        {"arguments": small_text | st.just("{}") | any_value},
    ),
    _object(
        {"type": st.just("function_call_output"), "call_id": _sometimes_wrong(small_text)},
        {"output": small_text | st.lists(_responses_part, max_size=2) | any_value},
    ),
    _object(
        {"type": st.just("reasoning")},
        {"summary": st.lists(any_value, max_size=2), "encrypted_content": small_text},
    ),
    _object({"type": small_text}, {}),
    any_value,
)
responses_bodies = _object(
    {"model": _sometimes_wrong(st.sampled_from(MODELS) | small_text)},
    {
        "input": small_text | st.lists(responses_item, max_size=5) | any_value,
        "instructions": _sometimes_wrong(small_text),
        "tools": st.lists(
            _sometimes_wrong(
                _object(
                    {"type": st.sampled_from(["function", "web_search"]) | small_text},
                    {"name": small_text, "parameters": json_values},
                )
            ),
            max_size=3,
        )
        | any_value,
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | any_value,
        "stream": st.booleans() | any_value,
        "reasoning": _sometimes_wrong(
            _object({}, {"effort": st.sampled_from(["low", "medium", "high"]) | small_text})
        ),
        "text": _sometimes_wrong(_object({}, {"format": json_values})),
        "max_output_tokens": _sometimes_wrong(st.integers(-5, 200_000)),
        "previous_response_id": _sometimes_wrong(small_text),
        "store": st.booleans() | any_value,
        "include": st.lists(small_text, max_size=2) | any_value,
    },
)

#: The client route suffixes each dialect's bodies are sent to.
BODIES_BY_ROUTE: dict[str, st.SearchStrategy[Any]] = {
    "/v1/messages": anthropic_bodies,
    "/v1/messages/count_tokens": anthropic_bodies,
    "/v1/chat/completions": chat_bodies,
    "/v1/responses": responses_bodies,
}
