"""Make this folder's helper module importable; keep every test away from the real credentials."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from claude_kit import ClaudeWorld  # noqa: E402 (importable once HERE is on sys.path)

_SETTINGS_ENV = ("PLUGINS__", "SERVER__", "SECURITY__", "HTTP__", "LOGGING__", "ENABLED_PLUGINS")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's ~/.claude, a CLAUDE_CODE_OAUTH_TOKEN or a ccproxy config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(home)
    for name in ("CLAUDE_CODE_OAUTH_TOKEN", "CCPROXY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):  # ccproxy settings from the environment (PLUGINS__X__Y=...)
        if name.upper().startswith(_SETTINGS_ENV):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path) -> ClaudeWorld:
    """Fakes tied together and a valid credential in Claude Code's file under the test's HOME."""
    created = ClaudeWorld(home=tmp_path / "home")
    created.write_credentials()
    return created
