"""ccproxy.testing.browser without a browser: importable, and a missing one fails the test."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ccproxy.testing.browser import chromium_path, open_page


def test_importing_it_needs_neither_chromium_nor_pytest() -> None:
    code = "import sys, ccproxy.testing.browser; print('pytest' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": ""},
    )
    assert done.stdout.strip() == "False"


def test_without_chromium_opening_a_page_fails_the_test_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_path()


async def test_open_page_looks_for_the_browser_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        async with open_page("http://127.0.0.1:9/"):
            pass
