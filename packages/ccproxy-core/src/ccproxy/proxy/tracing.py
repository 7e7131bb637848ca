"""Opt-in request transcripts for debugging: one redacted JSON-lines file per request.

Enabled by ``logging.trace_dir``. Each proxied request may record four stages: the client's
request, the upstream request, the upstream response and the client response. Credentials are
redacted before anything is written; writing happens off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

__all__ = ["REDACTED", "RequestTracer", "TraceStage", "redact_headers", "redact_json"]

TraceStage = Literal["client_request", "upstream_request", "upstream_response", "client_response"]

REDACTED = "[redacted]"

_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "set-cookie",
        "chatgpt-account-id",
    }
)
_SECRET_KEY = re.compile(
    r"(token|secret|password|api_key|apikey|authorization|code_verifier|^code$)", re.I
)
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential-bearing values replaced."""
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def redact_json(value: Any) -> Any:
    """A copy of a JSON value with the values of secret-looking keys replaced."""
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _SECRET_KEY.search(k) and not isinstance(v, (dict, list))
                else redact_json(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


class RequestTracer:
    """Writes transcripts under ``trace_dir`` when it is set; does nothing otherwise."""

    def __init__(self, trace_dir: Path | None) -> None:
        self.trace_dir = trace_dir

    @property
    def enabled(self) -> bool:
        """Whether transcripts are written."""
        return self.trace_dir is not None

    def path_for(self, request_id: str) -> Path:
        """The transcript file of ``request_id``."""
        if self.trace_dir is None:
            raise RuntimeError("tracing is disabled")
        return self.trace_dir / f"{_SAFE_ID.sub('_', request_id)[:128]}.jsonl"

    async def trace(
        self,
        request_id: str,
        stage: TraceStage,
        *,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
    ) -> None:
        """Append one redacted stage to the request's transcript."""
        if self.trace_dir is None:
            return
        entry: dict[str, Any] = {"time": time.time(), "request_id": request_id, "stage": stage}
        if method is not None:
            entry["method"] = method
        if url is not None:
            entry["url"] = url
        if status_code is not None:
            entry["status_code"] = status_code
        if headers is not None:
            entry["headers"] = redact_headers(headers)
        if body is not None:
            entry["body"] = _redact_body(body)
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        await asyncio.to_thread(self._append, self.path_for(request_id), line)

    @staticmethod
    def _append(path: Path, line: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)


def _redact_body(body: bytes | str | Mapping[str, Any]) -> Any:
    if isinstance(body, Mapping):
        return redact_json(dict(body))
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return redact_json(json.loads(text))
    except ValueError:
        return text
