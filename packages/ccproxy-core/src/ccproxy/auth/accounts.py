"""A provider's accounts as files: the CLI's own credential file plus one file per account.

``default`` is the provider CLI's own credential file (Claude Code's, Codex CLI's); each further
account is ``<folder>/<name>.json`` in the same format (``$XDG_CONFIG_HOME/ccproxy/accounts/
<provider>/`` by default). :meth:`AccountDirectory.rescan` notices files added, changed or
removed — the auth plugin runs it every couple of seconds from a scheduled task, never on the
request path — and a changed file gets a fresh token source, which clears an ``invalid`` mark.

The directory is the provider's ``oauth.<provider>`` service: an ``AccountSet`` for the pipeline,
and, for everything that knows one account only, the ``TokenSource`` of ``default``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import anyio.to_thread

if TYPE_CHECKING:
    from ccproxy.services import AccountInfo, TokenSource

__all__ = [
    "DEFAULT_ACCOUNT",
    "AccountDirectory",
    "account_files",
    "accounts_folder",
    "valid_account_name",
]

#: The account backed by the provider CLI's own credential file.
DEFAULT_ACCOUNT = "default"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def valid_account_name(name: str) -> bool:
    """Lower-case letters, digits, ``.``, ``_`` and ``-``, at most 64, not ``default``."""
    return name != DEFAULT_ACCOUNT and _NAME.fullmatch(name) is not None


def accounts_folder(provider: str, env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ccproxy/accounts/<provider>`` (``~/.config`` when unset)."""
    env = os.environ if env is None else env
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "ccproxy" / "accounts" / provider


def account_files(default: Path | None, folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """``default``'s file (unless ``None``) and every ``<name>.json`` in ``folder`` by account
    name, and the files of ``folder`` skipped, with why (bad names)."""
    found = {} if default is None else {DEFAULT_ACCOUNT: default}
    skipped: dict[str, str] = {}
    try:
        entries = sorted(folder.glob("*.json"))
    except OSError:
        entries = []
    for path in entries:
        if valid_account_name(path.stem):
            found[path.stem] = path
        else:
            skipped[path.name] = "not a valid account name"
    return found, skipped


#: A file's identity (path, inode, size, mtime): a change in any of these means it was
#: rewritten, or moved (the same name, another path).
_Seen = tuple[Path, int, int, int]


class AccountDirectory:
    """The ``AccountSet`` of one provider, read from ``default_file`` and ``folder``.

    ``make_source(name, path)`` builds the token source of one account file. Until the first
    :meth:`rescan` only ``default`` is known (when its source was given).
    """

    def __init__(
        self,
        *,
        default_file: Path | Callable[[], Path] | None,
        folder: Path,
        make_source: Callable[[str, Path], TokenSource],
        default: TokenSource | None = None,
    ) -> None:
        self.folder = folder
        #: The ``default`` account's file, or how to find it now (it may move: a provider can
        #: prefer its own file once it exists over another program's); None: no file.
        self.default_file = default_file
        self._make_source = make_source
        self._sources: dict[str, TokenSource] = {}
        self._seen: dict[str, _Seen | None] = {}
        if default is not None:
            self._sources[DEFAULT_ACCOUNT] = default
            path = self._find_default()
            self._seen[DEFAULT_ACCOUNT] = _stat(path) if path else None
        self._view: Mapping[str, TokenSource] = MappingProxyType(dict(self._sources))
        #: Files in the folder that were skipped, with why (bad names).
        self.skipped: dict[str, str] = {}

    # --- AccountSet ------------------------------------------------------------------------

    def accounts(self) -> Mapping[str, TokenSource]:
        """The accounts by name as of the last rescan (no file I/O)."""
        return self._view

    # --- TokenSource of the default account ------------------------------------------------

    async def access_token(self) -> str:
        """The ``default`` account's token (for code that knows one account only)."""
        return await self._default().access_token()

    async def refresh(self, rejected: str | None) -> str:
        """Refresh the ``default`` account's token."""
        return await self._default().refresh(rejected)

    def account(self) -> AccountInfo:
        """The ``default`` account's facts."""
        return self._default().account()

    def _default(self) -> TokenSource:
        # Without a default: the first other account, as a caller without accounts would see.
        source = self._view.get(DEFAULT_ACCOUNT, next(iter(self._view.values()), None))
        if source is None:
            raise LookupError("no account: log in first")
        return source

    # --- files ------------------------------------------------------------------------------

    async def rescan(self) -> bool:
        """Pick up account files added, changed or removed; True when anything changed.

        Runs the directory listing in a worker thread: it is file I/O.
        """
        found = await anyio.to_thread.run_sync(self._scan)
        changed = False
        sources = dict(self._sources)
        for name in set(sources) - set(found):
            if name == DEFAULT_ACCOUNT and self.default_file is None:
                continue  # a default given without a file cannot disappear
            del sources[name]
            self._seen.pop(name, None)
            changed = True
        for name, (path, seen) in found.items():
            if name in sources and self._seen.get(name) == seen:
                continue
            sources[name] = self._make_source(name, path)
            self._seen[name] = seen
            changed = True
        if changed:
            self._sources = sources
            self._view = MappingProxyType(dict(sorted(sources.items())))
        return changed

    def _find_default(self) -> Path | None:
        found = self.default_file() if callable(self.default_file) else self.default_file
        # A configured default such as ``~/.claude/.credentials.json`` may reach here unexpanded.
        return None if found is None else found.expanduser()

    def _scan(self) -> dict[str, tuple[Path, _Seen]]:
        files, self.skipped = account_files(self._find_default(), self.folder)
        return {
            name: (path, seen) for name, path in files.items() if (seen := _stat(path)) is not None
        }


def _stat(path: Path) -> _Seen | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return path, info.st_ino, info.st_size, info.st_mtime_ns
