"""What the GitHub token is used for: minting Copilot tokens, and reading the plan and quota.

``GET {github_api_url}/copilot_internal/v2/token`` (``authorization: token <github token>``)
answers the short-lived Copilot token the Copilot API takes, with ``expires_at`` (unix s),
``refresh_in`` (s), ``endpoints.api`` (the API base of this account's plan) and ``sku``.
``GET {github_api_url}/copilot_internal/user`` answers the plan, the quota snapshots
(``premium_interactions``, ``chat``, ``completions``) and ``quota_reset_date``.

A mint refused with 401/403/404 means the GitHub token (or its Copilot access) is gone: a lasting
failure. An unreachable endpoint, a 429, a 5xx or a 403 that is GitHub's secondary rate limit
(with ``retry-after`` or ``x-ratelimit-remaining: 0``) may pass. No message repeats a token or a body.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from ccproxy.auth import CredentialError, ExchangedToken
from ccproxy_plugin_copilot.auth_config import CopilotOAuthConfig

__all__ = [
    "MINT_PATH",
    "USER_PATH",
    "CopilotTokenMint",
    "UsageError",
    "fetch_usage",
    "github_headers",
    "usage_lines",
]

MINT_PATH: Final = "/copilot_internal/v2/token"
USER_PATH: Final = "/copilot_internal/user"
_QUOTAS: Final = {
    "premium_interactions": "premium_requests",
    "chat": "chat",
    "completions": "completions",
}
_QUOTA_FIELDS: Final = (
    "entitlement",
    "remaining",
    "percent_remaining",
    "unlimited",
    "overage_permitted",
    "overage_count",
)
_REFUSED: Final = {
    401: "GitHub refused the token (revoked or expired)",
    403: "GitHub refused a Copilot token for this account (no Copilot access, or blocked)",
    404: "this GitHub account has no Copilot subscription",
}


def github_headers(config: CopilotOAuthConfig, github_token: str) -> dict[str, str]:
    """The headers of a GitHub API call made with the GitHub token."""
    return {
        **config.extra_headers,
        "authorization": f"token {github_token}",
        "accept": "application/json",
        "x-github-api-version": config.api_version,
    }


class CopilotTokenMint:
    """The :class:`~ccproxy.auth.TokenExchange` of the ``oauth.copilot`` sources."""

    def __init__(self, config: CopilotOAuthConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    @property
    def url(self) -> str:
        """Where Copilot tokens are minted."""
        return self.config.api(MINT_PATH)

    async def exchange(self, grant: str) -> ExchangedToken:
        """A Copilot token for the GitHub token ``grant``."""
        try:
            response = await self.http.get(
                self.url,
                headers=github_headers(self.config, grant),
                timeout=self.config.request_timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise CredentialError(
                f"{self.url} could not be reached ({type(exc).__name__})", lasting=False
            ) from None
        status = response.status_code
        if status == 403 and _rate_limited(response.headers):
            raise CredentialError(
                f"{self.url} is rate limiting this account: HTTP 403 (secondary rate limit)",
                lasting=False,
            )
        if status in _REFUSED:
            raise CredentialError(f"{_REFUSED[status]}: HTTP {status} from {self.url}")
        if status != 200:
            raise CredentialError(f"{self.url} answered HTTP {status}", lasting=False)
        payload = _json_object(response)
        token = payload.get("token") if payload else None
        if payload is None or not isinstance(token, str) or not token:
            raise CredentialError(f"{self.url} answered without a token", lasting=False)
        endpoints = payload.get("endpoints")
        api = endpoints.get("api") if isinstance(endpoints, Mapping) else None
        sku = _text(payload.get("sku"))
        facts = {"sku": sku, "chat_enabled": payload.get("chat_enabled")}
        return ExchangedToken(
            token,
            expires_at=_moment(payload.get("expires_at")),
            refresh_after_seconds=_number(payload.get("refresh_in")),
            plan=sku,
            api_base=_text(api),
            facts={k: v for k, v in facts.items() if v is not None},
        )


class UsageError(Exception):
    """The plan and quota could not be read; the message says why (no secret)."""


async def fetch_usage(
    config: CopilotOAuthConfig, http: httpx.AsyncClient, github_token: str
) -> dict[str, Any]:
    """The account's plan and quotas from ``/copilot_internal/user``, normalised::

        {"user", "plan", "quota_reset_date",
         "quotas": {"premium_requests" | "chat" | "completions":
                    {"entitlement", "remaining", "percent_remaining", "unlimited", ...}}}

    Raises :class:`UsageError`.
    """
    url = config.api(USER_PATH)
    try:
        response = await http.get(
            url,
            headers=github_headers(config, github_token),
            timeout=config.request_timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise UsageError(f"{url} could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise UsageError(f"{url} answered HTTP {response.status_code}")
    payload = _json_object(response)
    if payload is None:
        raise UsageError(f"{url} did not answer a JSON object")
    snapshots = payload.get("quota_snapshots")
    snapshots = snapshots if isinstance(snapshots, Mapping) else {}
    quotas = {}
    for name, label in _QUOTAS.items():
        snapshot = snapshots.get(name)
        if isinstance(snapshot, Mapping):
            quotas[label] = {k: snapshot[k] for k in _QUOTA_FIELDS if k in snapshot}
    return {
        "user": _text(payload.get("login")),
        "plan": _text(payload.get("copilot_plan")) or _text(payload.get("access_type_sku")),
        "quota_reset_date": _text(payload.get("quota_reset_date")),
        "quotas": quotas,
    }


def usage_lines(usage: Mapping[str, Any], *, indent: str = "  ") -> list[str]:
    """``usage`` (as :func:`fetch_usage` answers) in words."""
    lines = []
    if usage.get("user"):
        lines.append(f"{indent}GitHub user:      {usage['user']}")
    lines.append(f"{indent}Copilot plan:     {usage.get('plan') or 'unknown'}")
    quotas = usage.get("quotas") or {}
    reset = usage.get("quota_reset_date")
    for label, title in (("premium_requests", "premium requests"), ("chat", "chat")):
        quota = quotas.get(label)
        if not isinstance(quota, Mapping):
            continue
        if quota.get("unlimited"):
            text = "unlimited"
        else:
            left, total = quota.get("remaining"), quota.get("entitlement")
            text = f"{_amount(left)} of {_amount(total)} left"
            percent = quota.get("percent_remaining")
            if isinstance(percent, int | float):
                text += f" ({percent:.0f}%)"
            if reset:
                text += f", resets {reset}"
        lines.append(f"{indent}{(title + ':').ljust(17)} {text}")
    return lines


def _amount(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else "?"


def _rate_limited(headers: Mapping[str, str]) -> bool:
    """Whether a 403 is GitHub's (secondary) rate limit: ``retry-after``, or no requests left
    in the window (``x-ratelimit-remaining: 0``)."""
    if headers.get("retry-after") is not None:
        return True
    return (headers.get("x-ratelimit-remaining") or "").strip() == "0"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _moment(value: object) -> datetime | None:
    seconds = _number(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
