"""TokenManager against the strict fake token endpoints: proactive, reactive, single flight."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from ccproxy.auth import (
    CredentialError,
    CredentialFile,
    OAuthTokenClient,
    PKCEPair,
    RefreshError,
    TokenManager,
    TokenReply,
)
from ccproxy.logging import get_logger
from ccproxy.plugins import AuthFailed, AuthTokenRefreshed, HookEvent, HookManager, HookPayload
from ccproxy.services import AccountInfo, TokenSource
from ccproxy.testing import FakeClaudeOAuth, FakeCodexOAuth
from ccproxy.testing.fakes import CLAUDE_CLIENT_ID
from demo_format import DemoFormat

HINT = "ccproxy auth login"


def json_client(http: httpx.AsyncClient, **kwargs: Any) -> OAuthTokenClient:
    """The token client as the test provider configures it: JSON bodies, state in exchanges."""
    return OAuthTokenClient(http, body="json", send_state=True, **kwargs)


class Recorder:
    """A hook that keeps every auth event it sees."""

    name = "recorder"
    priority = 0

    def __init__(self) -> None:
        self.events = [HookEvent.AUTH_TOKEN_REFRESHED, HookEvent.AUTH_FAILED]
        self.seen: list[HookPayload] = []

    async def __call__(self, event: HookPayload) -> None:
        self.seen.append(event)

    def refreshed(self) -> list[AuthTokenRefreshed]:
        return [event for event in self.seen if isinstance(event, AuthTokenRefreshed)]

    def failed(self) -> list[AuthFailed]:
        return [event for event in self.seen if isinstance(event, AuthFailed)]


@dataclass
class Setup:
    fake: Any
    minted: dict[str, Any]
    path: Path
    manager: TokenManager
    hooks: Recorder
    http: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.path.read_text())
        return result

    def secrets(self) -> set[str]:
        """Every token the fake ever issued (access, refresh, id)."""
        return set(self.fake.issued_tokens)


def hook_manager(recorder: Recorder) -> HookManager:
    hooks = HookManager(get_logger("test.auth"))
    hooks.register(recorder, plugin="test")
    return hooks


@pytest.fixture
def claude(tmp_path: Path, clock: Any, http_for: Any) -> Callable[..., Setup]:
    def make(
        *,
        expires_in: float = 3600,
        file_extra: dict[str, Any] | None = None,
        oauth_extra: dict[str, Any] | None = None,
        transport: Any = None,
        wrap_client: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> Setup:
        fake = FakeClaudeOAuth(clock=clock)
        minted = fake.mint_credentials(expires_in=expires_in)
        data = FakeClaudeOAuth.credentials_file(minted)
        data["claudeAiOauth"].update(oauth_extra or {})
        data.update(file_extra or {})
        path = tmp_path / ".claude" / ".credentials.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(data))
        recorder = Recorder()
        http = http_for(transport or fake)
        client: Any = json_client(
            http, token_url="http://fake/v1/oauth/token", client_id=CLAUDE_CLIENT_ID
        )
        manager = TokenManager(
            CredentialFile(path),
            DemoFormat(),
            wrap_client(client) if wrap_client else client,
            provider="claude",
            hooks=hook_manager(recorder),
            clock=clock,
            **kwargs,
        )
        return Setup(fake, minted, path, manager, recorder, http)

    return make


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- serving and proactive refresh ---------------------------------------------------------


async def test_manager_is_a_token_source(claude: Callable[..., Setup]) -> None:
    s = claude()
    assert isinstance(s.manager, TokenSource)


async def test_fresh_token_is_served_without_endpoint_calls(claude: Callable[..., Setup]) -> None:
    s = claude()
    for _ in range(5):
        assert await s.manager.access_token() == s.minted["access_token"]
    assert s.fake.refresh_count == 0
    assert s.hooks.seen == []


async def test_proactive_refresh_happens_inside_the_margin_only(
    claude: Callable[..., Setup], clock: Any
) -> None:
    s = claude(expires_in=3600)
    clock.advance(3600 - 301)
    assert await s.manager.access_token() == s.minted["access_token"]
    assert s.fake.refresh_count == 0
    clock.advance(2)  # now 299 s before expiry: inside the default 300 s margin
    token = await s.manager.access_token()
    assert token != s.minted["access_token"]
    assert s.fake.refresh_count == 1
    assert s.fake.is_valid_access_token(token)
    oauth = s.data()["claudeAiOauth"]
    assert oauth["accessToken"] == token
    assert oauth["expiresAt"] == int((clock.now + s.fake.access_token_ttl) * 1000)
    assert await s.manager.access_token() == token
    assert s.fake.refresh_count == 1
    [event] = s.hooks.refreshed()
    assert event.provider == "claude" and event.trigger == "proactive"


async def test_rewrites_by_other_programs_are_noticed_without_refresh(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    assert await s.manager.access_token() == s.minted["access_token"]
    other = s.fake.mint_credentials(expires_in=7200)
    s.path.write_text(json.dumps(FakeClaudeOAuth.credentials_file(other)))
    assert await s.manager.access_token() == other["access_token"]
    assert s.fake.refresh_count == 0


# --- reactive refresh and single flight ----------------------------------------------------


async def test_rejected_token_already_rotated_by_another_process(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    rejected = await s.manager.access_token()
    # Claude Code refreshed meanwhile and wrote the file.
    rotated = s.fake.mint_credentials(expires_in=7200)
    CredentialFile(s.path).write(FakeClaudeOAuth.credentials_file(rotated))
    assert await s.manager.refresh(rejected=rejected) == rotated["access_token"]
    assert s.fake.refresh_count == 0
    assert s.hooks.seen == []


async def test_twenty_concurrent_refreshes_make_one_endpoint_call(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    rejected = s.minted["access_token"]
    results = await asyncio.wait_for(
        asyncio.gather(*(s.manager.refresh(rejected=rejected) for _ in range(20))), timeout=10
    )
    assert s.fake.refresh_count == 1
    assert len(set(results)) == 1
    assert results[0] != rejected and s.fake.is_valid_access_token(results[0])
    assert len(s.hooks.refreshed()) == 1


async def test_rotated_refresh_token_is_persisted_and_the_old_one_refused(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    old_refresh = s.minted["refresh_token"]
    await s.manager.refresh(rejected=s.minted["access_token"])
    new_refresh = s.data()["claudeAiOauth"]["refreshToken"]
    assert new_refresh != old_refresh
    assert s.fake.token_status(old_refresh) == "used"
    assert s.fake.token_status(new_refresh) == "valid"
    client = json_client(s.http, token_url="http://fake/v1/oauth/token", client_id=CLAUDE_CLIENT_ID)
    with pytest.raises(RefreshError):
        await client.refresh(old_refresh)
    # The persisted one works: a forced refresh goes through.
    forced = await s.manager.refresh(None)
    assert s.fake.is_valid_access_token(forced)
    assert s.fake.refresh_count == 3


async def test_reply_without_refresh_token_keeps_the_old_one(
    claude: Callable[..., Setup], clock: Any
) -> None:
    calls: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(200, json={"access_token": "sk-ant-oat01-new", "expires_in": 600})

    s = claude(transport=httpx.MockTransport(handler))
    assert await s.manager.refresh(rejected=s.minted["access_token"]) == "sk-ant-oat01-new"
    oauth = s.data()["claudeAiOauth"]
    assert oauth["refreshToken"] == s.minted["refresh_token"]
    assert oauth["expiresAt"] == int((clock.now + 600) * 1000)
    assert calls[0]["refresh_token"] == s.minted["refresh_token"]


@pytest.mark.parametrize("expires_in", [1e20, 1e300, "1e400", "NaN", "-Infinity", "9" * 400])
async def test_an_out_of_calendar_expires_in_does_not_lose_the_rotated_tokens(
    claude: Callable[..., Setup], expires_in: Any
) -> None:
    """The refresh token has rotated by the time the reply is read: a nonsense ``expires_in``
    must not stop the new tokens from being saved (the expiry is then unknown)."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = (
            '{"access_token": "sk-ant-oat01-new", "refresh_token": "sk-ant-ort01-new", '
            f'"expires_in": {expires_in}}}'
        )
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    s = claude(transport=httpx.MockTransport(handler))
    assert await s.manager.refresh(rejected=s.minted["access_token"]) == "sk-ant-oat01-new"
    assert s.data()["claudeAiOauth"]["refreshToken"] == "sk-ant-ort01-new"


async def test_unknown_keys_survive_and_mode_becomes_0600(claude: Callable[..., Setup]) -> None:
    s = claude(
        file_extra={"mcpOAuth": {"srv": {"accessToken": "other"}}, "version": 3},
        oauth_extra={"rateLimitTier": "max_20x", "newField": [1, 2]},
    )
    s.path.chmod(0o644)
    await s.manager.refresh(rejected=s.minted["access_token"])
    data = s.data()
    assert data["mcpOAuth"] == {"srv": {"accessToken": "other"}} and data["version"] == 3
    assert data["claudeAiOauth"]["rateLimitTier"] == "max_20x"
    assert data["claudeAiOauth"]["newField"] == [1, 2]
    assert data["claudeAiOauth"]["subscriptionType"] == "max"
    assert file_mode(s.path) == 0o600
    names = {p.name for p in s.path.parent.iterdir()}
    assert names == {".credentials.json", ".credentials.json.lock"}  # no backups, no temp files


async def test_cancelled_caller_does_not_lose_a_rotated_token(
    claude: Callable[..., Setup],
) -> None:
    gate = asyncio.Event()

    class SlowClient:
        def __init__(self, real: OAuthTokenClient) -> None:
            self.real = real

        async def refresh(self, refresh_token: str) -> TokenReply:
            reply = await self.real.refresh(refresh_token)  # the server has rotated now
            await gate.wait()
            return reply

    s = claude(wrap_client=SlowClient)
    caller = asyncio.create_task(s.manager.refresh(rejected=s.minted["access_token"]))
    for _ in range(100):
        if s.fake.refresh_count:
            break
        await asyncio.sleep(0.01)
    assert s.fake.token_status(s.minted["refresh_token"]) == "used"
    caller.cancel()  # e.g. the client hung up while its request waited for the refresh
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    for _ in range(100):
        if s.data()["claudeAiOauth"]["accessToken"] != s.minted["access_token"]:
            break
        await asyncio.sleep(0.01)
    stored = s.data()["claudeAiOauth"]
    assert s.fake.is_valid_access_token(stored["accessToken"])
    assert s.fake.token_status(stored["refreshToken"]) == "valid"


HOLD_AND_ROTATE = textwrap.dedent(
    """
    import os, sys, time
    import filelock
    lock_path, staged, target = sys.argv[1], sys.argv[2], sys.argv[3]
    with filelock.FileLock(lock_path):
        print("locked", flush=True)
        time.sleep(0.4)
        os.replace(staged, target)
    """
)


async def test_refresh_waits_for_another_process_holding_the_lock(
    claude: Callable[..., Setup], tmp_path: Path
) -> None:
    """Another ccproxy holds the lock while it refreshes; we wait, re-read, and reuse its token."""
    s = claude()
    rotated = s.fake.mint_credentials(expires_in=7200)
    staged = tmp_path / "staged.json"
    staged.write_text(json.dumps(FakeClaudeOAuth.credentials_file(rotated)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_AND_ROTATE,
        str(s.manager.file.lock_path),
        str(staged),
        str(s.path),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).strip() == b"locked"
        started = time.monotonic()
        token = await asyncio.wait_for(
            s.manager.refresh(rejected=s.minted["access_token"]), timeout=10
        )
        waited = time.monotonic() - started
    finally:
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.returncode == 0
    assert waited >= 0.2
    assert token == rotated["access_token"]
    assert s.fake.refresh_count == 0


# --- failures ------------------------------------------------------------------------------


async def test_expired_token_and_failed_refresh_raise_with_login_hint(
    claude: Callable[..., Setup], clock: Any
) -> None:
    s = claude()
    s.fake.revoke(s.minted["refresh_token"])
    clock.advance(3601)
    with pytest.raises(CredentialError) as info:
        await s.manager.access_token()
    message = str(info.value)
    assert f"{HINT} claude" in message and "expired" in message
    assert all(secret not in message for secret in s.secrets())
    [failed] = s.hooks.failed()
    assert failed.provider == "claude" and HINT in failed.error
    assert s.manager.status()["expired"] is True


async def test_expired_token_is_never_returned_even_without_refresh_token(
    claude: Callable[..., Setup], clock: Any
) -> None:
    s = claude()
    data = s.data()
    del data["claudeAiOauth"]["refreshToken"]
    s.path.write_text(json.dumps(data))
    clock.advance(3599)  # inside the margin but valid: served as is, no refresh possible
    assert await s.manager.access_token() == s.minted["access_token"]
    clock.advance(2)
    with pytest.raises(CredentialError, match="no refresh token"):
        await s.manager.access_token()
    assert s.fake.refresh_count == 0


async def test_failed_proactive_refresh_serves_valid_token_and_backs_off(
    claude: Callable[..., Setup], clock: Any
) -> None:
    s = claude()
    s.fake.revoke(s.minted["refresh_token"])
    clock.advance(3600 - 100)
    with capture_logs() as logs:
        assert await s.manager.access_token() == s.minted["access_token"]
        assert await s.manager.access_token() == s.minted["access_token"]
    assert s.fake.refresh_count == 1  # the second call did not hammer the endpoint
    assert any(e["event"] == "token_refresh_failed_using_current" for e in logs)
    assert all(e["log_level"] == "warning" for e in logs if "failed" in e["event"])
    clock.advance(31)
    assert await s.manager.access_token() == s.minted["access_token"]
    assert s.fake.refresh_count == 2


async def test_reactive_refresh_failure_raises_with_login_hint(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    s.fake.revoke(s.minted["refresh_token"])
    with pytest.raises(CredentialError, match=f"{HINT} claude") as info:
        await s.manager.refresh(rejected=s.minted["access_token"])
    assert "invalid_grant" in str(info.value)
    assert info.value.__cause__ is None


async def test_missing_credentials(tmp_path: Path, http_for: Any) -> None:
    path = tmp_path / "nowhere" / "auth.json"
    recorder = Recorder()
    manager = TokenManager(
        CredentialFile(path),
        DemoFormat(),
        OAuthTokenClient(
            http_for(FakeCodexOAuth()), token_url="http://fake/oauth/token", client_id="c"
        ),
        provider="codex",
        hooks=hook_manager(recorder),
    )
    assert not manager.has_credentials()
    assert manager.account() == AccountInfo(id=None, source=f"file:{path}")
    status = manager.status()
    assert status["has_credentials"] is False and HINT in status["hint"]
    with pytest.raises(CredentialError, match=f"{HINT} codex"):
        await manager.access_token()
    with pytest.raises(CredentialError, match=f"{HINT} codex"):
        await manager.refresh(rejected="x")
    assert len(recorder.failed()) == 2
    assert not path.parent.exists() or not path.exists()


async def test_half_written_file_keeps_serving_the_cached_token(
    claude: Callable[..., Setup],
) -> None:
    s = claude()
    assert await s.manager.access_token() == s.minted["access_token"]
    s.path.write_text('{"claudeAiOauth": {"accessT')
    with capture_logs() as logs:
        assert await s.manager.access_token() == s.minted["access_token"]
    assert [e["event"] for e in logs] == ["credential_file_unreadable_using_cached"]
    assert s.manager.status()["has_credentials"] is True


# --- static tokens -------------------------------------------------------------------------


async def test_static_token_is_used_as_is_and_never_refreshed(
    claude: Callable[..., Setup],
) -> None:
    static = "sk-ant-oat01-long-lived-static-token"
    s = claude(static_token=static, static_source="env")
    assert await s.manager.access_token() == static
    assert await s.manager.refresh(rejected=static) == static
    assert await s.manager.refresh(None) == static
    assert s.fake.refresh_count == 0
    assert s.manager.account() == AccountInfo(id=None, source="env")
    assert s.manager.has_credentials()
    status = s.manager.status()
    assert status["source"] == "env" and status["refreshable"] is False
    assert static not in json.dumps(status) and static not in repr(s.manager)


# --- login ---------------------------------------------------------------------------------


async def test_store_login_creates_file_and_directory_private(
    tmp_path: Path, clock: Any, http_for: Any
) -> None:
    fake = FakeClaudeOAuth(clock=clock)
    http = http_for(fake)
    client = json_client(http, token_url="http://fake/v1/oauth/token", client_id=CLAUDE_CLIENT_ID)
    pair = PKCEPair.generate()
    redirect = "https://platform.claude.com/oauth/code/callback"
    code = fake.issue_code(code_challenge=pair.challenge, state="st", redirect_uri=redirect)
    reply = await client.exchange_code(
        code, code_verifier=pair.verifier, redirect_uri=redirect, state="st"
    )
    path = tmp_path / "home" / ".claude" / ".credentials.json"
    manager = TokenManager(
        CredentialFile(path), DemoFormat(), client, provider="claude", clock=clock
    )
    account = await manager.store_login(reply, plan="max")
    assert account.plan == "max" and account.source == f"file:{path}"
    assert file_mode(path) == 0o600 and file_mode(path.parent) == 0o700
    oauth = json.loads(path.read_text())["claudeAiOauth"]
    assert oauth["accessToken"] == reply.access_token
    assert oauth["refreshToken"] == reply.refresh_token
    assert oauth["subscriptionType"] == "max"
    assert oauth["scopes"] == list(fake.default_scopes)
    assert await manager.access_token() == reply.access_token


# --- secrets -------------------------------------------------------------------------------


async def test_no_token_in_repr_status_errors_hooks_or_logs(
    claude: Callable[..., Setup], clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    s = claude()
    seen: list[str] = []
    with capture_logs() as logs:
        clock.advance(3500)
        await s.manager.access_token()  # proactive refresh
        await s.manager.refresh(rejected=s.minted["access_token"])  # already rotated
        await s.manager.refresh(None)  # forced
        creds = DemoFormat().load(s.data())
        seen += [repr(s.manager), repr(creds), str(creds)]
        seen.append(json.dumps(s.manager.status()))
        seen.append(repr(s.manager.account()))
        current = s.data()["claudeAiOauth"]
        s.fake.revoke(current["refreshToken"])
        clock.advance(30_000)
        for call in (s.manager.access_token(), s.manager.refresh(rejected=current["accessToken"])):
            with pytest.raises(CredentialError) as info:
                await call
            seen += [str(info.value), repr(info.value)]
        seen.append(json.dumps(s.manager.status()))
    seen += [repr(e) for e in logs]
    seen += [repr(event) for event in s.hooks.seen]
    assert len(s.hooks.seen) >= 4 and len(logs) >= 4
    blob = "\n".join(seen)
    secrets = s.secrets()
    assert len(secrets) == 6  # the starting pair and two rotations
    blob += caplog.text
    leaked = [secret for secret in secrets if secret in blob]
    assert leaked == []


# --- refreshes across hosts ----------------------------------------------------------------


async def test_a_refresh_waits_for_the_shared_lock_and_fails_for_now_without_it(
    claude: Callable[..., Setup], redis_url: str
) -> None:
    from ccproxy.state import RedisState

    prefix = f"test-{time.time_ns()}:"
    state, other_host = (
        RedisState(redis_url, key_prefix=prefix),
        RedisState(redis_url, key_prefix=prefix),
    )
    names: list[str] = []

    def shared_lock(name: str) -> Any:
        names.append(name)
        return state.lock(name, lease_seconds=5, wait_seconds=0.3)

    s = claude(shared_lock=shared_lock, account="work")
    try:
        async with other_host.lock("refresh:claude:work", lease_seconds=5, wait_seconds=1):
            with pytest.raises(CredentialError) as refused:
                await s.manager.refresh(None)
        assert s.fake.refresh_count == 0  # the token endpoint was not called without the lock
        token = await s.manager.refresh(None)
    finally:
        await state.aclose()
        await other_host.aclose()
    assert refused.value.lasting is False
    assert "shared refresh lock of claude account 'work'" in str(refused.value)
    assert names == ["refresh:claude:work", "refresh:claude:work"]
    assert token != s.minted["access_token"] and s.fake.refresh_count == 1


class UnreleasableLock:
    """A shared lock that is taken, but whose release fails (Redis went away meanwhile)."""

    def __init__(self) -> None:
        self.entered = 0

    async def __aenter__(self) -> None:
        self.entered += 1

    async def __aexit__(self, *exc: object) -> None:
        raise ConnectionError("redis went away")


async def test_a_lock_that_cannot_be_released_does_not_undo_the_refresh(
    claude: Callable[..., Setup],
) -> None:
    lock = UnreleasableLock()
    s = claude(shared_lock=lambda name: lock)
    token = await s.manager.refresh(None)
    assert lock.entered == 1
    assert token != s.minted["access_token"] and s.fake.refresh_count == 1
    assert s.data()["claudeAiOauth"]["accessToken"] == token  # saved, and served


class Hanging:
    """A token endpoint that never answers."""

    async def refresh(self, refresh_token: str) -> Any:
        await asyncio.sleep(3600)


async def test_under_a_shared_lock_the_token_call_ends_before_the_lease(
    claude: Callable[..., Setup],
) -> None:
    lock = UnreleasableLock()
    s = claude(
        shared_lock=lambda name: lock,
        wrap_client=lambda client: Hanging(),
        refresh_deadline_seconds=0.2,
    )
    with pytest.raises(CredentialError) as failed:
        await asyncio.wait_for(s.manager.refresh(None), timeout=5)
    assert failed.value.lasting is False  # try again later
    assert "no answer within 0.2s" in str(failed.value)
