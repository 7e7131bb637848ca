"""Loopback-only networking for tests: a socket guard and a free-port helper.

The guard refuses, before any packet leaves, every attempt to connect to, send to, or resolve
a host outside 127.0.0.0/8 and ``::1`` (Unix sockets are fine). It works at three levels:

- ``socket.socket.connect``/``connect_ex``/``sendto`` and ``socket.getaddrinfo`` are patched so
  that a host *name* is refused before CPython resolves it (the C socket methods resolve names
  before they raise their audit event, so an audit hook alone would let the DNS query out);
- a ``sys.addaudithook`` hook backs the patches up for code that holds a reference taken
  before they were applied, uses ``_socket`` directly, or calls ``gethostbyname``,
  ``gethostbyaddr``, ``getnameinfo`` or ``sendmsg``;
- uvloop's ``Loop`` (uvicorn's default event loop) connects and resolves through libuv, not
  through the ``socket`` module, so its entry points are patched too when uvloop is installed.

A refusal raises :class:`NetworkAccessError`, an ``OSError`` so that libraries take their usual
clean-up path for a failed connection. Because they may also swallow it (retry, fall back,
answer 502), every refusal is recorded as well; the ``ccproxy.testing.pytest_plugin`` fails the
test during which one was recorded, whatever the code under test did with the exception.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "NetworkAccessError",
    "free_port",
    "install_network_guard",
    "is_loopback_host",
    "network_guard_active",
    "take_network_violations",
    "uninstall_network_guard",
]

_LOOPBACK_NAMES = frozenset({"localhost"})  # answered by /etc/hosts, never by DNS

_lock = threading.Lock()
_violations: list[str] = []
_depth = 0  # install/uninstall nest, so an in-process pytester run does not disarm the outer run
_audit_hook_added = False
_restore: list[Callable[[], None]] = []

# The real functions, captured once at import, before anything is patched.
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto: Callable[..., int] = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo


class NetworkAccessError(OSError):
    """Raised when code under test tries to reach a host outside loopback."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (bind port 0, read the number).

    Another process may take the port before the caller binds it; the window is tiny and
    the kernel hands out ephemeral ports in sequence, so tests use this for servers they start.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def is_loopback_host(host: str | bytes | None) -> bool:
    """True for ``localhost`` and for numeric addresses in 127.0.0.0/8 or ``::1``."""
    if host is None:
        return False
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def network_guard_active() -> bool:
    """True while the guard is installed."""
    return _depth > 0


def take_network_violations() -> list[str]:
    """Return and forget the refusals recorded so far.

    The pytest plugin calls this after each test phase. A test that provokes a refusal on
    purpose (the guard's own tests) calls it to acknowledge what it expected.
    """
    with _lock:
        taken = list(_violations)
        _violations.clear()
    return taken


def _refuse(target: str, via: str) -> NetworkAccessError:
    message = f"test tried to reach {target} outside loopback ({via})"
    thread = threading.current_thread()
    note = "" if thread is threading.main_thread() else f" [thread {thread.name}]"
    with _lock:
        _violations.append(message + note)
    return NetworkAccessError(message)


def _target(host: object, port: object = None) -> str:
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    if ":" in text:
        text = f"[{text}]"
    return text if port is None else f"{text}:{port}"


def _check_address(family: int, address: Any, via: str) -> None:
    """Refuse a socket address outside loopback; Unix sockets are always fine."""
    if family == socket.AF_UNIX:
        return
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        host = address[0]
        if not is_loopback_host(host):
            port = address[1] if len(address) > 1 else None
            raise _refuse(_target(host, port), via)
        return
    raise _refuse(f"{address!r} (address family {family})", via)


def _check_lookup(host: object, port: object, via: str) -> None:
    """Refuse a name lookup unless it is passive (no host) or for a loopback host."""
    if host is None or host in ("", b""):
        return
    if not isinstance(host, (str, bytes)) or not is_loopback_host(host):
        raise _refuse(_target(host, port), via)


# --- the patched socket module -------------------------------------------------------------


def _guarded_connect(self: socket.socket, address: Any, /) -> None:
    _check_address(self.family, address, "socket.connect")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any, /) -> int:
    _check_address(self.family, address, "socket.connect_ex")
    return _real_connect_ex(self, address)


def _guarded_sendto(self: socket.socket, *args: Any) -> int:
    if len(args) in (2, 3):  # sendto(data, address) or sendto(data, flags, address)
        _check_address(self.family, args[-1], "socket.sendto")
    return _real_sendto(self, *args)


def _guarded_getaddrinfo(
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[Any]:
    _check_lookup(host, port, "getaddrinfo")
    return _real_getaddrinfo(host, port, family, type, proto, flags)


# --- the audit hook backstop ---------------------------------------------------------------


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _depth == 0 or not event.startswith("socket."):
        return
    if event in ("socket.connect", "socket.sendto"):
        _check_address(args[0].family, args[1], event)
    elif event == "socket.sendmsg":
        if args[1] is not None:
            _check_address(args[0].family, args[1], event)
    elif event == "socket.getaddrinfo":
        _check_lookup(args[0], args[1], event)
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        _check_lookup(args[0], None, event)
    elif event == "socket.getnameinfo":
        sockaddr = args[0]
        if isinstance(sockaddr, tuple) and sockaddr:
            _check_lookup(sockaddr[0], sockaddr[1] if len(sockaddr) > 1 else None, event)


# --- uvloop --------------------------------------------------------------------------------


def _patch_uvloop() -> None:
    try:
        import uvloop  # optional: patched only when installed
    except ImportError:
        return
    loop_cls: Any = uvloop.Loop
    real_create_connection = loop_cls.create_connection
    real_getaddrinfo = loop_cls.getaddrinfo
    real_datagram = loop_cls.create_datagram_endpoint

    async def create_connection(
        self: Any, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        if host is not None:  # with sock=..., the caller connected the socket (guarded)
            _check_lookup(host, port, "uvloop.create_connection")
        return await real_create_connection(self, protocol_factory, host, port, **kwargs)

    async def getaddrinfo(self: Any, host: Any, port: Any, **kwargs: Any) -> Any:
        _check_lookup(host, port, "uvloop.getaddrinfo")
        return await real_getaddrinfo(self, host, port, **kwargs)

    async def create_datagram_endpoint(
        self: Any, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kw: Any
    ) -> Any:
        if isinstance(remote_addr, tuple) and remote_addr:
            _check_lookup(remote_addr[0], remote_addr[1], "uvloop.create_datagram_endpoint")
        return await real_datagram(self, protocol_factory, local_addr, remote_addr, **kw)

    _patch(loop_cls, "create_connection", create_connection)
    _patch(loop_cls, "getaddrinfo", getaddrinfo)
    _patch(loop_cls, "create_datagram_endpoint", create_datagram_endpoint)


# --- install / uninstall -------------------------------------------------------------------

_MISSING = object()


def _patch(owner: Any, name: str, replacement: object) -> None:
    previous = vars(owner).get(name, _MISSING)
    setattr(owner, name, replacement)

    def restore() -> None:
        if previous is _MISSING:
            delattr(owner, name)  # the attribute was inherited: uncover it again
        else:
            setattr(owner, name, previous)

    _restore.append(restore)


def install_network_guard() -> None:
    """Refuse network access outside loopback until :func:`uninstall_network_guard`.

    Calls nest: only the outermost uninstall removes the guard. The audit hook, once added,
    stays for the life of the process (CPython cannot remove one) but does nothing when off.
    """
    global _depth, _audit_hook_added
    with _lock:
        _depth += 1
        if _depth > 1:
            return
    _patch(socket.socket, "connect", _guarded_connect)
    _patch(socket.socket, "connect_ex", _guarded_connect_ex)
    _patch(socket.socket, "sendto", _guarded_sendto)
    _patch(socket, "getaddrinfo", _guarded_getaddrinfo)
    _patch_uvloop()
    if not _audit_hook_added:
        sys.addaudithook(_audit)
        _audit_hook_added = True


def uninstall_network_guard() -> None:
    """Undo one :func:`install_network_guard`; the last one restores the socket module."""
    global _depth
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth > 0:
            return
    while _restore:
        with contextlib.suppress(AttributeError):
            _restore.pop()()
