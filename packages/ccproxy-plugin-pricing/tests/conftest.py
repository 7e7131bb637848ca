"""Test set-up: this folder's helper module is importable, and every test runs isolated.

Isolation: ``XDG_CACHE_HOME`` and ``XDG_CONFIG_HOME`` point into the test's temporary folder
(so no test reads or writes the user's cache or config), the working directory is that folder,
and configuration variables from the environment are removed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

_CONFIG_PREFIXES = ("PLUGINS__", "SERVER__", "SECURITY__", "HTTP__", "LOGGING__")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CCPROXY_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith(_CONFIG_PREFIXES) or name in ("ENABLED_PLUGINS", "DISABLED_PLUGINS"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
