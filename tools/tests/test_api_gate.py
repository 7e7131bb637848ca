"""tools/api_gate.py against a throwaway git repository holding one tiny package (``nox -s api``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import api_gate

PYPROJECT = """\
[project]
name = "tiny"
version = "1.0.0"

[tool.ccproxy.api]
modules = ["tiny"]
"""

SOURCE = """\
__all__ = [{exports}]


class Thing:
    def __init__(self, size: int) -> None:
        self.size = size

    def grow(self, by: int = 1) -> int:
        return self.size + by

    def _hidden(self) -> None: ...


def greet(name: str) -> str:
    return name


def farewell(name: str) -> str:
    return name


def _private() -> None: ...
"""

SNAPSHOT = Path("packages/tiny/api.json")


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CI"))},
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.invalid",
        }

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def exports(self, *names: str, source: str = SOURCE) -> None:
        text = source.format(exports=", ".join(f'"{n}"' for n in names))
        (self.root / "packages/tiny/src/tiny/__init__.py").write_text(text)

    def commit(self, message: str, *paths: str) -> None:
        self.git("add", *(paths or ["-A"]))
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def snapshot(self) -> str:
        return (self.root / SNAPSHOT).read_text()

    def names(self) -> list[str]:
        module = json.loads(self.snapshot())["modules"][0]
        return [member["name"] for member in module["members"]]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository whose committed snapshot records ``Thing`` and ``greet``."""
    monkeypatch.delenv("CI", raising=False)
    (tmp_path / "packages/tiny/src/tiny").mkdir(parents=True)
    (tmp_path / "packages/tiny/pyproject.toml").write_text(PYPROJECT)
    repo = Repo(tmp_path)
    repo.git("init", "-q", "-b", "main")
    repo.exports("Thing", "greet")
    repo.commit("feat(tiny): first")
    assert api_gate.run(tmp_path) == 0
    repo.commit("chore(tiny): api snapshot")
    return repo


def test_the_snapshot_holds_only_exports_without_paths_or_lines(repo: Repo) -> None:
    assert repo.names() == ["Thing", "greet"]
    text = repo.snapshot()
    assert str(repo.root) not in text
    assert "lineno" not in text
    assert "_hidden" not in text
    assert "_private" not in text
    thing = json.loads(text)["modules"][0]["members"][0]
    assert [m["name"] for m in thing["members"]] == ["__init__", "grow", "size"]


def test_inherited_members_count_only_from_the_same_distribution(repo: Repo) -> None:
    source = (
        "from json import JSONDecoder\n"
        + SOURCE
        + (
            "\n\nclass _Base:\n    def shared(self) -> None: ...\n"
            "\n\nclass Child(_Base, JSONDecoder):\n    def own(self) -> None: ...\n"
        )
    )
    repo.exports("Child", "JSONDecoder", "Thing", "greet", source=source)
    assert api_gate.run(repo.root) == 0
    child, decoder = json.loads(repo.snapshot())["modules"][0]["members"][:2]
    # decode() comes from the standard library: its shape is not this package's API.
    assert [m["name"] for m in child["members"]] == ["own", "shared"]
    assert decoder == {"name": "JSONDecoder", "kind": "alias", "target_path": "json.JSONDecoder"}


def test_unchanged_passes_and_writes_nothing(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo.snapshot()
    assert api_gate.run(repo.root) == 0
    assert repo.snapshot() == before
    assert repo.git("status", "--porcelain") == ""
    assert "tiny: ok" in capsys.readouterr().out


def test_an_addition_passes_and_updates_the_snapshot(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.exports("Thing", "farewell", "greet")
    assert api_gate.run(repo.root) == 0
    assert repo.names() == ["Thing", "farewell", "greet"]
    out = capsys.readouterr().out
    assert "+ tiny.farewell" in out
    assert f"wrote {SNAPSHOT}" in out


def test_dropping_a_name_from_all_fails_without_a_breaking_commit(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo.snapshot()
    repo.exports("Thing")
    repo.commit("refactor(tiny): greet is internal now")
    assert api_gate.run(repo.root) == 1
    assert repo.snapshot() == before
    out = capsys.readouterr().out
    assert "tiny.greet: Public object was removed" in out
    assert "tiny: FAIL" in out


def test_an_incompatible_signature_fails_without_a_breaking_commit(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.exports(
        "Thing", "greet", source=SOURCE.replace("(name: str)", "(name: str, *, loud: bool)")
    )
    repo.commit("fix(tiny): greet loudly")
    assert api_gate.run(repo.root) == 1
    assert "tiny.greet(loud): Parameter was added as required" in capsys.readouterr().out


def test_a_moved_parameter_names_its_positions(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.exports(
        "Thing",
        "greet",
        source=SOURCE.replace("(self, by: int = 1)", "(self, step: int = 0, by: int = 1)"),
    )
    assert api_gate.run(repo.root) == 1
    out = capsys.readouterr().out
    assert "tiny.Thing.grow(by): Positional parameter was moved: position: from 1 to 2 (+1)" in out


def test_a_feat_bang_commit_lets_a_removal_pass(repo: Repo) -> None:
    repo.exports("Thing")
    repo.commit("feat(tiny)!: greet is gone")
    assert api_gate.run(repo.root) == 0
    assert repo.names() == ["Thing"]


def test_a_breaking_change_footer_lets_a_removal_pass(repo: Repo) -> None:
    repo.exports("Thing")
    repo.commit("refactor(tiny): drop greet\n\nBREAKING CHANGE: greet is gone, use Thing")
    assert api_gate.run(repo.root) == 0
    assert repo.names() == ["Thing"]


def test_a_breaking_commit_elsewhere_does_not_count(repo: Repo) -> None:
    (repo.root / "README.md").write_text("elsewhere\n")
    repo.commit("feat(other)!: something else", "README.md")
    repo.exports("Thing")
    assert api_gate.run(repo.root) == 1


def test_a_breaking_commit_before_the_snapshot_does_not_count(repo: Repo) -> None:
    repo.exports("Thing", "farewell", "greet")
    repo.commit("feat(tiny)!: new greetings")
    assert api_gate.run(repo.root) == 0
    repo.commit("chore(tiny): api snapshot")
    repo.exports("Thing", "farewell")
    repo.commit("refactor(tiny): drop greet")
    assert api_gate.run(repo.root) == 1


def test_ci_mode_writes_nothing(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CI", "true")
    before = repo.snapshot()
    repo.exports("Thing", "farewell", "greet")
    assert api_gate.main(["--root", str(repo.root)]) == 0
    assert repo.snapshot() == before
    assert "is stale" in capsys.readouterr().out
    repo.exports("Thing")
    repo.commit("refactor(tiny): drop greet")
    assert api_gate.main(["--root", str(repo.root)]) == 1
    assert repo.snapshot() == before
    (repo.root / "packages/tiny/CHANGELOG.md").write_text("greet is gone\n")
    repo.commit("feat(tiny)!: greet is gone")
    assert api_gate.main(["--root", str(repo.root)]) == 0
    assert repo.snapshot() == before


def test_breaking_changes_since_the_last_release_need_a_breaking_commit_since_it(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.git("tag", "tiny-v1.0.0")
    # Source and snapshot changed together in an unmarked commit: the snapshot check sees no
    # difference, the comparison with the release's snapshot does.
    repo.exports("Thing")
    package = api_gate.read_packages(repo.root)[0]
    (repo.root / SNAPSHOT).write_text(api_gate.render(api_gate.dump_package(repo.root, package)))
    repo.commit("refactor(tiny): drop greet")
    assert api_gate.run(repo.root) == 1
    out = capsys.readouterr().out
    assert "breaking since tiny-v1.0.0: tiny.greet: Public object was removed" in out
    (repo.root / "packages/tiny/CHANGELOG.md").write_text("greet is gone\n")
    repo.commit("feat(tiny)!: greet is gone")
    assert api_gate.run(repo.root) == 0
    assert "announced by" in capsys.readouterr().out


def test_a_declared_module_that_does_not_exist_is_named(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = repo.root / "packages/tiny/pyproject.toml"
    pyproject.write_text(PYPROJECT.replace('["tiny"]', '["tiny", "tiny.provider"]'))
    assert api_gate.run(repo.root) == 2
    err = capsys.readouterr().err
    assert "'tiny.provider'" in err
    assert "does not exist" in err


@pytest.mark.parametrize(
    ("message", "breaking"),
    [
        ("feat!: x", True),
        ("feat(core)!: x", True),
        ("fix(core): x\n\nBREAKING CHANGE: y", True),
        ("fix(core): x\n\nBREAKING-CHANGE: y", True),
        ("fix(core): x! not this", False),
        ("docs: mention BREAKING CHANGE: in prose", False),
    ],
)
def test_breaking_markers(message: str, breaking: bool) -> None:
    assert api_gate.is_breaking(message) is breaking
