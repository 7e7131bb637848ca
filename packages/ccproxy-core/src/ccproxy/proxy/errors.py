"""Errors the proxy itself produces, in the dialect of the client that sent the request.

Anthropic body: ``{"type": "error", "error": {"type": T, "message": M}}``.
OpenAI body: ``{"error": {"message": M, "type": T, "param": P, "code": C}}``.

When no ``error_type`` is given it follows from the status code:

====== ======================== ===================================================
status Anthropic ``type``       OpenAI ``type`` (default ``code``)
====== ======================== ===================================================
400    invalid_request_error    invalid_request_error
401    authentication_error     authentication_error
402    billing_error            invalid_request_error
403    permission_error         permission_error
404    not_found_error          not_found_error
413    request_too_large        invalid_request_error (``request_too_large``)
429    rate_limit_error         rate_limit_error (``rate_limit_exceeded``)
500    api_error                server_error
502    api_error                server_error
503    api_error                server_error
504    timeout_error            server_error
529    overloaded_error         server_error
4xx    invalid_request_error    invalid_request_error
5xx    api_error                server_error
====== ======================== ===================================================

The OpenAI SDKs choose their exception class from the status code alone, so the OpenAI types
only need to be stable and readable; ``server_error`` is what OpenAI sends for its own 5xx.
``param`` and ``code`` exist only in the OpenAI shape and are dropped for Anthropic.

An ``error_type`` the dialect does not know (an upstream's own, such as the Codex backend's
``usage_limit_reached`` on an Anthropic route) is replaced by the table's type for the status:
Anthropic's SDKs and Claude Code read the type, and only the ten of :data:`ANTHROPIC_ERROR_TYPES`
exist. OpenAI's types are open-ended, so there only the Anthropic-specific ones
(``api_error``, ``overloaded_error``, ...) are replaced, and the original is kept as ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ccproxy.logging import get_logger, mask_text
from ccproxy.proxy.dialect import Dialect, dialect_for

__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "RequestBodyRefused",
    "dialect_error_type",
    "error_body",
    "error_response",
    "install_error_handlers",
]

_ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: Every ``error.type`` the Anthropic API sends.
ANTHROPIC_ERROR_TYPES: frozenset[str] = frozenset(_ANTHROPIC_TYPES.values())
_OPENAI_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_OPENAI_CODES: dict[int, str] = {413: "request_too_large", 429: "rate_limit_exceeded"}
_ANTHROPIC_ONLY_TYPES = ANTHROPIC_ERROR_TYPES - set(_OPENAI_TYPES.values())

_MAX_VALIDATION_ERRORS = 5
_MAX_PATH_SHOWN = 200

_logger = get_logger("ccproxy.errors")


class RequestBodyRefused(Exception):
    """Raised into the app from ``receive`` once a body stalls or a chunked one passes the limit.

    The middleware answers the client itself (``status``: 408 or 413); the app only stops
    reading and may record ``status`` and ``reason`` (``body_timeout``, ``body_too_large``).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"request body refused: {reason}")
        self.status = status
        self.reason = reason


def _default_type(dialect: Dialect, status_code: int) -> str:
    if dialect is Dialect.ANTHROPIC:
        table, client, server = _ANTHROPIC_TYPES, "invalid_request_error", "api_error"
    else:
        table, client, server = _OPENAI_TYPES, "invalid_request_error", "server_error"
    return table.get(status_code, server if status_code >= 500 else client)


def dialect_error_type(dialect: Dialect, status_code: int, error_type: str | None) -> str:
    """``error_type`` if ``dialect`` has it, else the dialect's type for ``status_code``."""
    if error_type is None:
        return _default_type(dialect, status_code)
    if dialect is Dialect.ANTHROPIC:
        known = error_type in ANTHROPIC_ERROR_TYPES
    else:
        known = error_type not in _ANTHROPIC_ONLY_TYPES
    return error_type if known else _default_type(dialect, status_code)


def error_body(
    dialect: Dialect,
    status_code: int,
    message: str,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The JSON error body for ``status_code`` in ``dialect`` (see the module docstring)."""
    kind = dialect_error_type(dialect, status_code, error_type)
    if dialect is Dialect.ANTHROPIC:
        return {"type": "error", "error": {"type": kind, "message": message}}
    if code is None:
        replaced = error_type is not None and kind != error_type
        code = error_type if replaced else _OPENAI_CODES.get(status_code)
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    dialect: Dialect,
    status_code: int,
    message: str,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``error_body`` as a response with ``status_code`` and extra ``headers``."""
    body = error_body(dialect, status_code, message, error_type=error_type, param=param, code=code)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _request_dialect(request: Request) -> Dialect:
    return dialect_for(request.scope.get("path", ""), request.headers)


def _shown_path(request: Request) -> str:
    path: str = request.scope.get("path", "")
    return path if len(path) <= _MAX_PATH_SHOWN else path[:_MAX_PATH_SHOWN] + "…"


def _http_exception_message(request: Request, exc: StarletteHTTPException) -> str:
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    detail = exc.detail
    if detail and detail != phrase:
        return mask_text(detail if isinstance(detail, str) else str(detail))
    # Starlette's own 404/405 carry only the reason phrase: say what was asked for.
    method = request.scope.get("method", "GET")  # websocket scopes have none
    if exc.status_code == 404:
        return f"Not found: {method} {_shown_path(request)}"
    if exc.status_code == 405:
        return f"Method {method} is not allowed for {_shown_path(request)}"
    return phrase


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
        raise exc
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=headers)
    message = _http_exception_message(request, exc)
    return error_response(_request_dialect(request), exc.status_code, message, headers=headers)


def _field_path(loc: Sequence[Any]) -> str:
    parts = list(loc)
    # The body is what every client sends; other locations are named ("query.limit").
    if parts and parts[0] == "body":
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """A readable summary naming each field, and the first field (OpenAI's ``param``).

    The offending input values are never echoed: they may be credentials.
    """
    problems: list[str] = []
    first_param: str | None = None
    for error in errors[:_MAX_VALIDATION_ERRORS]:
        loc = error.get("loc", ())
        if error.get("type") == "json_invalid":
            reason = str(error.get("ctx", {}).get("error", "")) or "JSON decode error"
            position = loc[-1] if loc and isinstance(loc[-1], int) else None
            where = f" (at position {position})" if position is not None else ""
            problems.append(f"request body is not valid JSON: {reason}{where}")
            continue
        field = _field_path(loc) or "body"
        first_param = first_param or field
        problems.append(f"{field}: {error.get('msg', 'invalid value')}")
    if len(errors) > _MAX_VALIDATION_ERRORS:
        problems.append(f"and {len(errors) - _MAX_VALIDATION_ERRORS} more")
    summary = "; ".join(problems) or "invalid request"
    return mask_text(f"Invalid request: {summary}"), first_param


async def _handle_validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it only
        raise exc
    message, param = _validation_message(exc.errors())
    return error_response(_request_dialect(request), 400, message, param=param)


async def _handle_unhandled(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", None)
    _logger.error(
        "unhandled_exception",
        method=request.method,
        path=request.scope.get("path", ""),
        request_id=request_id,
        exc_info=exc,
    )
    message = "Internal server error"
    if request_id:
        message += f" (request id {request_id})"
    return error_response(_request_dialect(request), 500, message)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error ``app`` produces answer in the request's dialect.

    Covers ``HTTPException`` (including Starlette's own 404 and 405; its ``headers`` such as
    ``WWW-Authenticate`` or ``Retry-After`` are kept), request validation errors (400 naming the
    fields, never echoing values) and any unhandled exception (500 with a generic message and the
    request id; the traceback goes to the log only). Starlette re-raises an unhandled exception
    after the 500 is sent, so the server logs it too.
    """
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(Exception, _handle_unhandled)
