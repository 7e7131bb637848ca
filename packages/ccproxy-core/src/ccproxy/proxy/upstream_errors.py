"""Reading an upstream's error body, whatever its format, into a message and an error type,
and telling whether it already is an error of the client's dialect (then it may be relayed)."""

from __future__ import annotations

import json
from typing import Any

from ccproxy.proxy.dialect import Dialect
from ccproxy.proxy.errors import ANTHROPIC_ERROR_TYPES

__all__ = ["is_dialect_error", "upstream_error_details"]


def is_dialect_error(raw: bytes, dialect: Dialect) -> bool:
    """Whether ``raw`` is an error body a client of ``dialect`` reads as it is.

    Anthropic: ``{"type": "error", "error": {"type": <an Anthropic type>, "message": str}}``;
    OpenAI: ``{"error": {"message": str, ...}}`` without Anthropic's top-level ``"type": "error"``
    (the Codex backend's own error types included: the Codex CLI reads them). Anything else
    (the other dialect's shape, ``{"detail": ...}``, HTML, plain text) is not.
    """
    try:
        payload: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return False
    if dialect is Dialect.ANTHROPIC:
        return payload.get("type") == "error" and error.get("type") in ANTHROPIC_ERROR_TYPES
    return "type" not in payload


def upstream_error_details(raw: bytes, status_code: int) -> tuple[str, str | None]:
    """``(message, error_type)`` from an Anthropic, OpenAI or plain error body."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        payload: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            error_type = error.get("type") or error.get("code")
            if message:
                return str(message), str(error_type) if error_type else None
        elif isinstance(error, str):
            return error, None
        detail = payload.get("detail") or payload.get("message")
        if isinstance(detail, str) and detail:
            return detail, None
    if text:
        return f"Upstream error {status_code}: {text[:500]}", None
    return f"Upstream error {status_code}.", None
