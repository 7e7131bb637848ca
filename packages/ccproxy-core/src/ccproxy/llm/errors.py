"""Errors raised while decoding client input; the pipeline answers them in the client's dialect."""

from __future__ import annotations

__all__ = ["ConversionError", "InvalidRequestError"]


class InvalidRequestError(ValueError):
    """The client's body is not a valid request of its format (answered with 400)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ConversionError(InvalidRequestError):
    """The request is valid but cannot be expressed in the upstream's format (answered with 400)."""
