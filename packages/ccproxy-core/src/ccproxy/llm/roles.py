"""The message roles each wire format accepts; any other role is the client's error (400).

- Anthropic Messages: ``user`` and ``assistant``, plus ``system`` inside ``messages``, which
  Claude Code sends (beta ``mid-conversation-system-2026-04-07``).
- Chat Completions: ``system``, ``developer``, ``user``, ``assistant``, ``tool`` and the legacy
  ``function``.
- Responses message items: ``user``, ``assistant``, ``system`` and ``developer``.
"""

from __future__ import annotations

from typing import Any

from ccproxy.llm.errors import unknown_value
from ccproxy.llm.ir import WireFormat

__all__ = ["ROLES", "check_role"]

ROLES: dict[WireFormat, frozenset[str]] = {
    "anthropic": frozenset({"user", "assistant", "system"}),
    "chat": frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    "responses": frozenset({"user", "assistant", "system", "developer"}),
}


def check_role(wire_format: WireFormat, role: Any, param: str) -> None:
    """Raise ``InvalidRequestError`` naming ``param`` unless ``role`` is one ``wire_format`` accepts."""
    allowed = ROLES[wire_format]
    if not (isinstance(role, str) and role in allowed):
        raise unknown_value(param, "role", role, allowed)
