"""A real ``redis-server`` on a free loopback port, for tests of shared state.

Debian's ``redis-server`` package provides the binary (``./scripts/check`` installs it when it
can). The server keeps nothing on disk and stops when the block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess  # nosec B404 # starts the redis-server binary for tests
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ccproxy.testing.network import free_port

__all__ = ["RedisUnavailable", "redis_server"]

_START_TIMEOUT_SECONDS = 10.0


class RedisUnavailable(Exception):
    """``redis-server`` is not installed here."""


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """Start ``redis-server`` on 127.0.0.1 and yield its ``redis://`` URL.

    Raises :class:`RedisUnavailable` when the binary is missing, and ``RuntimeError`` when it
    does not answer ``PING`` within 10 seconds.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(
            "redis-server is not installed (Debian: apt-get install redis-server)"
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ccproxy-redis-") as folder:
        process = subprocess.Popen(  # nosec B603 # a fixed binary with fixed arguments
            [
                binary,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", folder,
                "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + _START_TIMEOUT_SECONDS
            while not _answers_ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
