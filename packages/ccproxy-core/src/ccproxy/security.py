"""The security defaults of a local proxy, as one pure ASGI middleware (DESIGN §6).

Any web page the user opens can reach a proxy on 127.0.0.1, so for HTTP and WebSocket requests,
in this order:

1. **Host** must be an allowed host name (DNS rebinding): ``security.allowed_hosts``, plus
   ``server.host`` when it is a concrete address; ``"*"`` allows any.
2. **Origin**, when sent, must be allowed (CSRF): ``security.allowed_origins`` (exact
   ``scheme://host[:port]``; ``"*"`` allows any), or the proxy's own origin (same Host).
3. **Token**: with ``security.auth_token`` set, every path but ``/health`` (and the exact
   ``public_paths`` plugins declare, for GET/HEAD only) needs
   ``Authorization: Bearer <token>``, ``x-api-key: <token>`` or the ``ccproxy_token`` cookie.
   Those open paths must not show data to a client without it: they check
   :func:`has_valid_token` themselves (``/health`` then answers only its status).
4. **JSON only**: POST/PUT/PATCH/DELETE bodies must be ``application/json`` (or ``+json``):
   browsers cannot send those cross-origin without a CORS preflight. They must not be
   compressed either: any ``Content-Encoding`` but ``identity`` gets 415 with
   ``Accept-Encoding: identity`` (RFC 9110 §15.5.16). No official SDK or CLI compresses its
   requests, and decoding would only add a decompression-bomb surface to a loopback proxy.
5. **Size**: bodies over ``server.max_request_body_bytes`` get 413 — from ``Content-Length``
   up front, or while a chunked body is being read.
6. **Slow bodies**: a body whose next piece takes longer than
   ``server.request_read_timeout_seconds`` gets 408 and ``connection: close``. (Stalled
   *headers* never reach an ASGI app; ``ccproxy serve``'s uvicorn protocol answers those.)

Refusals are errors in the client's dialect. Responses are never buffered or altered: ``send``
is wrapped only for requests with a body, and passes messages through untouched unless the
body is cut off before the response starts (then the app's reaction is replaced by the 413 or
408).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from http import HTTPStatus
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccproxy.config.settings import Settings
from ccproxy.logging import get_logger
from ccproxy.proxy.dialect import Dialect, dialect_for
from ccproxy.proxy.errors import RequestBodyRefused, error_response

__all__ = ["TOKEN_COOKIE", "SecurityMiddleware", "has_valid_token"]

#: Cookie that may carry ``security.auth_token`` (set by the permissions web page).
TOKEN_COOKIE = "ccproxy_token"  # nosec B105 # a cookie name, not a secret

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WILDCARD_ADDRESSES = frozenset({"", "*", "0.0.0.0", "::"})  # nosec B104 # recognises wildcard hosts; binds nothing
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_WS_POLICY_VIOLATION = 1008

_logger = get_logger("ccproxy.security")


class _Refusal(NamedTuple):
    status: int
    message: str
    reason: str  # a short snake_case name for the log
    code: str | None = None
    headers: dict[str, str] | None = None


def _hostname(host: str) -> str | None:
    """The lower-case host name of a Host header (or config entry), without port; None if malformed."""
    host = host.strip().lower()
    if host.startswith("["):  # "[::1]" or "[::1]:8000"
        end = host.find("]")
        if end == -1:
            return None
        name, rest = host[1:end], host[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return name
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        if not port.isdigit():
            return None
        host = name
    return host.rstrip(".") or None


def _normalized_origin(origin: str) -> str:
    origin = origin.strip().lower().rstrip("/")
    scheme, sep, netloc = origin.partition("://")
    if not sep:
        return origin  # "null" and other opaque origins
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and netloc.endswith(default_port):
        netloc = netloc[: -len(default_port)]
    return f"{scheme}://{netloc}"


def _presented_token(headers: Mapping[str, str], expected: bytes) -> tuple[bool, bool]:
    """(whether any token was presented, whether one equals ``expected``)."""
    presented: list[str] = []
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            presented.append(value.strip())
    api_key = headers.get("x-api-key")
    if api_key is not None:
        presented.append(api_key.strip())
    cookie = headers.get("cookie")
    if cookie is not None and TOKEN_COOKIE in cookie:
        token_cookie = cookie_parser(cookie).get(TOKEN_COOKIE)
        if token_cookie is not None:
            presented.append(token_cookie)
    # Every candidate is compared, so the time taken does not depend on which one matched.
    matched = False
    for candidate in presented:
        matched |= hmac.compare_digest(candidate.encode(), expected)
    return bool(presented), matched


def has_valid_token(headers: Mapping[str, str], settings: Settings) -> bool:
    """Whether a request may see protected data: no ``security.auth_token`` is configured, or
    the request carries it (Bearer, ``x-api-key`` or the ``ccproxy_token`` cookie).

    For routes the middleware lets through without the token (``/health``, declared
    ``public_paths``) that answer differently to authenticated clients.
    """
    token = settings.security.auth_token
    if token is None:
        return True
    return _presented_token(headers, token.get_secret_value().encode())[1]


class SecurityMiddleware:
    """Host, Origin, token, content-type and body-size checks (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, public_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        # Exact paths served to GET/HEAD without the token (pages that carry no data, declared in
        # plugin manifests); Host and Origin checks still apply to them.
        self._public_paths = public_paths
        security = settings.security
        self._any_host = "*" in security.allowed_hosts
        hosts = {_hostname(host) for host in security.allowed_hosts if host != "*"}
        if settings.server.host.strip().lower() not in _WILDCARD_ADDRESSES:
            hosts.add(_hostname(settings.server.host))
        self._hosts = frozenset(host for host in hosts if host)
        self._any_origin = "*" in security.allowed_origins
        self._origins = frozenset(
            _normalized_origin(origin) for origin in security.allowed_origins if origin != "*"
        )
        token = security.auth_token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._max_body = settings.server.max_request_body_bytes
        self._read_timeout = settings.server.request_read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        is_http = scope["type"] == "http"
        refusal = (
            self._check_host(headers)
            or self._check_origin(headers)
            or self._check_token(scope, headers)
            or (self._check_body(scope, headers) if is_http else None)
        )
        if refusal is not None:
            await self._refuse(scope, receive, send, headers, refusal)
        elif is_http and (
            "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        ):
            await self._call_guarding_body(scope, receive, send, headers)
        else:
            await self.app(scope, receive, send)

    def _check_host(self, headers: Headers) -> _Refusal | None:
        if self._any_host:
            return None
        host = headers.get("host")
        if host is None:
            return _Refusal(403, "The request has no Host header.", "host_missing")
        if _hostname(host) in self._hosts:
            return None
        return _Refusal(
            403,
            f"Host {host!r} is not allowed; add it to security.allowed_hosts to accept it.",
            "host_not_allowed",
        )

    def _check_origin(self, headers: Headers) -> _Refusal | None:
        origin = headers.get("origin")
        if origin is None or self._any_origin:
            return None
        normalized = _normalized_origin(origin)
        if normalized in self._origins:
            return None
        host = headers.get("host")
        if host is not None and normalized in {
            _normalized_origin(f"http://{host}"),
            _normalized_origin(f"https://{host}"),
        }:
            return None  # a page served by the proxy itself
        return _Refusal(
            403,
            f"Origin {origin!r} is not allowed; add it to security.allowed_origins to accept it.",
            "origin_not_allowed",
        )

    def _check_token(self, scope: Scope, headers: Headers) -> _Refusal | None:
        expected = self._token
        if expected is None:
            return None
        path: str = scope.get("path", "")
        if path == "/health" or path.startswith("/health/"):
            return None
        if path in self._public_paths and scope.get("method") in ("GET", "HEAD"):
            return None
        presented, matched = _presented_token(headers, expected)
        if matched:
            return None
        problem = "Invalid" if presented else "Missing"
        return _Refusal(
            401,
            f"{problem} ccproxy token: send 'Authorization: Bearer <token>' or "
            "'x-api-key: <token>' with the value of security.auth_token.",
            "token_invalid" if presented else "token_missing",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _check_body(self, scope: Scope, headers: Headers) -> _Refusal | None:
        content_length = headers.get("content-length")
        try:
            length = int(content_length) if content_length is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            return _Refusal(400, "Invalid Content-Length header.", "bad_content_length")
        has_body = length > 0 or "transfer-encoding" in headers
        if has_body and scope.get("method") in _BODY_METHODS:
            content_type = headers.get("content-type", "")
            media_type = content_type.partition(";")[0].strip().lower()
            if not (media_type == "application/json" or media_type.endswith("+json")):
                shown = repr(media_type) if media_type else "none"
                return _Refusal(
                    415,
                    f"Request bodies must be JSON (Content-Type: application/json); got {shown}.",
                    "unsupported_media_type",
                )
            encoding = headers.get("content-encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                return _Refusal(
                    415,
                    f"Request bodies must not be compressed; got Content-Encoding {encoding[:40]!r}. "
                    "Send the JSON as is (Content-Encoding: identity).",
                    "unsupported_content_encoding",
                    headers={"accept-encoding": "identity"},
                )
        if length > self._max_body:
            return _Refusal(
                413,
                f"Request body is {length} bytes; the limit is {self._max_body} bytes "
                "(server.max_request_body_bytes).",
                "body_too_large",
            )
        return None

    async def _call_guarding_body(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        limit = self._max_body
        read_timeout = self._read_timeout
        counting = "transfer-encoding" in headers  # Content-Length was checked up front
        received = 0
        body_done = False
        problem: _Refusal | None = None
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done, problem
            if problem is not None:
                raise RequestBodyRefused(problem.status, problem.reason)
            if body_done:
                return await receive()  # waiting for http.disconnect is not a stalled body
            try:
                async with asyncio.timeout(read_timeout):
                    message = await receive()
            except TimeoutError:
                problem = _Refusal(
                    408,
                    f"The request body stalled for more than {read_timeout:g} s "
                    "(server.request_read_timeout_seconds).",
                    "body_timeout",
                    headers={"connection": "close"},
                )
                raise RequestBodyRefused(problem.status, problem.reason) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            if counting and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    problem = _Refusal(
                        413,
                        f"Request body exceeds the limit of {limit} bytes "
                        "(server.max_request_body_bytes).",
                        "body_too_large",
                    )
                    raise RequestBodyRefused(problem.status, problem.reason)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if problem is not None and not started:
                return  # the app's reaction to the cut-off body is replaced by the refusal below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            # The app may let RequestBodyRefused through or turn it into something else.
            if problem is None:
                raise
        if problem is not None and not started:
            await self._refuse(scope, receive, send, headers, problem)
        # With the response already under way the app just stops; the server closes the
        # connection because the response never completed.

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, refusal: _Refusal
    ) -> None:
        path: str = scope.get("path", "")
        _logger.warning(
            "request_refused",
            reason=refusal.reason,
            status=refusal.status,
            method=scope.get("method", "WEBSOCKET"),
            path=path,
            host=headers.get("host"),
            origin=headers.get("origin"),
        )
        dialect: Dialect = dialect_for(path, headers)
        response = error_response(
            dialect, refusal.status, refusal.message, code=refusal.code, headers=refusal.headers
        )
        extensions = scope.get("extensions") or {}
        if scope["type"] == "websocket" and "websocket.http.response" not in extensions:
            # Closing before accepting makes the server answer the handshake with 403.
            reason = HTTPStatus(refusal.status).phrase
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": reason})
            return
        # Starlette sends this as a WebSocket denial response when the scope is a websocket.
        await response(scope, receive, send)
