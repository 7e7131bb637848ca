"""The toolkit driven by a small test provider: the three login methods and the built commands."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from ccproxy.auth import (
    PENDING,
    AuthorizationCode,
    AuthorizeRequest,
    CallbackSpec,
    DeviceAuthorization,
    LoginError,
    LoginMethod,
    LoginOption,
    LoginUI,
    OAuthPluginFactory,
    OAuthProvider,
    OAuthTokenClient,
    Pending,
    PKCEPair,
    TokenReply,
    build_authorize_url,
    login,
)
from ccproxy.plugins import HookEvent, HookPayload, Settings, TokenSource, plugin_registry
from ccproxy.plugins.cli import auth_commands
from ccproxy.testing import (
    FakeClaudeOAuth,
    LiveServer,
    app_client,
    fake_entry_point,
    free_port,
    started_app,
)
from ccproxy.testing.fakes import CLAUDE_CLIENT_ID
from demo_format import DemoFormat

REDIRECT = "https://demo.example/code"


class DemoConfig(BaseModel):
    token_url: str = "http://fake/v1/oauth/token"
    credentials_file: Path = Path("demo.json")
    static: str | None = None


class DemoProvider(OAuthProvider[DemoConfig]):
    """Every login method, one own flag, tokens under ``demo`` (the fake mints Claude's)."""

    name = "demo"
    display_name = "Demo"
    plugin = "oauth_demo"
    config_class = DemoConfig
    credentials_key = "demo"
    file_owner = "the Demo CLI"
    login_methods = (LoginMethod.CALLBACK, LoginMethod.PASTE, LoginMethod.DEVICE)
    login_options = (LoginOption("team", "A team account."),)

    def __init__(self, device_code: str = "") -> None:
        self.device_code = device_code
        self.polls = 0

    def credentials_path(self, config: DemoConfig) -> Path:
        return config.credentials_file

    def credential_format(self) -> DemoFormat:
        return DemoFormat("demo")

    def token_client(self, config: DemoConfig, http: httpx.AsyncClient) -> OAuthTokenClient:
        return OAuthTokenClient(
            http,
            token_url=config.token_url,
            client_id=CLAUDE_CLIENT_ID,
            body="json",
            send_state=True,
        )

    def authorize_url(self, config: DemoConfig, request: AuthorizeRequest) -> str:
        params = {"redirect_uri": request.redirect_uri, "state": request.state}
        params |= {"code_challenge": request.pkce.challenge, "team": str("team" in request.options)}
        return build_authorize_url("https://demo.example/authorize", params)

    def static_token(self, config: DemoConfig) -> tuple[str | None, str]:
        return (config.static, "env:DEMO_TOKEN") if config.static else (None, "")

    def redirect_uri(self, config: DemoConfig) -> str:
        return REDIRECT

    def callback(self, config: DemoConfig) -> CallbackSpec:
        return CallbackSpec(path="/cb", foreign_state="ignore")

    async def start_device_login(
        self, config: DemoConfig, http: httpx.AsyncClient
    ) -> DeviceAuthorization:
        return DeviceAuthorization("https://demo.example/device", "ABCD-EFGH", 0.01, handle="id")

    async def poll_device_login(
        self, config: DemoConfig, http: httpx.AsyncClient, device: DeviceAuthorization
    ) -> AuthorizationCode | Pending:
        self.polls += 1
        return (
            PENDING if self.polls < 3 else AuthorizationCode(self.device_code, "v" * 43, REDIRECT)
        )


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class Lines(list[str]):
    async def url(self) -> dict[str, str]:
        for _ in range(500):
            found = [line for line in self if line.startswith("https://demo.example/authorize")]
            if found:
                return query(found[0])
            await asyncio.sleep(0.01)
        raise AssertionError(f"no authorize URL in {self}")


async def test_callback_login_ignores_a_stale_redirect_and_stores_the_tokens(
    tmp_path: Path, http_for: Any
) -> None:
    fake, lines = FakeClaudeOAuth(), Lines()
    config = DemoConfig(credentials_file=tmp_path / "d" / "demo.json")
    ui = LoginUI(lines.append, lambda _: "", open_browser=False)
    task = asyncio.create_task(
        login(DemoProvider(), config, http_for(fake), ui, method=LoginMethod.CALLBACK, timeout=10)
    )
    params = await lines.url()
    redirect = params["redirect_uri"]
    code = fake.issue_code(
        code_challenge=params["code_challenge"], state=params["state"], redirect_uri=redirect
    )
    async with httpx.AsyncClient() as browser:
        stale = await browser.get(redirect, params={"code": code, "state": "other"})
        done = await browser.get(redirect, params={"code": code, "state": params["state"]})
    facts = await task
    assert (stale.status_code, done.status_code) == (400, 200)
    assert redirect.startswith("http://localhost:") and redirect.endswith("/cb")
    assert params["team"] == "False"
    assert facts["has_credentials"] and facts["refreshable"]
    stored = json.loads(config.credentials_file.read_text())["demo"]
    assert fake.is_valid_access_token(stored["accessToken"])
    assert stat.S_IMODE(config.credentials_file.stat().st_mode) == 0o600
    assert fake.last_request.json["state"] == params["state"]
    assert code not in "\n".join(lines) and stored["accessToken"] not in "\n".join(lines)


async def test_paste_login_checks_the_state(tmp_path: Path, http_for: Any) -> None:
    fake, lines = FakeClaudeOAuth(), Lines()
    config = DemoConfig(credentials_file=tmp_path / "demo.json")
    pasted: list[str] = []

    def paste(prompt: str) -> str:
        params = query(lines[-2])  # the URL, then a blank line
        code = fake.issue_code(code_challenge=params["code_challenge"], redirect_uri=REDIRECT)
        pasted.append(code)
        return f"{code}#{params['state'] if len(pasted) > 1 else 'forged'}"

    ui = LoginUI(lines.append, paste, open_browser=False)
    with pytest.raises(LoginError, match="state does not match"):
        await login(DemoProvider(), config, http_for(fake), ui, method=LoginMethod.PASTE)
    assert not config.credentials_file.exists()
    team = frozenset({"team"})
    facts = await login(
        DemoProvider(), config, http_for(fake), ui, method=LoginMethod.PASTE, options=team
    )
    assert facts["has_credentials"]
    assert query(lines[-2])["team"] == "True"
    assert fake.last_request.json["redirect_uri"] == REDIRECT
    assert pasted[1] not in "\n".join(lines)


async def test_device_login_polls_until_approved(tmp_path: Path, http_for: Any) -> None:
    fake, lines = FakeClaudeOAuth(), Lines()
    verifier = "v" * 43
    code = fake.issue_code(code_challenge=PKCEPair.challenge_for(verifier), redirect_uri=REDIRECT)
    provider = DemoProvider(device_code=code)
    config = DemoConfig(credentials_file=tmp_path / "demo.json")
    ui = LoginUI(lines.append, lambda _: "", open_browser=False)
    facts = await login(provider, config, http_for(fake), ui, method=LoginMethod.DEVICE)
    assert provider.polls == 3 and facts["has_credentials"]
    assert "and enter the code:  ABCD-EFGH" in lines
    assert "  https://demo.example/device" in lines


class DeviceGrantProvider(DemoProvider):
    """RFC 8628 proper: the device poll answers with the tokens; ``readonly.json`` is another
    program's login."""

    async def poll_device_login(
        self, config: DemoConfig, http: httpx.AsyncClient, device: DeviceAuthorization
    ) -> AuthorizationCode | TokenReply | Pending:
        self.polls += 1
        return PENDING if self.polls < 2 else TokenReply("tok-device", scope="read")

    def read_only(self, config: DemoConfig, path: Path) -> bool:
        return path.name == "readonly.json"

    def shared_with(self, config: DemoConfig, path: Path) -> str | None:
        return "the Demo editor" if self.read_only(config, path) else None


async def test_a_device_grant_may_answer_with_the_tokens(tmp_path: Path) -> None:
    provider, lines = DeviceGrantProvider(), Lines()
    ui = LoginUI(lines.append, lambda _: "", open_browser=False)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(500))
    ) as http:
        readonly = DemoConfig(credentials_file=tmp_path / "readonly.json")
        with pytest.raises(LoginError, match=r"the Demo editor's login in .*only reads"):
            await login(provider, readonly, http, ui, method=LoginMethod.DEVICE)
        assert provider.polls == 0 and not readonly.credentials_file.exists()
        config = DemoConfig(credentials_file=tmp_path / "demo.json")
        facts = await login(provider, config, http, ui, method=LoginMethod.DEVICE)
    assert provider.polls == 2 and facts["has_credentials"] and facts["scopes"] == ["read"]
    assert json.loads(config.credentials_file.read_text())["demo"]["accessToken"] == "tok-device"


def minted_file(fake: FakeClaudeOAuth) -> dict[str, Any]:
    """Fresh tokens from the fake, stored the test provider's way (under ``demo``)."""
    return {"demo": FakeClaudeOAuth.credentials_file(fake.mint_credentials())["claudeAiOauth"]}


def invoke(*args: str) -> Any:
    app = auth_commands(DemoProvider())
    return CliRunner().invoke(app, [*args, "--set", f"server.port={free_port()}"])


def test_the_built_commands_and_their_flags() -> None:
    helped = CliRunner().invoke(auth_commands(DemoProvider()), ["login", "--help"])
    for flag in ("--team", "--no-browser", "--paste", "--device", "--timeout", "--set"):
        assert flag in helped.output
    assert "--callback" not in helped.output  # the default method has no flag
    both = invoke("login", "--paste", "--device")
    assert both.exit_code == 2 and "choose one of --paste, --device" in both.output


def test_status_refresh_and_logout_say_the_same_things_for_every_provider(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    file = ["--set", f"plugins.oauth_demo.credentials_file={path}"]
    missing = invoke("status", *file)
    assert missing.exit_code == 1
    assert f"Demo credentials: {path}" in missing.output
    assert "  log in with `ccproxy auth login demo`" in missing.output
    assert "Rate-limit windows: unknown, no server answered" in missing.output

    fake = FakeClaudeOAuth()
    data = {**minted_file(fake), "other": {"kept": True}}
    path.write_text(json.dumps(data))
    shown = invoke("status", *file)
    assert (
        shown.exit_code == 0 and "  refresh: automatic (a refresh token is stored)" in shown.output
    )

    static = invoke("refresh", *file, "--set", "plugins.oauth_demo.static=tok-secret")
    assert static.exit_code == 1 and "long-lived token (DEMO_TOKEN)" in static.output
    assert "tok-secret" not in static.output

    first, second = invoke("logout", *file), invoke("logout", *file)
    assert "Removed the Demo tokens ('demo')" in first.output
    assert "kept its 1 other key." in first.output
    assert "This file is also the Demo CLI's" in first.output
    assert json.loads(path.read_text()) == {"other": {"kept": True}}
    assert "No Demo tokens stored in" in second.output and "nothing to remove" in second.output


async def test_refresh_command_rotates_the_tokens(tmp_path: Path) -> None:
    fake = FakeClaudeOAuth()
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(minted_file(fake)))
    async with LiveServer(fake) as server:
        result = await asyncio.to_thread(
            invoke,
            "refresh",
            "--set",
            f"plugins.oauth_demo.credentials_file={path}",
            "--set",
            f"plugins.oauth_demo.token_url={server.url}/v1/oauth/token",
        )
    assert result.exit_code == 0, result.output
    assert "Refreshed the Demo access token." in result.output
    assert fake.refresh_count == 1


class SeenWindows:
    """The smallest usage hook: counts completed requests."""

    name, priority = "demo_windows", 100

    def __init__(self) -> None:
        self.events = [HookEvent.REQUEST_COMPLETED]
        self.count = 0

    async def __call__(self, event: HookPayload) -> None:
        self.count += 1

    def snapshot(self) -> dict[str, Any]:
        return {"requests_seen": self.count}


async def test_the_plugin_built_from_the_description(tmp_path: Path) -> None:
    factory = OAuthPluginFactory(
        DemoProvider(), version="0.1.0", description="Demo OAuth", usage=SeenWindows
    )
    path = tmp_path / "demo.json"
    settings = Settings(plugins={"oauth_demo": {"credentials_file": str(path)}})
    entry = fake_entry_point("oauth_demo", factory)
    async with started_app(settings, entry_points=[entry]) as app, app_client(app) as client:
        missing = (await client.get("/health")).json()["checks"]["plugin:oauth_demo"][0]
        fake = FakeClaudeOAuth()
        path.write_text(json.dumps(minted_file(fake)))
        present = (await client.get("/health")).json()["checks"]["plugin:oauth_demo"][0]
        status = (await client.get("/oauth/demo/status")).json()
        source = plugin_registry(app).get_service("oauth.demo", TokenSource)
    assert factory.manifest.provides == ["oauth.demo"] and factory.plugin_type == "auth_provider"
    assert missing["status"] == "warn"
    assert f"no Demo credentials in {path}; run `ccproxy auth login demo`" in missing["output"]
    assert present["status"] == "pass"
    assert status["provider"] == "demo" and status["requests_seen"] == 0
    assert status["credentials"]["has_credentials"] is True
    assert source is not None
    assert fake.issued_tokens and not any(t in json.dumps(status) for t in fake.issued_tokens)
