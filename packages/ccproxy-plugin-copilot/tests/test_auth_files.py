"""Which GitHub token file is the default account, and that editors' files are only read."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from auth_kit import (
    Clock,
    config,
    http_to,
    minted_source,
    own_file,
    write_apps_json,
    write_hosts_json,
    write_own,
)
from ccproxy.auth import LoginError, LoginMethod, LoginUI, login
from ccproxy.testing import FakeCopilot
from ccproxy_plugin_copilot.credentials import GitHubTokenFormat
from ccproxy_plugin_copilot.oauth_provider import oauth_provider


@pytest.mark.parametrize("write", [write_apps_json, write_hosts_json], ids=["apps", "hosts"])
async def test_an_editors_login_is_the_default_account_as_is(write: object) -> None:
    clock = Clock()
    fake = FakeCopilot(clock=clock)
    token = fake.issue_github_token("mona")
    path = write(token, "mona")  # type: ignore[operator]
    before = path.read_bytes(), path.stat().st_mtime_ns
    cfg = config()
    assert oauth_provider.credentials_path(cfg) == path
    assert oauth_provider.read_only(cfg, path)
    assert "copilot." in (oauth_provider.shared_with(cfg, path) or "")
    async with http_to(fake) as http:
        source = minted_source(fake, http, clock)
        copilot_token = await source.access_token()
    assert copilot_token in fake.copilot_tokens
    info = source.account()
    assert (info.id, info.plan, info.api_base) == ("mona", "monthly_subscriber", fake.api_url)
    assert info.source == f"file:{path}"
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not own_file().exists()


def test_ccproxys_own_file_wins_and_apps_json_before_hosts_json() -> None:
    cfg = config()
    assert oauth_provider.credentials_path(cfg) == own_file()  # nothing yet: where a login goes
    hosts = write_hosts_json("gho_hosts")
    apps = write_apps_json("gho_apps")
    assert oauth_provider.credentials_path(cfg) == apps
    apps.write_text(json.dumps({"github.com:Iv1.other": {"user": "x"}}))  # no token in it
    assert oauth_provider.credentials_path(cfg) == hosts
    assert oauth_provider.credentials_path(config(editor_login=False)) == own_file()
    own = write_own("gho_own")
    assert oauth_provider.credentials_path(cfg) == own
    assert not oauth_provider.read_only(cfg, own)
    assert oauth_provider.shared_with(cfg, own) is None
    elsewhere = own.with_name("elsewhere.json")
    assert oauth_provider.credentials_path(config(credentials_file=elsewhere)) == hosts


async def test_a_login_never_writes_an_editors_file() -> None:
    path = write_hosts_json("gho_editor")
    before = path.read_text()
    ui = LoginUI(lambda _: None, lambda _: "", open_browser=False)
    async with http_to(FakeCopilot()) as http:
        with pytest.raises(LoginError, match="only reads and never rewrites"):
            await login(oauth_provider, config(), http, ui, method=LoginMethod.DEVICE)
    assert path.read_text() == before


def test_the_format_reads_every_shape_and_writes_hosts_json_keeping_other_keys() -> None:
    fmt = GitHubTokenFormat()
    apps = {
        "github.com:Iv1.other": {"user": "b", "oauth_token": "gho_b"},
        "github.com:Iv1.b507a08c87ecfe98": {
            "user": "a",
            "oauth_token": "gho_a",
            "githubAppId": "Iv1.b507a08c87ecfe98",
        },
    }
    creds = fmt.load(apps)
    assert creds is not None
    assert (creds.access_token, creds.account_id, creds.refresh_token) == ("gho_a", "a", None)
    assert creds.expires_at is None and "gho_a" not in repr(creds)
    assert fmt.load({"github.com": {"user": "x"}}) is None
    written = fmt.dump(creds, {"other": 1, "github.com": {"kept": True}})
    assert written == {
        "other": 1,
        "github.com": {"kept": True, "oauth_token": "gho_a", "user": "a"},
    }


async def test_an_expiring_user_tokens_refresh_token_and_expiry_are_stored() -> None:
    # GitHub answers expiring user tokens (8 h) with a refresh token; the fake does not, so its
    # device grant's answer is given them here.
    fake = FakeCopilot()

    async def handler(request: httpx.Request) -> httpx.Response:
        async with http_to(fake) as inner:
            answer = await inner.send(request)
        payload = answer.json()
        if request.url.path == "/login/device/code":
            fake.approve(payload["user_code"])  # the user approves at once
        elif request.url.path == "/login/oauth/access_token" and "access_token" in payload:
            payload = {**payload, "refresh_token": "ghr_refresh", "expires_in": 28800}
        return httpx.Response(answer.status_code, json=payload)

    cfg = config(device_poll_interval_seconds=0)
    ui = LoginUI(lambda _: None, lambda _: "", open_browser=False)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        status = await login(oauth_provider, cfg, http, ui, method=LoginMethod.DEVICE)
        reread = oauth_provider.token_manager(cfg, http)  # from the file
        assert reread.status()["refreshable"] is True
    assert status["refreshable"] is True and status["account_id"] == "octocat"
    assert 28000 < status["expires_in_seconds"] <= 28800
    entry = json.loads(own_file().read_text())["github.com"]
    assert entry["refresh_token"] == "ghr_refresh" and entry["user"] == "octocat"
    assert isinstance(entry["expires_at"], int)
    creds = oauth_provider.credential_format().load(json.loads(own_file().read_text()))
    assert creds is not None and creds.refresh_token == "ghr_refresh"
    assert creds.expires_at is not None and int(creds.expires_at.timestamp()) == entry["expires_at"]


def test_the_editor_files_are_configurable(tmp_path: Path) -> None:
    custom = tmp_path / "somewhere" / "hosts.json"
    custom.parent.mkdir()
    custom.write_text(json.dumps({"github.com": {"user": "u", "oauth_token": "gho_u"}}))
    write_apps_json("gho_default_location")
    cfg = config(editor_files=[custom])
    assert oauth_provider.credentials_path(cfg) == custom
    assert oauth_provider.read_only(cfg, custom)
