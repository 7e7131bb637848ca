"""GitHub's side of Copilot for the fake: the device flow, GitHub tokens and minted Copilot tokens.

Plain state with no HTTP: :class:`~ccproxy.testing.fakes.copilot.FakeCopilot` serves it. Expiry
follows the clock it is given.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "COPILOT_CLIENT_ID",
    "DEVICE_ERROR_URI",
    "DEVICE_GRANT_TYPE",
    "CopilotToken",
    "DeviceLogin",
    "DeviceRefusal",
    "GitHubAccounts",
]

COPILOT_CLIENT_ID = "Iv1.b507a08c87ecfe98"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_ERROR_URI = (
    "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
)
VERIFICATION_URI = "https://github.com/login/device"

_DESCRIPTIONS = {
    "authorization_pending": "The authorization request is still pending.",
    "slow_down": "Too many requests have been made in the same timeframe.",
    "expired_token": "The device_code has expired.",  # nosec B105 # an error text
    "access_denied": "The authorization request was denied.",
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "incorrect_device_code": "The device_code provided is not valid.",
    "unsupported_grant_type": "The grant type is not supported.",
}
_SKUS = {
    "free": "free_limited_copilot",
    "individual": "monthly_subscriber",
    "individual_pro": "monthly_subscriber",
    "business": "copilot_for_business_seat",
    "enterprise": "copilot_enterprise_seat",
}
_USER_CODE_ALPHABET = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"


class DeviceRefusal(Exception):
    """A device-flow error: GitHub answers HTTP 200 with an ``error`` field."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": _DESCRIPTIONS.get(self.error, self.error),
            "error_uri": DEVICE_ERROR_URI,
            **self.extra,
        }


@dataclass
class DeviceLogin:
    """One device-code login, pending until the test approves or denies its user code."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: int
    state: Literal["pending", "approved", "denied", "delivered"] = "pending"
    user: str = "octocat"
    last_poll: float | None = None


@dataclass
class CopilotToken:
    """A minted Copilot token and the GitHub token it was minted with."""

    value: str
    github_token: str
    user: str
    expires_at: float
    expired: bool = False  # forced by ``expire_copilot_tokens``


class GitHubAccounts:
    """Device logins, GitHub tokens (and their users) and minted Copilot tokens."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        client_id: str,
        device_lifetime_seconds: float,
        device_interval: int,
        enforce_poll_interval: bool,
    ) -> None:
        self.clock = clock
        self.client_id = client_id
        self.device_lifetime_seconds = device_lifetime_seconds
        self.device_interval = device_interval
        self.enforce_poll_interval = enforce_poll_interval
        self.devices: dict[str, DeviceLogin] = {}
        self.github_tokens: set[str] = set()
        self.users: dict[str, str] = {}  # GitHub token → login (default ``octocat``)
        self.revoked: set[str] = set()
        self.minted: dict[str, CopilotToken] = {}
        self.slow_down_next = False
        self.poll_count = 0

    # GitHub tokens ---------------------------------------------------------------------------

    def issue_github_token(self, user: str) -> str:
        token = "gho_" + "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(36)
        )
        self.github_tokens.add(token)
        self.users[token] = user
        return token

    def user_for(self, github_token: str) -> str | None:
        """The login of a live GitHub token (``None``: unknown or revoked)."""
        if github_token in self.revoked or github_token not in self.github_tokens:
            return None
        return self.users.get(github_token, "octocat")

    # device flow -----------------------------------------------------------------------------

    def start(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /login/device/code``."""
        if params.get("client_id") != self.client_id:
            raise DeviceRefusal("incorrect_client_credentials")
        device = DeviceLogin(
            device_code=secrets.token_hex(20),
            user_code=self._user_code(),
            client_id=self.client_id,
            scope=params.get("scope", ""),
            expires_at=self.clock() + self.device_lifetime_seconds,
            interval=self.device_interval,
        )
        self.devices[device.device_code] = device
        return {
            "device_code": device.device_code,
            "user_code": device.user_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": int(self.device_lifetime_seconds),
            "interval": device.interval,
        }

    def poll(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /login/oauth/access_token``: the GitHub token, or a :class:`DeviceRefusal`."""
        self.poll_count += 1
        if params.get("client_id") != self.client_id:
            raise DeviceRefusal("incorrect_client_credentials")
        if params.get("grant_type") != DEVICE_GRANT_TYPE:
            raise DeviceRefusal("unsupported_grant_type")
        device = self.devices.get(params.get("device_code", ""))
        if device is None or device.state == "delivered":
            raise DeviceRefusal("incorrect_device_code")
        now = self.clock()
        if now >= device.expires_at:
            raise DeviceRefusal("expired_token")
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if self.slow_down_next or (self.enforce_poll_interval and too_soon):
            self.slow_down_next = False
            device.interval += 5
            raise DeviceRefusal("slow_down", interval=device.interval)
        if device.state == "denied":
            raise DeviceRefusal("access_denied")
        if device.state == "pending":
            raise DeviceRefusal("authorization_pending")
        device.state = "delivered"
        return {
            "access_token": self.issue_github_token(device.user),
            "token_type": "bearer",  # nosec B105 # the OAuth token type name
            "scope": device.scope,
        }

    def decide(self, user_code: str, state: Literal["approved", "denied"], user: str) -> None:
        for device in self.devices.values():
            if device.user_code == user_code and device.state == "pending":
                device.state, device.user = state, user
                return
        raise KeyError(f"no pending device login with user code {user_code!r}")

    def _user_code(self) -> str:
        letters = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        return f"{letters[:4]}-{letters[4:]}"

    # Copilot tokens --------------------------------------------------------------------------

    def mint(self, github_token: str, *, lifetime: float, plan: str) -> CopilotToken:
        user = self.users.get(github_token, "octocat")
        expires_at = int(self.clock() + lifetime)
        sku = sku_for(plan)
        value = (
            f"tid={secrets.token_hex(16)};exp={expires_at};sku={sku};"
            f"proxy-ep=proxy.individual.githubcopilot.com;st=dotcom;chat=1;cit=1;malfil=1;"
            f"editor_preview_features=1;ccr=1;rt=1;8kp=1:{secrets.token_hex(32)}"
        )
        token = CopilotToken(value, github_token, user, float(expires_at))
        self.minted[value] = token
        return token

    def copilot_status(self, value: str) -> Literal["valid", "expired", "unknown"]:
        token = self.minted.get(value)
        if token is None:
            return "unknown"
        if token.expired or token.expires_at <= self.clock():
            return "expired"
        return "valid"

    def valid_copilot_tokens(self) -> set[str]:
        return {value for value in self.minted if self.copilot_status(value) == "valid"}

    def expire_all(self) -> None:
        for token in self.minted.values():
            token.expired = True


def sku_for(plan: str) -> str:
    """The ``sku`` the token endpoint reports for a ``copilot_plan``."""
    return _SKUS.get(plan, f"{plan}_subscriber")
