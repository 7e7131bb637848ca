"""Importing libraries without their optional ``rich`` integrations.

httpx imports its command-line client and structlog its pretty tracebacks whenever ``rich`` is
installed (typer installs it): about 14 MB resident in every server process for features a proxy
never uses. Rich tracebacks also print local variables, which may hold tokens.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["import_without_rich"]


#: Optional extras of httpx's CLI and structlog's tracebacks that a proxy never uses.
_HIDDEN = ("rich", "pygments")


def import_without_rich(*modules: str) -> None:
    """Import ``modules`` while ``import rich`` / ``import pygments`` fail, then undo that."""
    pending = [name for name in modules if name not in sys.modules]
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    if not pending or not hidden:
        return
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # importing it raises ImportError
    try:
        for name in pending:
            importlib.import_module(name)
    finally:
        for name in hidden:
            del sys.modules[name]
