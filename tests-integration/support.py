"""Shared helpers for integration tests: the real server as a subprocess, the pinned CLIs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ccproxy.testing import free_port

REPO = Path(__file__).resolve().parents[1]
CLI_PREFIX = Path(os.environ.get("CCPROXY_CLI_PREFIX", REPO / ".cache" / "npm-clis"))
#: Claude Code makes no call beyond the model API with these (WIRE.md; checked on 2.1.197).
CLAUDE_CODE_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
}


def write_claude_credentials(home: Path, credentials_file: Mapping[str, object]) -> Path:
    """Claude Code's credential file (0600) under ``home``, as ``claude /login`` leaves it."""
    path = home / ".claude" / ".credentials.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(credentials_file))
    path.chmod(0o600)
    return path


def cli_binary(name: str) -> str:
    """Path of the pinned ``claude`` or ``codex`` CLI (installed by ./scripts/check).

    A missing CLI fails the test: the check command installs them, so absence is a broken set-up.
    """
    candidate = CLI_PREFIX / "node_modules" / ".bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name) if os.environ.get("CCPROXY_ALLOW_PATH_CLIS") else None
    if found:
        return found
    pytest.fail(
        f"{name} CLI not found at {candidate}; run ./scripts/check (it installs the pinned CLIs)"
    )


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment with HOME and the XDG folders inside ``home``."""
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "CCPROXY_CONFIG",
    ):
        env.pop(name, None)
    env.update(extra or {})
    return env


@contextmanager
def running_proxy(
    home: Path, *settings: str, env: Mapping[str, str] | None = None, timeout: float = 20.0
) -> Iterator[str]:
    """``ccproxy serve`` on a free loopback port with ``--set`` ``settings``; yields its URL."""
    port = free_port()
    args = [sys.executable, "-m", "ccproxy", "serve", "--port", str(port), "--log-level", "WARNING"]
    for item in settings:
        args += ["--set", item]
    log = (home / f"ccproxy-{port}.log").open("wb")
    process = subprocess.Popen(
        args, cwd=home, env=isolated_env(home, env), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"ccproxy serve exited with {process.returncode}:\n{(home / log.name).read_text()}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ccproxy serve did not answer /health within {timeout} s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
