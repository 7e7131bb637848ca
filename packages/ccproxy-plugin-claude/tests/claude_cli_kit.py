"""Driving the ``auth.claude`` commands (core builds them from the provider description) with a CLI runner while a test talks to it.

``run_cli`` invokes the app in a worker thread so that the test's event loop keeps serving the
loopback fakes; ``printed`` reads what the command has printed so far; a ``LineFeed`` is a stdin
whose lines the test supplies once it has seen the authorize URL.

typer's ``CliRunner`` (typer 0.29 vendors click) accepts only a fixed ``str``/``bytes`` input,
which cannot hold a ``CODE#STATE`` that depends on a URL the command prints at run time. With a
``LineFeed`` the same typer command (``typer.main.get_command(app)``) runs under click's
``CliRunner``, which takes a stream: typer's prompt then reads ``sys.stdin`` as in a terminal.
"""

from __future__ import annotations

import asyncio
import io
import queue
import re
import sys
from typing import Any

import click.testing
import typer
import typer.testing

from ccproxy.plugins.cli import auth_commands
from ccproxy_plugin_claude.oauth_provider import oauth_provider

app = auth_commands(oauth_provider)

AUTHORIZE = re.compile(r"https://(?:claude\.com/cai|platform\.claude\.com)/oauth/authorize\?\S+")


class LineFeed(io.RawIOBase):
    """A stdin whose lines arrive while the command runs (EOF after 30 s without one)."""

    def __init__(self) -> None:
        super().__init__()
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def feed(self, line: str) -> None:
        self._lines.put(f"{line}\n".encode())

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            try:
                self._pending = self._lines.get(timeout=30)
            except queue.Empty:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


async def run_cli(args: list[str], *, stdin: LineFeed | None = None) -> Any:
    """Invoke the app with ``args`` in a thread (typer's runner; click's with a ``stdin``)."""
    if stdin is None:
        return await asyncio.to_thread(typer.testing.CliRunner().invoke, app, args)
    command = typer.main.get_command(app)
    runner = click.testing.CliRunner()
    stream = io.BufferedReader(stdin)
    return await asyncio.to_thread(runner.invoke, command, args, input=stream)


async def printed(pattern: re.Pattern[str], wait_seconds: float = 10.0) -> re.Match[str]:
    """Wait until the running command has printed ``pattern`` (CliRunner captures stdout in a
    BytesIO behind ``sys.stdout`` while a command runs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while loop.time() < deadline:
        getvalue = getattr(getattr(sys.stdout, "buffer", None), "getvalue", None)
        if callable(getvalue):
            match = pattern.search(getvalue().decode("utf-8", "replace"))
            if match is not None:
                return match
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the command did not print {pattern.pattern!r} within {wait_seconds} s")
