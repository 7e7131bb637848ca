"""The documentation under docs/ is checked like code.

- the configuration reference (and the guide's hook table) match what
  ``scripts/config_reference.py`` generates from the installed code;
- every ```python block runs, each in its own interpreter, offline;
- every ```bash block preceded by a ``<!-- run -->`` line runs in a temporary HOME;
  only blocks whose every command starts with ``ccproxy `` may be marked;
- every ``HookEvent`` is named in the plugin guide and every page is in the mkdocs nav.

Run by ``nox -s docs`` (marker ``docs``); the ``integration`` session leaves it out.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy.plugins import HookEvent
from support import isolated_env

pytestmark = pytest.mark.docs

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
RUN_MARKER = "<!-- run -->"
BLOCK = re.compile(
    r"^(?P<marker><!-- run -->\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$",
    re.MULTILINE | re.DOTALL,
)
TIMEOUT = 120


def _blocks() -> list[tuple[str, str, bool, str]]:
    """(page, language, marked to run, body) for every fenced block of every page."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("body"))
            name = f"{page.relative_to(DOCS)}:{line}"
            found.append((name, match["lang"], bool(match["marker"]), match["body"]))
    return found


BLOCKS = _blocks()
PYTHON = [pytest.param(body, id=name) for name, lang, _, body in BLOCKS if lang == "python"]
BASH = [pytest.param(body, id=name) for name, lang, run, body in BLOCKS if lang == "bash" and run]


def test_config_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "config_reference.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docs_have_runnable_blocks() -> None:
    assert len(PYTHON) >= 3
    assert len(BASH) >= 1


def test_run_markers_sit_on_bash_blocks_only() -> None:
    for page in sorted(DOCS.rglob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() == RUN_MARKER:
                following = lines[i + 1] if i + 1 < len(lines) else ""
                assert following.strip() == "```bash", f"{page}:{i + 1}: {RUN_MARKER} not on bash"


@pytest.mark.parametrize("body", PYTHON)
def test_python_block_runs(body: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(body, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=isolated_env(home, {"PLUGINS_DISABLE_LOCAL_DISCOVERY": "true"}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("body", BASH)
def test_marked_bash_block_runs(body: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home, {"PLUGINS_DISABLE_LOCAL_DISCOVERY": "true"})
    commands = [line.split("#", 1)[0].strip() for line in body.splitlines()]
    for command in filter(None, commands):
        argv = shlex.split(command)
        assert argv[0] == "ccproxy", f"only ccproxy commands may be marked to run: {command!r}"
        result = subprocess.run(
            [sys.executable, "-m", "ccproxy", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stderr}"


def test_every_hook_event_is_in_the_plugin_guide() -> None:
    guide = (DOCS / "plugin-authoring.md").read_text(encoding="utf-8")
    missing = [e.name for e in HookEvent if f"`{e.name}`" not in guide or e.value not in guide]
    assert not missing, f"HookEvents missing from docs/plugin-authoring.md: {missing}"


def test_every_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    missing = [p for p in pages if p not in nav]
    assert not missing, f"pages not in mkdocs.yml nav: {missing}"
