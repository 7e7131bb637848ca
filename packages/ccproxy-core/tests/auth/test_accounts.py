"""AccountDirectory: account files picked up, re-read and dropped while the server runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccproxy.auth.accounts import (
    DEFAULT_ACCOUNT,
    AccountDirectory,
    accounts_folder,
    valid_account_name,
)
from ccproxy.auth.provider import OAuthProvider
from ccproxy.services import AccountInfo, AccountSet, TokenSource


class FileSource:
    """A token source reading its token from a file once, at creation."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.token = path.read_text().strip()

    async def access_token(self) -> str:
        return self.token

    async def refresh(self, rejected: str | None) -> str:
        return self.token

    def account(self) -> AccountInfo:
        return AccountInfo(id=self.name, source="file")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stat = path.stat()  # a distinct mtime even on coarse clocks
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    default = tmp_path / "cli" / "credentials.json"
    write(default, "tok-default")
    return default, tmp_path / "accounts" / "claude"


async def test_accounts_appear_change_and_disappear_on_rescan(layout: tuple[Path, Path]) -> None:
    default_file, folder = layout
    directory = AccountDirectory(default_file=default_file, folder=folder, make_source=FileSource)
    assert isinstance(directory, AccountSet) and isinstance(directory, TokenSource)
    assert await directory.rescan() is True
    assert list(directory.accounts()) == [DEFAULT_ACCOUNT]
    assert await directory.access_token() == "tok-default"

    write(folder / "work.json", "tok-work")
    write(folder / "Bad Name.json", "ignored")
    write(folder / "default.json", "reserved")
    assert await directory.rescan() is True
    assert list(directory.accounts()) == [DEFAULT_ACCOUNT, "work"]
    assert directory.skipped == {
        "Bad Name.json": "not a valid account name",
        "default.json": "not a valid account name",
    }
    work = directory.accounts()["work"]
    assert await directory.rescan() is False  # nothing changed: the same objects
    assert directory.accounts()["work"] is work

    write(folder / "work.json", "tok-work-2")  # a new login for the same account
    assert await directory.rescan() is True
    assert directory.accounts()["work"] is not work
    assert await directory.accounts()["work"].access_token() == "tok-work-2"

    (folder / "work.json").unlink()
    default_file.unlink()
    assert await directory.rescan() is True
    assert dict(directory.accounts()) == {}
    with pytest.raises(LookupError, match="log in"):
        await directory.access_token()


async def test_a_given_default_source_is_kept_until_its_file_changes(
    layout: tuple[Path, Path],
) -> None:
    default_file, folder = layout
    given = FileSource("given", default_file)
    directory = AccountDirectory(
        default_file=default_file, folder=folder, make_source=FileSource, default=given
    )
    assert directory.accounts()[DEFAULT_ACCOUNT] is given  # before any rescan
    assert await directory.rescan() is False
    write(default_file, "tok-new")
    assert await directory.rescan() is True
    assert await directory.access_token() == "tok-new"
    assert directory.account().id == DEFAULT_ACCOUNT


def test_account_names_and_files(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"XDG_CONFIG_HOME": "/cfg"}
    assert accounts_folder("codex", env) == Path("/cfg/ccproxy/accounts/codex")
    for bad in ("default", "Work", "../x", "", "a" * 65, "-x"):
        assert not valid_account_name(bad), bad

    class Codex(OAuthProvider[None]):
        name = "codex"

        def credentials_path(self, config: None) -> Path:
            return Path("/home/me/.codex/auth.json")

    monkeypatch.setenv("XDG_CONFIG_HOME", "/cfg")
    provider = Codex()
    assert provider.account_path(None) == Path("/home/me/.codex/auth.json")
    assert provider.account_path(None, "work-2") == Path("/cfg/ccproxy/accounts/codex/work-2.json")
    with pytest.raises(ValueError, match="invalid account name"):
        provider.account_path(None, "../escape")


async def test_a_default_that_moves_to_another_file_is_followed(
    layout: tuple[Path, Path], tmp_path: Path
) -> None:
    other_programs, folder = layout  # e.g. an editor's login, read while ours is missing
    own = tmp_path / "own.json"
    given = FileSource("given", other_programs)
    directory = AccountDirectory(
        default_file=lambda: own if own.exists() else other_programs,
        folder=folder,
        make_source=FileSource,
        default=given,
    )
    assert await directory.rescan() is False  # the same file as at the start
    write(own, "tok-own")  # our own login now exists and wins
    assert await directory.rescan() is True
    assert await directory.access_token() == "tok-own"
    own.unlink()  # back to the other program's file
    assert await directory.rescan() is True
    assert await directory.access_token() == "tok-default"


async def test_a_default_file_under_the_home_folder_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configuration defaults such as ~/.claude/.credentials.json may arrive unexpanded.
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".cli" / "credentials.json", "tok-home")
    directory = AccountDirectory(
        default_file=lambda: Path("~/.cli/credentials.json"),
        folder=tmp_path / "accounts",
        make_source=FileSource,
    )
    assert await directory.rescan() is True
    assert await directory.access_token() == "tok-home"
