"""Reading an upstream's error body, whatever its format, into a message and an error type."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["upstream_error_details"]


def upstream_error_details(raw: bytes, status_code: int) -> tuple[str, str | None]:
    """``(message, error_type)`` from an Anthropic, OpenAI or plain error body."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        payload: Any = json.loads(text) if text else None
    except ValueError:
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
