"""What ``ccproxy permissions watch`` shows and asks, kept apart from I/O for testing."""

from __future__ import annotations

import json
import os
import shlex
import subprocess  # nosec B404 # runs the user's own $EDITOR, below
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PROMPT", "EditError", "default_editor", "edit_input", "escape", "render_request"]

PROMPT = "[a]llow, [d]eny, [e]dit (Enter = deny): "


class EditError(ValueError):
    """The edited input is not a JSON object."""


def escape(text: str) -> str:
    """``text`` with every non-printable or non-ASCII character escaped (JSON style)."""
    return json.dumps(text, ensure_ascii=True)[1:-1]


def render_request(request: dict[str, Any]) -> str:
    """The request as shown in the terminal: the full input as escaped, indented JSON."""
    lines = [
        f"Tool: {escape(str(request.get('tool_name', '')))}",
        f"Request: {escape(str(request.get('id', '')))}",
    ]
    if request.get("tool_use_id"):
        lines.append(f"Tool use: {escape(str(request['tool_use_id']))}")
    lines.append("Input:")
    lines.append(json.dumps(request.get("input"), indent=2, ensure_ascii=True, sort_keys=True))
    return "\n".join(lines)


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise EditError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EditError("the input must be a JSON object")
    return value


def edit_input(
    current: dict[str, Any],
    *,
    editor: str | None,
    read_line: Callable[[], str],
    write: Callable[[str], None],
) -> dict[str, Any]:
    """The edited input: through ``editor`` on a temporary file, else JSON read from stdin.

    From stdin, lines are read until an empty line (or end of input).
    """
    text = json.dumps(current, indent=2, ensure_ascii=False)
    if editor:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "input.json"
            path.write_text(text + "\n", encoding="utf-8")
            subprocess.run([*shlex.split(editor), str(path)], check=True)  # nosec B603 # the user's own $EDITOR, argument list, no shell
            return _parse(path.read_text(encoding="utf-8"))
    write("Enter the edited input as JSON, then an empty line:\n")
    lines: list[str] = []
    while True:
        line = read_line()
        if not line or not line.strip():
            break
        lines.append(line)
    return _parse("".join(lines))


def default_editor() -> str | None:
    """``$VISUAL`` or ``$EDITOR`` when set."""
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or None
