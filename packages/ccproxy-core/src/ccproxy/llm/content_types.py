"""The content-part and item types each wire format has; any other type is the client's error.

Decoders read the types they model, carry the others they know as ``ir.Opaque`` (re-encoded
only into their own format) and refuse the rest with a 400 naming the field, as for roles
(``ccproxy.llm.roles``): a type dropped in silence would send an empty conversation upstream.

- Anthropic message blocks: ``text``, ``image``, ``document``, ``search_result``, ``tool_use``,
  ``tool_result``, ``thinking``, ``redacted_thinking``, ``server_tool_use``, ``mcp_tool_use``,
  ``mcp_tool_result``, ``container_upload``, ``compaction`` and the results of server tools
  (``web_search_tool_result``, ``code_execution_tool_result``, …: any name ending in
  ``_tool_result``, as Anthropic adds server tools often). ``tool_result`` content holds
  ``text``, ``image``, ``document``, ``search_result`` and ``tool_reference``.
- Chat Completions parts: ``text``, ``image_url``, ``input_audio``, ``file`` and ``refusal``.
- Responses message parts: ``input_text``, ``input_image``, ``input_file``, ``input_audio``,
  ``output_text`` and ``refusal``; ``function_call_output`` parts: ``input_text``,
  ``input_image``, ``input_file`` and ``output_text``. Input items: ``message``, ``function_call``,
  ``function_call_output``, ``reasoning``, ``item_reference``, ``compaction`` and the calls of
  built-in and custom tools with their outputs (any name ending in ``_call`` or ``_output``:
  ``custom_tool_call``, ``local_shell_call_output``, ``web_search_call``, …), which the Codex CLI
  sends back in its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccproxy.llm.errors import unknown_value

__all__ = [
    "ANTHROPIC_BLOCKS",
    "ANTHROPIC_TOOL_RESULT_BLOCKS",
    "CHAT_PARTS",
    "RESPONSES_ITEMS",
    "RESPONSES_PARTS",
    "RESPONSES_TOOL_OUTPUT_PARTS",
    "TypeSet",
]


@dataclass(frozen=True)
class TypeSet:
    """The ``type`` values one place of a format accepts: ``names``, and families by suffix."""

    names: frozenset[str]
    suffixes: tuple[str, ...] = ()

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and (value in self.names or value.endswith(self.suffixes))

    def check(self, value: Any, param: str) -> None:
        """Raise ``InvalidRequestError`` naming ``param`` unless ``value`` is in this set."""
        if value not in self:
            also = "".join(f", or a name ending in {s!r}" for s in self.suffixes)
            raise unknown_value(param, "type", value, self.names, also=also)


ANTHROPIC_BLOCKS = TypeSet(
    frozenset(
        {
            "text",
            "image",
            "document",
            "search_result",
            "tool_use",
            "tool_result",
            "thinking",
            "redacted_thinking",
            "server_tool_use",
            "mcp_tool_use",
            "mcp_tool_result",
            "container_upload",
            "compaction",
        }
    ),
    ("_tool_result",),
)
ANTHROPIC_TOOL_RESULT_BLOCKS = TypeSet(
    frozenset({"text", "image", "document", "search_result", "tool_reference"})
)
CHAT_PARTS = TypeSet(frozenset({"text", "image_url", "input_audio", "file", "refusal"}))
RESPONSES_PARTS = TypeSet(
    frozenset({"input_text", "input_image", "input_file", "input_audio", "output_text", "refusal"})
)
RESPONSES_TOOL_OUTPUT_PARTS = TypeSet(
    frozenset({"input_text", "input_image", "input_file", "output_text"})
)
RESPONSES_ITEMS = TypeSet(
    frozenset(
        {
            "message",
            "function_call",
            "function_call_output",
            "reasoning",
            "item_reference",
            "compaction",
        }
    ),
    ("_call", "_output"),
)
