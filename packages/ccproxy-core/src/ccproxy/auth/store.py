"""Credential files: JSON read leniently, written atomically with mode 0600, locked for updates.

Claude Code and the Codex CLI rewrite the same files ccproxy does, so every read-modify-write
re-reads the file and edits the parsed dict in place: keys ccproxy does not know survive.
Writes go to a temp file in the same directory (created 0600), are fsynced, renamed over the
target and the directory is fsynced; there are never backup copies.

The lock (``<path>.lock``, via ``filelock``) orders ccproxy processes among themselves; the
official CLIs do not take it, which is why callers re-read the file once they hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ccproxy.auth.errors import CredentialError

if TYPE_CHECKING:
    import filelock

__all__ = [
    "CredentialFile",
    "FileStamp",
    "LoopLock",
]

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


@dataclass(frozen=True)
class FileStamp:
    """What ``os.stat`` says about a file; a different stamp means the file was rewritten."""

    mtime_ns: int
    size: int
    inode: int


class LoopLock:
    """An ``asyncio.Lock`` per event loop (a CLI may run several loops one after another)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    def get(self) -> asyncio.Lock:
        """The lock of the running loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._loop, self._lock = loop, asyncio.Lock()
        return self._lock


class CredentialFile:
    """One JSON credential file, e.g. ``~/.claude/.credentials.json`` or ``~/.codex/auth.json``.

    ``lock()`` is reentrant within one task, so code holding it may call :meth:`update`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = 30.0,
        lock_poll_interval: float = 0.02,
        indent: int | None = 2,
    ) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._poll = lock_poll_interval
        self._indent = indent
        # Made on first use: reads need no lock (writes replace the file atomically), and an
        # idle proxy need not load the locking library (~0.7 MB).
        self._file_lock: filelock.FileLock | None = None
        self._loop_lock = LoopLock()
        self._owner: asyncio.Task[Any] | None = None

    def __repr__(self) -> str:
        return f"CredentialFile({str(self.path)!r})"

    # reading ---------------------------------------------------------------------------------

    def stamp(self) -> FileStamp | None:
        """The file's current stamp (``None`` when it does not exist)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CredentialError(
                f"cannot read credential file {self.path}: {_reason(exc)}"
            ) from None
        return FileStamp(st.st_mtime_ns, st.st_size, st.st_ino)

    def read(self) -> dict[str, Any] | None:
        """The parsed file, or ``None`` when it does not exist (or is empty).

        Raises :class:`CredentialError` naming the path when it cannot be read or is not a JSON
        object; the message never repeats the file's contents.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = _reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
            raise CredentialError(f"cannot read credential file {self.path}: {reason}") from None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.msg is the parser's description ("Expecting value"), never the document.
            raise CredentialError(
                f"credential file {self.path} is not valid JSON "
                f"({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
        if not isinstance(data, dict):
            raise CredentialError(f"credential file {self.path} does not hold a JSON object")
        return data

    # writing ---------------------------------------------------------------------------------

    def ensure_parent(self) -> None:
        """Create the parent directory (mode 0700) when it is missing."""
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)

    def write(self, data: dict[str, Any]) -> None:
        """Replace the file with ``data`` atomically; the result has mode 0600.

        The caller holds :meth:`lock` when ``data`` came from an earlier read. A symlinked file is
        written through (the link's target is replaced), so dotfile managers keep working.
        """
        text = json.dumps(data, indent=self._indent, ensure_ascii=False)
        if self._indent is not None:
            text += "\n"
        self.ensure_parent()
        target = Path(os.path.realpath(self.path))
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(
            tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), FILE_MODE
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), FILE_MODE)  # the umask may have removed bits
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_directory(target.parent)

    async def update(self, mutator: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Under :meth:`lock`: re-read the file, apply ``mutator``, write the result back.

        ``mutator`` gets the parsed file (``{}`` when missing) and returns the dict to write; it
        should edit what it knows and leave every other key alone. If it raises, nothing is
        written. Returns what was written.
        """
        async with self.lock():
            data = self.read() or {}
            updated = mutator(data)
            self.write(updated)
            return updated

    # locking ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        """Hold this file for a read-modify-write, within this process and across processes.

        Waits on an ``asyncio.Lock`` first, then polls the file lock without blocking the event
        loop. Raises :class:`CredentialError` after ``lock_timeout`` seconds. Reentrant within the
        task that holds it.
        """
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        async with self._loop_lock.get():
            file_lock = await self._acquire_file_lock()
            self._owner = task
            try:
                yield
            finally:
                self._owner = None
                file_lock.release()

    async def _acquire_file_lock(self) -> filelock.FileLock:
        import filelock

        if self._file_lock is None:
            # thread_local=False: the lock is taken and released on the event loop thread, but
            # a caller may hand the file to another thread; a thread-local owner would leak it.
            self._file_lock = filelock.FileLock(
                str(self.lock_path), mode=FILE_MODE, thread_local=False
            )
        self.ensure_parent()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_timeout
        while True:
            try:
                self._file_lock.acquire(timeout=0)
                return self._file_lock
            except filelock.Timeout:
                if loop.time() >= deadline:
                    raise CredentialError(
                        f"timed out after {self.lock_timeout:g}s waiting for the lock {self.lock_path}",
                        lasting=False,  # another process holds it for now
                    ) from None
            await asyncio.sleep(self._poll)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
