"""``ccproxy auth status <provider>`` with several accounts: the rows and the table.

The rows have the shape of ``GET /api/accounts`` (``name``, ``state``, ``reason``,
``cooldown_until``, ``windows``, ``windows_seen_at``, ``credentials``): the running server's when
it answers, else built from the files alone (``ready`` or ``invalid`` by the credential; no
cooldown is known without the server). Only the standard library is imported at module level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ccproxy.cli.auth_status import moment_in_words

__all__ = ["account_table", "local_rows"]


def local_rows(credentials: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows like the server's from each account's credential facts alone."""
    rows = []
    for name, facts in credentials.items():
        problem = _credential_problem(facts)
        rows.append(
            {
                "name": name,
                "state": "invalid" if problem else "ready",
                "reason": problem,
                "cooldown_until": None,
                "windows": {},
                "windows_seen_at": None,
                "credentials": dict(facts),
            }
        )
    return rows


def _credential_problem(facts: Mapping[str, Any]) -> str | None:
    if not facts.get("has_credentials"):
        return str(facts.get("error") or "not logged in")
    if facts.get("expired") and not facts.get("refreshable"):
        return "the access token has expired and cannot be refreshed"
    return None


def account_table(rows: Sequence[Mapping[str, Any]], *, now: float | None = None) -> list[str]:
    """One line per account: name, state, plan, token expiry and the cooldown's end."""
    header = ("ACCOUNT", "STATE", "PLAN", "TOKEN EXPIRES", "COOLING DOWN UNTIL")
    table = [header]
    for row in rows:
        facts = row.get("credentials") or {}
        if not facts.get("has_credentials"):
            expires = "-"
        elif facts.get("expires_at") is None:
            expires = "never" if facts.get("path") is None else "unknown"
        else:
            expires = moment_in_words(facts.get("expires_at"), now=now)
            if facts.get("expired"):
                expires = f"EXPIRED {expires}"
        cooldown = row.get("cooldown_until")
        table.append(
            (
                str(row.get("name")),
                str(row.get("state")),
                str(facts.get("plan") or "-"),
                expires,
                moment_in_words(cooldown, now=now) if cooldown else "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    for row in rows:
        if row.get("reason"):
            lines.append(f"  {row.get('name')}: {row.get('reason')}")
    return lines
