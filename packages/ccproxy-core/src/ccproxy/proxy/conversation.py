"""A stable key per conversation, for upstream prompt caching and session headers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ccproxy.llm.ir import Request, Text

__all__ = ["conversation_key"]

_MAX_KEY = 200


def conversation_key(
    request: Request, headers: Mapping[str, str], *, route: str, upstream_model: str
) -> str:
    """The client's ``prompt_cache_key``, else ``x-claude-code-session-id``, else the user id
    (``metadata.user_id`` / Chat ``user``), else a hash of the route, upstream model, system text
    and first user message — so two turns of one conversation share it and two conversations
    do not.

    The key travels in a header (the profile's session header), so a client's value that is not
    printable ASCII, or is longer than 200 characters, is replaced by a hash of itself.
    """
    chosen = request.prompt_cache_key or headers.get("x-claude-code-session-id") or request.user
    if chosen:
        return chosen if _header_safe(chosen) else _digest(chosen)
    return _digest(route, upstream_model, _system_text(request), _first_user_message(request))


def _header_safe(value: str) -> bool:
    return (
        len(value) <= _MAX_KEY
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    )


def _digest(*pieces: str) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece.encode("utf-8", errors="replace"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def _system_text(request: Request) -> str:
    return "\n".join(part.text for part in request.system)


def _first_user_message(request: Request) -> str:
    for message in request.messages:
        if message.role == "user":
            pieces: list[Any] = []
            for part in message.content:
                pieces.append(part.text if isinstance(part, Text) else repr(part))
            return json.dumps(pieces, ensure_ascii=False)
    return ""
