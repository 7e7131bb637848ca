"""Field types shared by the core's and the plugins' settings models."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

__all__ = ["HttpUrlStr", "check_http_url"]


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
