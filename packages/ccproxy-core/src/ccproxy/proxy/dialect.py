"""Which API dialect a client speaks, so that errors reach it in a shape its SDK understands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

__all__ = ["Dialect", "dialect_for"]


class Dialect(StrEnum):
    """The error dialects: Anthropic Messages, or OpenAI (Chat Completions and Responses)."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"


# Whole path segments, under any route prefix (/claude, /codex, ...).
_ANTHROPIC_PATH = re.compile(r"/v1/messages(?:/|$)")
_OPENAI_PATH = re.compile(r"/v1/(?:chat/completions|responses)(?:/|$)")


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    # Starlette's and httpx's Headers are case-insensitive; a plain dict may not be lower-case.
    if headers.get(name) is not None:
        return True
    return any(key.lower() == name for key in headers)


def dialect_for(path: str, headers: Mapping[str, str]) -> Dialect:
    """The dialect of a request.

    ``/v1/messages`` and below (``/v1/messages/count_tokens``) → Anthropic;
    ``/v1/chat/completions`` and ``/v1/responses`` (and below) → OpenAI; any other path →
    Anthropic when an ``anthropic-version`` header is present, else OpenAI. Route prefixes such
    as ``/claude`` or ``/codex`` do not matter.
    """
    if _ANTHROPIC_PATH.search(path):
        return Dialect.ANTHROPIC
    if _OPENAI_PATH.search(path):
        return Dialect.OPENAI
    return Dialect.ANTHROPIC if _has_header(headers, "anthropic-version") else Dialect.OPENAI
