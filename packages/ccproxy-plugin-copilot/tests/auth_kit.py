"""Shared pieces of the auth tests: the token files, a settable clock, the CLI as a subprocess.

The autouse fixture of ``ccproxy.testing`` points ``XDG_CONFIG_HOME`` at an empty folder per
test, so the editors' files and ccproxy's own are found there.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from ccproxy.auth import ExchangedTokenSource
from ccproxy.testing import FakeCopilot
from ccproxy_plugin_copilot.auth_config import CopilotOAuthConfig
from ccproxy_plugin_copilot.credentials import config_home
from ccproxy_plugin_copilot.github_api import CopilotTokenMint
from ccproxy_plugin_copilot.oauth_provider import oauth_provider

TIMEOUT = 20.0
FAKE_URL = "http://github.fake"


class Clock:
    """Epoch seconds that move only when a test says so (shared by the fake and the source)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def config(url: str = FAKE_URL, **overrides: Any) -> CopilotOAuthConfig:
    """``plugins.oauth_copilot`` pointed at a fake GitHub."""
    return CopilotOAuthConfig(github_url=url, github_api_url=url, **overrides)


def http_to(fake: Any) -> httpx.AsyncClient:
    """An AsyncClient that reaches ``fake`` in-process, whatever host a URL names."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake))


def editor_folder() -> Path:
    return config_home() / "github-copilot"


def own_file() -> Path:
    return config_home() / "ccproxy" / "copilot.json"


def write_apps_json(token: str, user: str = "octocat") -> Path:
    """copilot.vim's ``apps.json``."""
    path = editor_folder() / "apps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"user": user, "oauth_token": token, "githubAppId": "Iv1.b507a08c87ecfe98"}
    path.write_text(json.dumps({"github.com:Iv1.b507a08c87ecfe98": entry}))
    return path


def write_hosts_json(token: str, user: str = "octocat") -> Path:
    """copilot.lua's ``hosts.json``."""
    path = editor_folder() / "hosts.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"github.com": {"user": user, "oauth_token": token}}))
    return path


def write_own(token: str, user: str = "octocat", path: Path | None = None) -> Path:
    """ccproxy's own file (or an account file at ``path``)."""
    path = path or own_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"github.com": {"user": user, "oauth_token": token}}))
    return path


def minted_source(
    fake: FakeCopilot,
    http: httpx.AsyncClient,
    clock: Clock,
    *,
    account: str = "default",
    **overrides: Any,
) -> ExchangedTokenSource:
    """An ``oauth.copilot`` source on an injected clock, built from the public pieces."""
    cfg = config(**overrides)
    manager = oauth_provider.token_manager(cfg, http, account=account)
    return ExchangedTokenSource(
        manager,
        CopilotTokenMint(cfg, http),
        clock=clock,
        refresh_margin_seconds=cfg.refresh_margin_seconds,
    )


def fake_sets(url: str) -> dict[str, object]:
    return {"plugins.oauth_copilot.github_url": url, "plugins.oauth_copilot.github_api_url": url}


class CLI:
    """One running ``python -m ccproxy auth ...`` with line-wise access to its output."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def read_until(self, predicate: str) -> str:
        """The first stdout line containing ``predicate`` (earlier lines are kept)."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            if not raw:
                raise AssertionError(f"output ended before {predicate!r}: {self.lines}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if predicate in line:
                return line

    async def finish(self) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.process.communicate(), TIMEOUT)
        text = "\n".join(self.lines) + ("\n" if self.lines else "") + out.decode()
        return self.process.returncode or 0, text, err.decode()


async def start_cli(*args: str, sets: dict[str, object] | None = None) -> CLI:
    """``ccproxy auth <args>`` with this test's ``XDG_CONFIG_HOME``."""
    command = [sys.executable, "-m", "ccproxy", "auth", *args]
    for key, value in (sets or {}).items():
        command += ["--set", f"{key}={value}"]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLUGINS__", "SECURITY__")) and k != "CCPROXY_CONFIG"
    }
    home = config_home().parent
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(config_home()))
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=home,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return CLI(process)


async def run_cli(*args: str, sets: dict[str, object] | None = None) -> tuple[int, str, str]:
    return await (await start_cli(*args, sets=sets)).finish()
