"""CredentialFile: lenient reads, atomic 0600 writes, unknown keys kept, locks that hold."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from ccproxy.auth import CredentialError, CredentialFile

SECRET = "sk-ant-oat01-very-secret-value"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_raw(path: Path, text: str, perms: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(perms)


def leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# --- reading -------------------------------------------------------------------------------


def test_missing_or_empty_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    assert CredentialFile(path).read() is None
    assert CredentialFile(path).stamp() is None
    write_raw(path, "  \n")
    assert CredentialFile(path).read() is None


def test_invalid_json_names_the_path_and_never_the_contents(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, '{"claudeAiOauth": {"accessToken": "' + SECRET + '",')
    with pytest.raises(CredentialError) as info:
        CredentialFile(path).read()
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message
    assert SECRET not in message and "accessToken" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_non_object_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, json.dumps([SECRET]))
    with pytest.raises(CredentialError, match="JSON object") as info:
        CredentialFile(path).read()
    assert SECRET not in str(info.value)


def test_path_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert CredentialFile("~/.codex/auth.json").path == tmp_path / ".codex" / "auth.json"


# --- writing -------------------------------------------------------------------------------


def test_write_creates_file_0600_and_parent_0700(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "creds.json"
    CredentialFile(path).write({"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert leftovers(path.parent, {"creds.json"}) == []


def test_rewriting_a_world_readable_file_leaves_it_0600(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, '{"old": true}', 0o644)
    CredentialFile(path).write({"new": True})
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == {"new": True}


def test_write_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        CredentialFile(tmp_path / "creds.json").write({"a": 1})
    finally:
        os.umask(old)
    assert mode(tmp_path / "creds.json") == 0o600


def test_write_replaces_the_inode_atomically(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    file = CredentialFile(path)
    file.write({"v": 1})
    before = file.stamp()
    file.write({"v": 2})
    after = file.stamp()
    assert before is not None and after is not None and before.inode != after.inode


def test_write_follows_a_symlink_to_its_target(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "creds.json"
    real.parent.mkdir()
    write_raw(real, "{}")
    link = tmp_path / "creds.json"
    link.symlink_to(real)
    CredentialFile(link).write({"a": 1})
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"a": 1}
    assert mode(real) == 0o600


def test_failed_write_leaves_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, '{"keep": "me"}', 0o600)

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # the crash happens after the temp file is written
    with pytest.raises(OSError, match="No space"):
        CredentialFile(path).write({"keep": "not"})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"keep": "me"}
    assert leftovers(tmp_path, {"creds.json"}) == []


def test_unserialisable_data_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, '{"keep": "me"}', 0o600)
    with pytest.raises(TypeError):
        CredentialFile(path).write({"bad": object()})
    assert json.loads(path.read_text()) == {"keep": "me"}
    assert leftovers(tmp_path, {"creds.json"}) == []


# --- update --------------------------------------------------------------------------------


async def test_update_preserves_unknown_keys_and_makes_no_backups(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    original = {"claudeAiOauth": {"accessToken": "a", "rateLimitTier": "x"}, "mcpOAuth": {"k": 1}}
    write_raw(path, json.dumps(original), 0o644)

    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        data["claudeAiOauth"]["accessToken"] = "b"
        return data

    written = await CredentialFile(path).update(mutate)
    expected = {"claudeAiOauth": {"accessToken": "b", "rateLimitTier": "x"}, "mcpOAuth": {"k": 1}}
    assert written == expected
    assert json.loads(path.read_text()) == expected
    assert mode(path) == 0o600
    assert leftovers(tmp_path, {"creds.json", "creds.json.lock"}) == []


async def test_update_of_a_missing_file_starts_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "creds.json"
    await CredentialFile(path).update(lambda d: {**d, "x": 1})
    assert json.loads(path.read_text()) == {"x": 1}


async def test_mutator_exception_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    text = '{"keep": "me"}'
    write_raw(path, text, 0o600)

    def boom(data: dict[str, Any]) -> dict[str, Any]:
        data["keep"] = "changed"
        raise RuntimeError("mutator crashed")

    file = CredentialFile(path)
    with pytest.raises(RuntimeError, match="mutator crashed"):
        await file.update(boom)
    assert path.read_text() == text
    assert leftovers(tmp_path, {"creds.json", "creds.json.lock"}) == []
    # The lock was released: another update goes through at once.
    await asyncio.wait_for(file.update(lambda d: d), timeout=1)


async def test_update_refuses_invalid_json_instead_of_overwriting(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, "{not json", 0o600)
    with pytest.raises(CredentialError, match="not valid JSON"):
        await CredentialFile(path).update(lambda d: {"x": 1})
    assert path.read_text() == "{not json"


# --- locking -------------------------------------------------------------------------------


async def test_lock_is_reentrant_within_a_task_and_exclusive_across_tasks(tmp_path: Path) -> None:
    file = CredentialFile(tmp_path / "creds.json")
    order: list[str] = []

    async def holder() -> None:
        async with file.lock():
            order.append("a-in")
            await file.update(lambda d: {**d, "a": 1})  # reentrant: no deadlock
            await asyncio.sleep(0.05)
            order.append("a-out")

    async def waiter() -> None:
        await asyncio.sleep(0.01)
        async with file.lock():
            order.append("b-in")

    await asyncio.wait_for(asyncio.gather(holder(), waiter()), timeout=5)
    assert order == ["a-in", "a-out", "b-in"]


async def test_two_instances_on_one_path_exclude_each_other(tmp_path: Path) -> None:
    first = CredentialFile(tmp_path / "creds.json")
    second = CredentialFile(tmp_path / "creds.json", lock_timeout=0.1)
    async with first.lock():
        with pytest.raises(CredentialError, match="timed out") as waited:
            async with second.lock():
                pass
    assert waited.value.lasting is False  # the holder lets go: trying later works
    async with second.lock():
        pass


HOLD_LOCK = textwrap.dedent(
    """
    import os, sys, time
    import filelock
    lock_path, source, target, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with filelock.FileLock(lock_path):
        print("locked", flush=True)
        time.sleep(hold)
        os.replace(source, target)
    """
)


async def test_lock_waits_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    write_raw(path, '{"v": "old"}', 0o600)
    staged = tmp_path / "staged.json"
    write_raw(staged, '{"v": "from-other-process"}', 0o600)
    file = CredentialFile(path, lock_timeout=10)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_LOCK,
        str(file.lock_path),
        str(staged),
        str(path),
        "0.4",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=10)
        assert line.strip() == b"locked"
        started = time.monotonic()
        async with file.lock():
            waited = time.monotonic() - started
            seen = file.read()
    finally:
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.returncode == 0
    assert waited >= 0.2
    assert seen == {"v": "from-other-process"}
