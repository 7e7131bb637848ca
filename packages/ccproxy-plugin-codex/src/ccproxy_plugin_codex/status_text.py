"""``ccproxy auth status codex``: ask the running server, and render what is known as text.

The usage windows exist only in a running server (they arrive as response headers), so the CLI
asks ``GET /oauth/codex/status`` at ``server.host``:``server.port`` with the configured
``security.auth_token``; when no server answers it says so and shows the local facts only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ccproxy_plugin_codex.credentials import STATUS_PATH

if TYPE_CHECKING:
    from ccproxy.config import Settings

__all__ = ["query_server", "render_status", "server_url"]

_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})  # nosec B104 # recognises wildcard hosts; binds nothing


def server_url(settings: Settings) -> str:
    """The base URL of the configured server (a wildcard bind is asked on 127.0.0.1)."""
    host = settings.server.host.strip()
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


async def query_server(settings: Settings, *, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """``{"url", "reachable", "status"?, "error"?}`` from ``GET /oauth/codex/status``."""
    base = server_url(settings)
    headers = {"accept": "application/json"}
    token = settings.security.auth_token
    if token is not None:
        headers["authorization"] = f"Bearer {token.get_secret_value()}"
    result: dict[str, Any] = {"url": base, "reachable": False}
    try:
        # The local server only: no proxy from the environment.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(base + STATUS_PATH, headers=headers)
    except httpx.HTTPError as exc:
        result["error"] = f"no answer ({type(exc).__name__})"
        return result
    result["reachable"] = True
    if response.status_code != 200:
        result["error"] = f"HTTP {response.status_code}" + (
            " (check security.auth_token)" if response.status_code == 401 else ""
        )
        return result
    try:
        result["status"] = response.json()
    except ValueError:
        result["error"] = "the answer is not JSON"
    return result


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m"


def _window_name(window: str, minutes: int | None) -> str:
    if minutes == 300:
        return "5-hour window"
    if minutes == 10080:
        return "weekly window"
    if minutes:
        return f"{_duration(minutes * 60)} window ({window})"
    return f"{window} window"


def render_status(local: dict[str, Any], server: dict[str, Any]) -> str:
    """Human-readable status: the credential facts, then the usage windows (never a token)."""
    lines = [f"Codex (ChatGPT) credentials: {local.get('path') or local.get('source')}"]
    if not local.get("has_credentials"):
        reason = local.get("error") or "not logged in"
        lines.append(f"  {reason}; run `ccproxy auth login codex`")
    else:
        expires_at = local.get("expires_at")
        left = local.get("expires_in_seconds")
        expiry = "unknown"
        if expires_at:
            expiry = (
                f"{expires_at} ({'expired' if local.get('expired') else 'in ' + _duration(left)})"
            )
        lines += [
            f"  account:  {local.get('account_id') or 'unknown'}",
            f"  plan:     {local.get('plan') or 'unknown'}",
            f"  expires:  {expiry}",
            f"  refresh:  {'possible' if local.get('refreshable') else 'not possible (no refresh token)'}",
        ]
    url = server.get("url")
    status = server.get("status")
    if not server.get("reachable") or not isinstance(status, dict):
        problem = server.get("error") or "no answer"
        lines.append(
            f"Usage windows: unknown — the server at {url} did not answer ({problem}). "
            "They are seen on Codex responses by a running `ccproxy serve`."
        )
        return "\n".join(lines)
    usage = status.get("usage")
    if not isinstance(usage, dict):
        lines.append(f"Usage windows: none seen yet by the server at {url} (no Codex response).")
        return "\n".join(lines)
    seen = usage.get("seen_at") or "unknown"
    lines.append(f"Usage windows (server at {url}, last seen {seen}):")
    windows = usage.get("windows") or {}
    for name, window in sorted(windows.items()):
        if not isinstance(window, dict):
            continue
        used = window.get("used_percent")
        reset = window.get("reset_after_seconds")
        label = _window_name(name, window.get("window_minutes"))
        used_text = f"{used:g}% used" if isinstance(used, int | float) else "usage unknown"
        reset_text = f", resets in {_duration(reset)}" if reset is not None else ""
        lines.append(f"  {label}: {used_text}{reset_text}")
    if not windows:
        for header, value in sorted((usage.get("headers") or {}).items()):
            lines.append(f"  {header}: {value}")
    return "\n".join(lines)
