"""Field types shared by the core's and the plugins' settings models."""

from __future__ import annotations

import string
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "HEADER_VALUE_ERROR",
    "HeaderName",
    "HeaderValue",
    "HttpUrlStr",
    "check_header_name",
    "check_header_value",
    "check_http_url",
]

# RFC 9110 §5.6.2 token characters: what a field name may be made of.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def check_http_url(value: str) -> str:
    """``value`` stripped, if it is an absolute ``http://`` or ``https://`` URL with a host.

    Raises ``ValueError`` (which pydantic reports with the key) for ``notaurl``,
    ``api.example.com`` (no scheme), ``ftp://...``, ``http://`` (no host), a bad port or spaces.
    The text is otherwise kept as written (no trailing slash added, unlike pydantic's ``HttpUrl``).
    """
    text = value.strip()
    problem = _url_problem(text)
    if problem is not None:
        raise ValueError(f"{problem}; expected an http:// or https:// URL such as https://host")
    return text


def _url_problem(text: str) -> str | None:
    if not text:
        return "empty"
    if any(char.isspace() for char in text):
        return "contains whitespace"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        if not parts.scheme or not parts.netloc:
            return "no scheme"
        return f"scheme {parts.scheme!r} is not http or https"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return None


#: A ``str`` setting that must be an absolute http(s) URL (see :func:`check_http_url`).
#: Use ``HttpUrlStr | None`` for an optional one.
HttpUrlStr = Annotated[str, AfterValidator(check_http_url)]


def check_header_name(value: str) -> str:
    """``value`` if it is a valid HTTP field name (RFC 9110 token characters only).

    Raises ``ValueError`` naming the problem, never repeating the name's bad characters.
    """
    if not value:
        raise ValueError("empty header name")
    if not set(value) <= _TOKEN_CHARS:
        raise ValueError(
            "header name contains a character not allowed in HTTP header names "
            "(a space, a colon or a control character such as CR, LF or NUL)"
        )
    return value


def check_header_value(value: str) -> str:
    """``value`` if it can be sent as an HTTP field value: no CR, LF, NUL or other control.

    Such a value would split the request's header section (or be refused by the HTTP client on
    every request). The error names the problem only: a header value may be a token.
    """
    if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
        raise ValueError(
            "header value contains a control character (CR, LF, NUL or another); "
            "the value is not shown because header values may be secrets"
        )
    return value


#: A ``str`` setting holding an HTTP header name (see :func:`check_header_name`).
HeaderName = Annotated[str, AfterValidator(check_header_name)]
#: The pydantic error type of a refused :data:`HeaderValue`: whoever reports it shows the key,
#: never the value (it may be a token).
HEADER_VALUE_ERROR = "header_value"


def _validate_header_value(value: str) -> str:
    try:
        return check_header_value(value)
    except ValueError as exc:
        raise PydanticCustomError(HEADER_VALUE_ERROR, str(exc)) from None


#: A ``str`` setting holding an HTTP header value (see :func:`check_header_value`).
HeaderValue = Annotated[str, AfterValidator(_validate_header_value)]
