"""Plain-text output for the CLI: aligned tables and masked values (no markup, 100 columns).

Imported inside the commands that print settings (it pulls in the settings model).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from ccproxy.config.loader import is_secret_key
from ccproxy.logging import mask_url_passwords

__all__ = ["WIDTH", "flatten", "format_value", "mask_tree", "table", "wrap"]

WIDTH = 100
MASK = "***"


def mask_tree(value: Any, key: str = "") -> Any:
    """``value`` (plain data) with the values of secret-looking keys, ``SecretStr`` and URL
    passwords masked."""
    if value is None:
        return None
    if type(value).__name__ in ("SecretStr", "SecretBytes") or (key and is_secret_key(key)):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): mask_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tree(item, key) for item in value]
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists and empty tables are leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def format_value(value: Any) -> str:
    """A value as people read config: JSON (strings quoted, ``null`` for unset)."""
    if value == MASK:
        return MASK
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: int = 0) -> str:
    """Left-aligned columns separated by two spaces; the last column is never padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    pad = " " * indent

    def line(cells: Sequence[str]) -> str:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return (pad + "  ".join([*parts, cells[-1]])).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def wrap(text: str, *, indent: int = 4) -> str:
    """``text`` wrapped to :data:`WIDTH` columns, every line indented."""
    pad = " " * indent
    return textwrap.fill(
        text, width=WIDTH, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False
    )
