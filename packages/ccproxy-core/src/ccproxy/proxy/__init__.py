"""What every provider shares: dialect detection and dialect errors (the pipeline joins later)."""

from __future__ import annotations

from ccproxy.proxy.dialect import Dialect, dialect_for
from ccproxy.proxy.errors import error_body, error_response, install_error_handlers

__all__ = [
    "Dialect",
    "dialect_for",
    "error_body",
    "error_response",
    "install_error_handlers",
]
