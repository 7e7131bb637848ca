"""Independent per-package releases with python-semantic-release (DESIGN.md §9).

Runs PSR's own CLI in each package directory of a throwaway git repository holding the packages'
release skeletons (pyproject.toml, ``_version.py``, CHANGELOG.md) and checks that only the
packages whose paths a commit touched get a new version, by the amount its type asks for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

# Runs in `nox -s release`, whose environment has python-semantic-release (the dev group).
pytestmark = pytest.mark.release

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60


def _packages() -> dict[str, Path]:
    """Distribution name -> packages/<dir>, read from the workspace like noxfile.py does."""
    found = {}
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


PACKAGES = _packages()
CORE = "ccproxy-core"


def _config(name: str) -> dict:
    with (PACKAGES[name] / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "GH_", "GITHUB_", "CI", "CCPROXY_RELEASE"))
    }
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=os.devnull,  # no user or system git configuration leaks in
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Repo:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def git(self, *args: str) -> str:
        return _run(["git", *args], self.root, self.env)

    def commit(self, message: str, *paths: str) -> None:
        for rel in paths:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(f"{message}\n")
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)

    def psr(self, name: str, *args: str) -> str:
        """``semantic-release <args>`` in the package's directory; its last stdout line."""
        cwd = self.root / "packages" / PACKAGES[name].name
        out = _run([sys.executable, "-m", "semantic_release", *args], cwd, self.env)
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def next_version(self, name: str) -> str:
        return self.psr(name, "--noop", "version", "--print")


def _skeleton(dest: Path) -> None:
    """Each package's release files, at the same paths as in the workspace."""
    for name, src in PACKAGES.items():
        pkg = dest / "packages" / src.name
        pkg.mkdir(parents=True)
        shutil.copy2(src / "pyproject.toml", pkg / "pyproject.toml")
        changelog = src / "CHANGELOG.md"
        if changelog.exists():
            shutil.copy2(changelog, pkg / "CHANGELOG.md")
        else:
            (pkg / "CHANGELOG.md").write_text("# Changelog\n")
        release = _config(name)["tool"]["semantic_release"]
        for variable in release["version_variables"]:
            rel = variable.split(":", 1)[0]
            target = pkg / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, target)
    (dest / "README.md").write_text("# ccproxy\n")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    repo = Repo(root, _env(home))
    repo.git("init", "--quiet", "--initial-branch=main")
    repo.git("config", "user.name", "Release Test")
    repo.git("config", "user.email", "release-test@example.invalid")
    repo.git("config", "commit.gpgsign", "false")
    repo.git("config", "tag.gpgsign", "false")
    # PSR reads the remote's URL even with --noop; nothing ever talks to it.
    repo.git("remote", "add", "origin", "https://github.com/example/ccproxy.git")
    _skeleton(root)
    repo.git("add", "--all")
    repo.git("commit", "--quiet", "-m", "chore: initial import")
    for name in PACKAGES:
        repo.git("tag", f"{name}-v{_config(name)['project']['version']}")
    return repo


def _current(name: str) -> str:
    return str(_config(name)["project"]["version"])


def _bumped(version: str, part: str) -> str:
    major, minor, patch = (int(x) for x in version.split("."))
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    assert part == "patch"
    return f"{major}.{minor}.{patch + 1}"


def test_every_package_is_configured_for_independent_releases() -> None:
    for name, src in PACKAGES.items():
        release = _config(name)["tool"]["semantic_release"]
        assert release["commit_parser"] == "conventional-monorepo", name
        assert release["tag_format"] == f"{name}-v{{version}}", name
        assert release["version_toml"] == ["pyproject.toml:project.version"], name
        assert "build_command" not in release, f"{name}: the workflow builds, not PSR"
        (variable,) = release["version_variables"]
        rel, attr = variable.split(":")
        assert attr == "__version__"
        assert f'__version__ = "{_current(name)}"' in (src / rel).read_text(), name
        assert release["changelog"]["default_templates"]["changelog_file"] == "CHANGELOG.md"
        if name != CORE:
            assert release["allow_zero_version"] is True, name


def test_nothing_to_release_after_the_tags(repo: Repo) -> None:
    repo.commit("docs: the readme only", "README.md")
    for name in PACKAGES:
        assert repo.next_version(name) == _current(name), name


def test_only_touched_packages_bump(repo: Repo) -> None:
    codex = PACKAGES["ccproxy-plugin-codex"].name
    repo.commit(
        "feat(codex): a new option", f"packages/{codex}/src/ccproxy_plugin_codex/new_option.py"
    )
    repo.commit("fix(core): a bug", f"packages/{PACKAGES[CORE].name}/src/ccproxy/bugfix.py")
    repo.commit("docs: the readme only", "README.md")

    expected = {name: _current(name) for name in PACKAGES}
    # 0.x plugins: PSR's zero-version rules turn a feat into 0.(x+1).0
    expected["ccproxy-plugin-codex"] = _bumped(_current("ccproxy-plugin-codex"), "minor")
    expected[CORE] = _bumped(_current(CORE), "patch")
    assert expected["ccproxy-plugin-codex"] == "0.2.0"
    assert expected[CORE] == "1.0.1"
    got = {name: repo.next_version(name) for name in PACKAGES}
    assert got == expected


def test_changed_paths_decide_not_the_scope(repo: Repo) -> None:
    """A commit scoped to one package that touches another releases the one it touches."""
    metrics = PACKAGES["ccproxy-plugin-metrics"].name
    repo.commit("fix(core): wording shared with metrics", f"packages/{metrics}/README.md")
    assert repo.next_version("ccproxy-plugin-metrics") == "0.1.1"
    assert repo.next_version(CORE) == _current(CORE)


def test_breaking_change_on_a_zero_version_plugin_is_a_minor(repo: Repo) -> None:
    pricing = PACKAGES["ccproxy-plugin-pricing"].name
    repo.commit("feat(pricing)!: a new table format", f"packages/{pricing}/src/x.py")
    assert repo.next_version("ccproxy-plugin-pricing") == "0.2.0"  # major_on_zero = false


def test_a_real_version_run_writes_the_files_and_the_tag(repo: Repo) -> None:
    """``semantic-release version`` without pushing: versions, changelog, commit and tag."""
    codex = PACKAGES["ccproxy-plugin-codex"]
    rel = f"packages/{codex.name}"
    repo.commit("feat(codex): a new option", f"{rel}/src/ccproxy_plugin_codex/new_option.py")
    repo.psr("ccproxy-plugin-codex", "version", "--no-push", "--no-vcs-release")

    pkg = repo.root / rel
    assert tomllib.loads((pkg / "pyproject.toml").read_text())["project"]["version"] == "0.2.0"
    assert '__version__ = "0.2.0"' in (pkg / "src/ccproxy_plugin_codex/_version.py").read_text()
    changelog = (pkg / "CHANGELOG.md").read_text()
    assert "## v0.2.0" in changelog and "a new option" in changelog.lower()
    assert changelog.startswith("# Changelog")
    assert "## 0.1.0" in changelog  # the hand-written history is kept below the new entry
    assert repo.git("tag", "--points-at", "HEAD").split() == ["ccproxy-plugin-codex-v0.2.0"]
    assert repo.git("status", "--porcelain") == ""
    # the release commit neither releases codex again nor anything else
    for name in PACKAGES:
        want = "0.2.0" if name == "ccproxy-plugin-codex" else _current(name)
        assert repo.next_version(name) == want, name
