"""Shared wording and server lookup for the auth providers' ``ccproxy auth status PROVIDER``.

Every provider says the same state the same way: its credential file, account, plan, expiry and
whether it refreshes itself; then the rate-limit windows the running server saw last, or why
none could be asked for. The server is found from the configuration (``server.host``,
``server.port``, ``security.auth_token``), with ``--port`` for one started elsewhere. Only the
standard library is imported at module level (``httpx`` when a server is asked).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ccproxy.config import Settings

__all__ = [
    "ServerAnswer",
    "credential_lines",
    "in_words",
    "moment_in_words",
    "query_server",
    "server_url",
    "window_label",
    "windows_heading",
]

_UNITS: Final = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
_WILDCARD_HOSTS: Final = frozenset({"", "*", "0.0.0.0", "::"})  # nosec B104 # recognises wildcard hosts; binds nothing
#: How long ``auth status`` waits for the local server.
STATUS_TIMEOUT_SECONDS: Final = 3.0


def in_words(seconds: float) -> str:
    """``25200`` → ``"in 7 hours"``; ``-90`` → ``"1 minute ago"``; within a second: ``"now"``."""
    amount = abs(seconds)
    if amount < 1:
        return "now"
    unit, size = next((unit, size) for unit, size in _UNITS if amount >= size)
    count = int(amount // size)
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def window_label(minutes: int | None, name: str = "", *, scope: str = "") -> str:
    """How ``auth status`` names a rate-limit window, in the same words for every provider.

    ``300`` → ``"5-hour window"``, ``10080`` → ``"weekly window"``, another length in words
    followed by the provider's ``name`` for it (``"2 hours window (tertiary)"``), an unknown
    length by ``name`` alone. ``scope`` (what the window counts, e.g. ``opus``) is always added:
    ``"weekly window (opus)"``.
    """
    if minutes == 300:
        label = "5-hour window"
    elif minutes == 10080:
        label = "weekly window"
    elif minutes:
        label = f"{in_words(minutes * 60).removeprefix('in ')} window"
        label = f"{label} ({name})" if name else label
    else:
        label = f"{name} window" if name else "window"
    return f"{label} ({scope})" if scope else label


def moment_in_words(iso: str | None, *, now: float | None = None) -> str:
    """An ISO time as ``"in 7 hours (2026-12-05 16:00 UTC)"``; ``"unknown"`` when missing."""
    if not iso:
        return "unknown"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{in_words(moment.timestamp() - now)} ({stamp})"


def credential_lines(
    label: str,
    facts: Mapping[str, Any],
    *,
    login_command: str,
    extra: Sequence[tuple[str, str]] = (),
    refresh: str | None = None,
    now: float | None = None,
) -> list[str]:
    """Lines for a ``TokenManager.status()`` of a credential file (``label``: ``"Claude"``).

    ``extra`` adds provider-specific ``(name, value)`` rows after the common ones; ``refresh``
    replaces what the ``refresh`` row says.
    """
    lines = [f"{label} credentials: {facts.get('path') or facts.get('source') or 'unknown'}"]
    if not facts.get("has_credentials"):
        lines.append(f"  not logged in: {facts.get('error') or 'no credentials stored there'}")
        lines.append(f"  log in with `{login_command}`")
        return lines
    expires = moment_in_words(facts.get("expires_at"), now=now)
    if facts.get("expired"):
        expires = f"EXPIRED {expires}"
    if refresh is None:
        refresh = (
            "automatic (a refresh token is stored)"
            if facts.get("refreshable")
            else "not possible (no refresh token): log in again when it expires"
        )
    rows = [
        ("account", str(facts.get("account_id") or "unknown")),
        ("plan", str(facts.get("plan") or "unknown")),
        ("expires", expires),
        ("refresh", refresh),
        *extra,
    ]
    width = max(len(name) for name, _ in rows) + 1
    lines += [f"  {(name + ':').ljust(width)} {value}" for name, value in rows]
    return lines


def server_url(settings: Settings, *, port: int | None = None) -> str:
    """The base URL of the configured server (``port`` overrides ``server.port``); a wildcard
    bind is asked on 127.0.0.1."""
    host = settings.server.host.strip().strip("[]")
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port if port is None else port}"


@dataclass(frozen=True)
class ServerAnswer:
    """What the running server said to ``GET <status path>``."""

    url: str
    status: dict[str, Any] | None = None
    """The JSON body, when the server answered 200 with an object."""
    problem: str | None = None
    """Why there is no status, as the end of a sentence ("no server answered at ...")."""

    def to_json(self) -> dict[str, Any]:
        """``{"url", "reachable", "status", "error"}`` for ``--json`` output."""
        reachable = self.status is not None or (
            self.problem is not None and not self.problem.startswith("no server answered")
        )
        return {
            "url": self.url,
            "reachable": reachable,
            "status": self.status,
            "error": self.problem,
        }


async def query_server(
    settings: Settings,
    path: str,
    *,
    plugin: str,
    port: int | None = None,
    timeout: float = STATUS_TIMEOUT_SECONDS,  # noqa: ASYNC109
) -> ServerAnswer:
    """``GET path`` on the configured server with the configured token; ``plugin`` names the
    plugin that serves ``path`` (for the message when it does not)."""
    import httpx

    base = server_url(settings, port=port)
    headers = {"accept": "application/json"}
    token = settings.security.auth_token
    if token is not None:
        headers["authorization"] = f"Bearer {token.get_secret_value()}"
    try:
        # The local server only: no proxy from the environment.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(base + path, headers=headers)
    except httpx.HTTPError as exc:
        return ServerAnswer(base, problem=f"no server answered at {base} ({type(exc).__name__})")
    if response.status_code in (401, 403):
        return ServerAnswer(
            base,
            problem=f"the server at {base} refused the request (check security.auth_token)",
        )
    if response.status_code != 200:
        return ServerAnswer(
            base,
            problem=f"the server at {base} answered HTTP {response.status_code} "
            f"(is the {plugin} plugin running there?)",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ServerAnswer(base, problem=f"the server at {base} did not answer JSON")
    return ServerAnswer(base, status=body)


def windows_heading(
    answer: ServerAnswer, *, seen_at: str | None, has_windows: bool, now: float | None = None
) -> str:
    """The line above the provider's window lines (or the only line when there are none)."""
    if answer.problem is not None:
        hint = (
            " Start `ccproxy serve` (or pass --port); a running server keeps the last windows "
            "it saw."
            if answer.problem.startswith("no server answered")
            else ""
        )
        return f"Rate-limit windows: unknown, {answer.problem}.{hint}"
    if not has_windows:
        return (
            f"Rate-limit windows (server at {answer.url}): none seen yet "
            "(they arrive with the first proxied request)."
        )
    seen = f", last seen {moment_in_words(seen_at, now=now)}" if seen_at else ""
    return f"Rate-limit windows (server at {answer.url}{seen}):"
