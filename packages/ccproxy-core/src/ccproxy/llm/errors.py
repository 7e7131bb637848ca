"""Errors raised while decoding client input or an upstream's answer; the pipeline answers them
in the client's dialect (400 for the client's input, 502 for the upstream's answer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["ConversionError", "InvalidRequestError", "InvalidResponseError", "unknown_value"]

_SHOWN = 40


class InvalidRequestError(ValueError):
    """The client's body is not a valid request of its format (answered with 400)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ConversionError(InvalidRequestError):
    """The request is valid but cannot be expressed in the upstream's format (answered with 400)."""


class InvalidResponseError(ValueError):
    """An upstream's 2xx body is not a response of its format (answered with 502)."""


def unknown_value(
    param: str, what: str, value: Any, expected: Iterable[str], *, also: str = ""
) -> InvalidRequestError:
    """The 400 for a ``what`` (``role``, ``type``) at ``param`` that the format does not have.

    A string value is shown cut to 40 characters, any other value by its JSON type only;
    ``also`` is appended to the list of expected values (``or a name ending in …``).
    """
    if isinstance(value, str):
        shown = repr(value[:_SHOWN] + "…" if len(value) > _SHOWN else value)
    else:
        shown = type(value).__name__
    listed = ", ".join(repr(v) for v in sorted(expected))
    return InvalidRequestError(
        f"{param}: unknown {what} {shown}; expected one of {listed}{also}", param=param
    )
