"""The per-request Copilot headers: who started the request, its intent, and images.

Copilot bills a *premium request* for each request a person starts; a request that continues the
agent's own work (it carries a tool result, or the last turn is the assistant's) is sent with
``x-initiator: agent`` and is not billed again. The decision reads the upstream body (whichever of
the three formats it is in):

- Anthropic Messages: the last message is the assistant's, or a user message carrying a
  ``tool_result`` block (Claude Code adds reminder text next to tool results) → ``agent``;
- Chat Completions: the last message has role ``tool`` or ``assistant`` → ``agent``;
- Responses: the last input item is a tool output (``*_call_output``), a tool call, reasoning or an
  assistant message → ``agent``;
- otherwise (a person wrote the last message) → ``user``.

Trailing ``system``/``developer`` messages are skipped first: Claude Code puts mid-conversation
system messages after the user's turn.
"""

from __future__ import annotations

from typing import Any, Literal

from ccproxy.plugins.provider import WireFormat

__all__ = [
    "INITIATOR_HEADER",
    "Initiator",
    "has_images",
    "initiator",
    "request_headers",
]

Initiator = Literal["user", "agent"]
INITIATOR_HEADER = "x-initiator"
_INSTRUCTION_ROLES = frozenset({"system", "developer"})
_IMAGE_TYPES = frozenset({"image", "image_url", "input_image"})
_AGENT_ITEM_TYPES = frozenset(
    {"function_call", "custom_tool_call", "reasoning", "local_shell_call"}
)


def _last_turn(turns: list[Any]) -> dict[str, Any] | None:
    """The last message or item that is not an instruction (system/developer)."""
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role") not in _INSTRUCTION_ROLES:
            return turn
    return None


def _anthropic(body: dict[str, Any]) -> Initiator:
    last = _last_turn(body.get("messages") or [])
    if last is None:
        return "user"
    if last.get("role") == "assistant":
        return "agent"
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    ):
        return "agent"
    return "user"


def _chat(body: dict[str, Any]) -> Initiator:
    last = _last_turn(body.get("messages") or [])
    if last is not None and last.get("role") in ("tool", "function", "assistant"):
        return "agent"
    return "user"


def _responses(body: dict[str, Any]) -> Initiator:
    items = body.get("input")
    if not isinstance(items, list):
        return "user"  # a string input is a person's prompt
    last = _last_turn(items)
    if last is None:
        return "user"
    kind = last.get("type")
    if isinstance(kind, str) and (kind.endswith("_call_output") or kind in _AGENT_ITEM_TYPES):
        return "agent"
    return "agent" if last.get("role") == "assistant" else "user"


_BY_FORMAT = {"anthropic": _anthropic, "chat": _chat, "responses": _responses}


def initiator(body: dict[str, Any], upstream_format: WireFormat) -> Initiator:
    """``agent`` when ``body`` continues the agent's work, ``user`` when a person wrote last."""
    return _BY_FORMAT[upstream_format](body)


def _contains_image(value: Any, depth: int = 0) -> bool:
    if depth > 8:  # content nests a few levels (tool results holding images); never deeper
        return False
    if isinstance(value, dict):
        if value.get("type") in _IMAGE_TYPES:
            return True
        content = value.get("content")
        return isinstance(content, list) and _contains_image(content, depth + 1)
    if isinstance(value, list):
        return any(_contains_image(item, depth + 1) for item in value)
    return False


def has_images(body: dict[str, Any], upstream_format: WireFormat) -> bool:
    """Whether any message or input item of ``body`` carries an image."""
    turns = body.get("input") if upstream_format == "responses" else body.get("messages")
    return _contains_image(turns)


def request_headers(body: dict[str, Any], upstream_format: WireFormat) -> dict[str, str]:
    """``x-initiator``, ``openai-intent`` and, with images, ``copilot-vision-request``."""
    who = initiator(body, upstream_format)
    headers = {
        INITIATOR_HEADER: who,
        "openai-intent": "conversation-agent" if who == "agent" else "conversation-panel",
    }
    if has_images(body, upstream_format):
        headers["copilot-vision-request"] = "true"
    return headers
