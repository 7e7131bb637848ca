"""The Codex CLI's auth.json format, and a TokenManager refreshing it against the strict fake.

Moved from core with the format: ``ccproxy.auth`` is provider-neutral.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy.auth import CredentialFile, CredentialFormat, Credentials, TokenManager
from ccproxy.plugins import (
    AuthTokenRefreshed,
    HookEvent,
    HookManager,
    HookPayload,
    get_plugin_logger,
)
from ccproxy.testing import FakeCodexOAuth
from ccproxy.testing.fakes import CODEX_CLIENT_ID, make_jwt
from ccproxy_plugin_codex.config import CodexOAuthConfig
from ccproxy_plugin_codex.credentials import CodexCredentialFormat
from ccproxy_plugin_codex.oauth_provider import oauth_provider


class Clock:
    """Epoch seconds that move only when a test says so (shared by the fake and the manager)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Recorder:
    name = "recorder"
    priority = 0

    def __init__(self) -> None:
        self.events = [HookEvent.AUTH_TOKEN_REFRESHED]
        self.seen: list[HookPayload] = []

    async def __call__(self, event: HookPayload) -> None:
        self.seen.append(event)

    def refreshed(self) -> list[AuthTokenRefreshed]:
        return [event for event in self.seen if isinstance(event, AuthTokenRefreshed)]


@dataclass
class Setup:
    fake: FakeCodexOAuth
    minted: dict[str, Any]
    path: Path
    manager: TokenManager
    hooks: Recorder

    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.path.read_text())
        return result


@pytest.fixture
async def codex(tmp_path: Path, clock: Clock) -> AsyncIterator[Any]:
    """``codex(expires_in=...)``: a manager over an auth.json the fake minted, with unknown keys."""
    clients: list[httpx.AsyncClient] = []

    def make(*, expires_in: float = 3600) -> Setup:
        fake = FakeCodexOAuth(clock=clock, account_id="acct-codex-9", plan_type="team")
        minted = fake.mint_credentials(expires_in=expires_in)
        data = FakeCodexOAuth.auth_json(minted)
        data["last_refresh"] = "2024-01-01T00:00:00Z"
        data["newer_cli_key"] = {"kept": True}
        data["tokens"]["future_field"] = "kept-too"
        path = tmp_path / ".codex" / "auth.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(data))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake")
        clients.append(http)
        recorder = Recorder()
        hooks = HookManager(get_plugin_logger("test"))
        hooks.register(recorder, plugin="test")
        config = CodexOAuthConfig(
            token_url="http://fake/oauth/token",
            client_id=CODEX_CLIENT_ID,
            scopes="openid profile email",
        )
        manager = TokenManager(
            CredentialFile(path),
            CodexCredentialFormat(clock=clock),
            oauth_provider.token_client(config, http),
            provider="codex",
            hooks=hooks,
            clock=clock,
        )
        return Setup(fake, minted, path, manager, recorder)

    yield make
    for client in clients:
        await client.aclose()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_format_satisfies_the_protocol() -> None:
    assert isinstance(CodexCredentialFormat(), CredentialFormat)


def test_codex_format_reads_expiry_account_and_plan_from_jwts(clock: Any) -> None:
    fake = FakeCodexOAuth(clock=clock, account_id="acct-42", plan_type="plus")
    minted = fake.mint_credentials(expires_in=7200)
    data = FakeCodexOAuth.auth_json(minted)
    del data["tokens"]["account_id"]  # older files: the id token's claim is the source
    creds = CodexCredentialFormat().load(data)
    assert creds is not None
    assert creds.access_token == minted["access_token"]
    assert creds.refresh_token == minted["refresh_token"]
    assert creds.id_token == minted["id_token"]
    assert creds.expires_at == datetime.fromtimestamp(int(clock.now + 7200), UTC)
    assert creds.account_id == "acct-42"
    assert creds.plan == "plus"
    assert "offline_access" in creds.scopes


def test_codex_format_prefers_the_files_account_id() -> None:
    data = {"tokens": {"access_token": "not-a-jwt", "account_id": "chosen"}}
    creds = CodexCredentialFormat().load(data)
    assert creds is not None and creds.account_id == "chosen" and creds.expires_at is None


@pytest.mark.parametrize(
    "data", [{}, {"OPENAI_API_KEY": "sk-x", "tokens": None}, {"tokens": {"id_token": "x"}}]
)
def test_codex_format_without_access_token_is_none(data: dict[str, Any]) -> None:
    assert CodexCredentialFormat().load(data) is None


def test_codex_format_dump_keeps_unknown_keys_and_stamps_last_refresh(clock: Any) -> None:
    data: dict[str, Any] = {
        "OPENAI_API_KEY": None,
        "tokens": {"access_token": "a", "refresh_token": "r", "account_id": "acct", "x": 1},
        "last_refresh": "2020-01-01T00:00:00Z",
        "future_key": {"kept": True},
    }
    creds = Credentials(access_token="a2", refresh_token="r2", id_token="i2", account_id="acct")
    CodexCredentialFormat(clock=clock).dump(creds, data)
    assert data == {
        "OPENAI_API_KEY": None,
        "tokens": {
            "access_token": "a2",
            "refresh_token": "r2",
            "id_token": "i2",
            "account_id": "acct",
            "x": 1,
        },
        "last_refresh": datetime.fromtimestamp(clock.now, UTC).isoformat().replace("+00:00", "Z"),
        "future_key": {"kept": True},
    }


def test_codex_format_dump_into_empty_file_has_codex_shape(clock: Any) -> None:
    id_token = make_jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-x"}})
    data = CodexCredentialFormat(clock=clock).dump(
        Credentials(access_token="a", refresh_token="r", id_token=id_token), {}
    )
    assert data["OPENAI_API_KEY"] is None
    assert data["tokens"]["account_id"] == "acct-x"
    assert data["last_refresh"].endswith("Z")


async def test_codex_refresh_updates_tokens_and_last_refresh_keeping_unknown_keys(
    codex: Any, clock: Any
) -> None:
    s = codex()
    account = s.manager.account()
    assert account.id == "acct-codex-9" and account.plan == "team"
    assert account.expires_at == datetime.fromtimestamp(int(clock.now + 3600), UTC)
    assert account.source == f"file:{s.path}"
    clock.advance(60)
    token = await s.manager.refresh(rejected=s.minted["access_token"])
    assert s.fake.refresh_count == 1 and s.fake.is_valid_access_token(token)
    data = s.data()
    assert data["tokens"]["access_token"] == token
    assert data["tokens"]["refresh_token"] != s.minted["refresh_token"]
    assert data["tokens"]["id_token"] != s.minted["id_token"]
    assert data["tokens"]["account_id"] == "acct-codex-9"
    assert data["tokens"]["future_field"] == "kept-too"
    assert data["newer_cli_key"] == {"kept": True}
    assert data["OPENAI_API_KEY"] is None
    assert data["last_refresh"] == datetime.fromtimestamp(clock.now, UTC).isoformat().replace(
        "+00:00", "Z"
    )
    assert file_mode(s.path) == 0o600
    refreshed = s.manager.account()
    assert refreshed.expires_at == datetime.fromtimestamp(
        int(clock.now + s.fake.access_token_ttl), UTC
    )
    [event] = s.hooks.refreshed()
    assert event.account_id == "acct-codex-9" and event.provider == "codex"


async def test_codex_status_for_the_cli(codex: Any, clock: Any) -> None:
    s = codex(expires_in=7200)
    status = s.manager.status()
    assert status == {
        "provider": "codex",
        "source": f"file:{s.path}",
        "path": str(s.path),
        "has_credentials": True,
        "account_id": "acct-codex-9",
        "plan": "team",
        "scopes": list(s.fake.default_scopes),
        "expires_at": datetime.fromtimestamp(int(clock.now + 7200), UTC).isoformat(),
        "expires_in_seconds": 7200,
        "expired": False,
        "refreshable": True,
    }
