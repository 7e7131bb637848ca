"""Claude Code's credential file format (moved from core with the format)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ccproxy.auth import CredentialFormat, Credentials
from ccproxy_plugin_claude.credentials import ClaudeCredentialFormat


def test_the_format_satisfies_the_protocol() -> None:
    assert isinstance(ClaudeCredentialFormat(), CredentialFormat)


def test_the_account_ccproxy_learnt_is_kept_beside_claude_codes_keys() -> None:
    data: dict[str, Any] = {"claudeAiOauth": {"accessToken": "a", "rateLimitTier": "x"}}
    ClaudeCredentialFormat().dump(Credentials(access_token="b", account_id="me@example.com"), data)
    assert data["claudeAiOauth"]["ccproxyAccount"] == "me@example.com"
    assert data["claudeAiOauth"]["rateLimitTier"] == "x"
    creds = ClaudeCredentialFormat().load(data)
    assert creds is not None and creds.account_id == "me@example.com"
    ClaudeCredentialFormat().dump(Credentials(access_token="c"), data)
    assert "ccproxyAccount" not in data["claudeAiOauth"]


def test_claude_format_loads_claude_code_file() -> None:
    data = {
        "claudeAiOauth": {
            "accessToken": "sk-ant-oat01-a",
            "refreshToken": "sk-ant-ort01-r",
            "expiresAt": 1_700_000_000_500,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
    creds = ClaudeCredentialFormat().load(data)
    assert creds is not None
    assert creds.access_token == "sk-ant-oat01-a"
    assert creds.refresh_token == "sk-ant-ort01-r"
    assert creds.expires_at == datetime.fromtimestamp(1_700_000_000.5, UTC)
    assert creds.scopes == ("user:inference", "user:profile")
    assert creds.plan == "max"
    assert creds.account_id is None


@pytest.mark.parametrize(
    "data",
    [{}, {"claudeAiOauth": None}, {"claudeAiOauth": {"refreshToken": "r"}}, {"other": 1}],
)
def test_claude_format_without_access_token_is_none(data: dict[str, Any]) -> None:
    assert ClaudeCredentialFormat().load(data) is None


def test_claude_format_dump_keeps_unknown_keys_at_both_levels() -> None:
    data: dict[str, Any] = {
        "claudeAiOauth": {
            "accessToken": "old",
            "refreshToken": "old-r",
            "expiresAt": 1,
            "scopes": [],
            "subscriptionType": "pro",
            "rateLimitTier": "default_claude_max_20x",
        },
        "mcpOAuth": {"server": {"token": "keep"}},
    }
    creds = Credentials(
        access_token="new",
        refresh_token="new-r",
        expires_at=datetime.fromtimestamp(1_700_000_000, UTC),
        scopes=("user:inference",),
    )
    out = ClaudeCredentialFormat().dump(creds, data)
    assert out is data
    assert data == {
        "claudeAiOauth": {
            "accessToken": "new",
            "refreshToken": "new-r",
            "expiresAt": 1_700_000_000_000,
            "scopes": ["user:inference"],
            "subscriptionType": "pro",  # no plan given: left alone
            "rateLimitTier": "default_claude_max_20x",
        },
        "mcpOAuth": {"server": {"token": "keep"}},
    }
    assert ClaudeCredentialFormat().load(data) == Credentials(
        access_token="new",
        refresh_token="new-r",
        expires_at=datetime.fromtimestamp(1_700_000_000, UTC),
        scopes=("user:inference",),
        plan="pro",
    )
