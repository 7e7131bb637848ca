"""The loopback-only socket guard that ccproxy.testing.pytest_plugin installs for every test."""

from __future__ import annotations

import _socket
import asyncio
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from ccproxy.testing.network import (
    NetworkAccessError,
    free_port,
    is_loopback_host,
    network_guard_active,
    take_network_violations,
)
from ccproxy.testing.pytest_plugin import hypothesis_profile_name

NON_LOOPBACK = ["10.0.0.1", "93.184.216.34", "2606:2800:220:1::1", "::ffff:10.0.0.1", "0.0.0.0"]


@contextmanager
def refused(target: str) -> Iterator[None]:
    """Expect the guard to refuse ``target`` here, then acknowledge the recorded refusal."""
    expected = re.escape(f"test tried to reach {target}") + r"(:\d+)? outside loopback"
    with pytest.raises(NetworkAccessError, match=expected):
        yield
    violations = take_network_violations()
    assert violations, "the refusal was not recorded"
    assert all(target in v for v in violations), violations


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_guard_is_on_for_every_test() -> None:
    assert network_guard_active()
    assert issubclass(NetworkAccessError, OSError)


def test_loopback_connections_work(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, port), timeout=5) as client:
            accepted, _ = listener.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
    with socket.socket() as raw:
        assert raw.connect_ex(("127.0.0.1", port)) == 0
        listener.accept()[0].close()
    assert take_network_violations() == []


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_works() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as server:
        server.bind(("::1", 0))
        server.listen()
        with socket.create_connection(("::1", server.getsockname()[1]), timeout=5):
            server.accept()[0].close()


@pytest.mark.parametrize("host", NON_LOOPBACK)
def test_connect_outside_loopback_is_refused_before_the_kernel_sees_it(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    target = f"[{host}]" if ":" in host else host
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)  # a real connect would return at once, having sent a SYN
        with refused(target):
            sock.connect((host, 80))
        # A socket that started connecting is bound to a local address; this one never was.
        assert sock.getsockname()[1] == 0
        with refused(target):
            sock.connect_ex((host, 80))
        assert sock.getsockname()[1] == 0


@pytest.mark.parametrize("host", ["10.0.0.1", "93.184.216.34", "example.com"])
def test_create_connection_outside_loopback_is_refused(host: str) -> None:
    with refused(host):
        socket.create_connection((host, 80), timeout=1)


def test_name_lookups_outside_loopback_are_refused() -> None:
    with refused("example.com"):
        socket.getaddrinfo("example.com", 443)
    with refused("example.com"):
        socket.gethostbyname("example.com")
    with refused("93.184.216.34"):
        socket.gethostbyaddr("93.184.216.34")
    with socket.socket() as sock, refused("example.com"):
        sock.connect(("example.com", 80))  # refused before CPython resolves the name
    assert socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    assert socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
    assert socket.getaddrinfo(None, 80, flags=socket.AI_PASSIVE)


def test_code_that_bypasses_the_socket_module_is_refused_too() -> None:
    # _socket.socket is the C type under socket.socket: only the audit hook sees it.
    with closing(_socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as raw, refused("10.0.0.1"):
        raw.connect(("10.0.0.1", 80))
    with closing(_socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as raw, refused("10.0.0.1"):
        raw.sendto(b"x", ("10.0.0.1", 53))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, refused("8.8.8.8"):
        sock.sendto(b"x", ("8.8.8.8", 53))


def test_unix_sockets_are_fine(tmp_path: Path) -> None:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets")
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            server.accept()[0].close()


async def test_asyncio_open_connection_outside_loopback_is_refused() -> None:
    with refused("10.0.0.1"):
        await asyncio.open_connection("10.0.0.1", 80)
    with refused("example.com"):
        await asyncio.open_connection("example.com", 80)


async def test_asyncio_loopback_works() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        writer.close()
        await writer.wait_closed()


def test_uvloop_is_guarded_too() -> None:
    uvloop = pytest.importorskip("uvloop")  # uvicorn's default loop connects through libuv

    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
        with refused("10.0.0.1"):
            await asyncio.open_connection("10.0.0.1", 80)
        with refused("example.com"):
            await asyncio.open_connection("example.com", 80)
        with refused("example.com"):
            await asyncio.get_running_loop().getaddrinfo("example.com", 80)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


def test_refusals_in_other_threads_are_recorded() -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            socket.create_connection(("10.0.0.1", 80), timeout=1)
        except OSError as exc:  # swallowed, as a retrying library would
            errors.append(exc)

    thread = threading.Thread(target=worker, name="swallower")
    thread.start()
    thread.join(timeout=10)
    assert isinstance(errors[0], NetworkAccessError)
    violations = take_network_violations()
    assert len(violations) == 1
    assert "10.0.0.1" in violations[0]
    assert "[thread swallower]" in violations[0]


def test_a_test_that_swallows_the_error_still_fails(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import socket

            import pytest


            def test_swallows() -> None:
                try:
                    socket.create_connection(("93.184.216.34", 443), timeout=1)
                except OSError:
                    pass  # e.g. a client that falls back or answers 502


            @pytest.fixture
            def leaky():
                yield
                try:
                    socket.create_connection(("example.com", 443), timeout=1)
                except OSError:
                    pass


            def test_leaks_in_teardown(leaky: None) -> None:
                pass


            def test_clean() -> None:
                pass
            """
        )
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    plugin = ["-p", "ccproxy.testing.pytest_plugin", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "network guard refused 1 attempt(s) during the test" in out
    assert "test tried to reach 93.184.216.34:443 outside loopback" in out
    assert "network guard refused 1 attempt(s) during teardown" in out
    assert "test tried to reach example.com:443 outside loopback" in out
    assert re.search(r"1 failed, 2 passed, 1 error", out), out


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        (b"127.0.0.1", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("localhost.", False),
        ("foo.localhost", False),
        ("127.1", False),  # inet_aton shorthand: not worth the ambiguity
        ("example.com", False),
        (None, False),
    ],
)
def test_is_loopback_host(host: str | bytes | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_free_port_returns_a_bindable_port() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_free_port_on_ipv6_loopback() -> None:
    port = free_port("::1")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", port))


@pytest.mark.parametrize(
    ("ci", "profile"),
    [("true", "ci"), ("1", "ci"), ("", "dev"), ("false", "dev"), (None, "dev")],
)
def test_hypothesis_profile_follows_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, profile: str
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert hypothesis_profile_name() == profile


def test_hypothesis_profile_is_loaded() -> None:
    settings = pytest.importorskip("hypothesis").settings
    assert settings.get_current_profile_name() == hypothesis_profile_name()
