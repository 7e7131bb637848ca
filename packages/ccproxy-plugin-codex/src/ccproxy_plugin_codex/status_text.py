"""``ccproxy auth status codex``: the credential facts and the usage windows as text.

The usage windows exist only in a running server (they arrive as response headers), so the CLI
asks ``GET /oauth/codex/status`` on the configured server (``ccproxy.cli.auth_status``); when
no server answers it says so and shows the local facts only. The wording is core's, shared with
every auth provider.
"""

from __future__ import annotations

from typing import Any

from ccproxy.plugins.cli import ServerAnswer, credential_lines, in_words, windows_heading

__all__ = ["render_status"]


def _window_name(window: str, minutes: int | None) -> str:
    if minutes == 300:
        return "5-hour window"
    if minutes == 10080:
        return "weekly window"
    if minutes:
        return f"{in_words(minutes * 60).removeprefix('in ')} window ({window})"
    return f"{window} window"


def _window_lines(usage: dict[str, Any]) -> list[str]:
    lines = []
    windows = usage.get("windows") or {}
    for name, window in sorted(windows.items()):
        if not isinstance(window, dict):
            continue
        used = window.get("used_percent")
        reset = window.get("reset_after_seconds")
        label = _window_name(name, window.get("window_minutes"))
        used_text = f"{used:g}% used" if isinstance(used, int | float) else "usage unknown"
        reset_text = f", resets {in_words(reset)}" if isinstance(reset, int | float) else ""
        lines.append(f"  {label}: {used_text}{reset_text}")
    if not lines:
        for header, value in sorted((usage.get("headers") or {}).items()):
            lines.append(f"  {header}: {value}")
    return lines


def render_status(local: dict[str, Any], answer: ServerAnswer) -> str:
    """Human-readable status: the credential facts, then the usage windows (never a token)."""
    lines = credential_lines("Codex (ChatGPT)", local, login_command="ccproxy auth login codex")
    usage = (answer.status or {}).get("usage")
    usage = usage if isinstance(usage, dict) else {}
    windows = _window_lines(usage)
    lines.append("")
    lines.append(windows_heading(answer, seen_at=usage.get("seen_at"), has_windows=bool(windows)))
    lines += windows
    return "\n".join(lines)
