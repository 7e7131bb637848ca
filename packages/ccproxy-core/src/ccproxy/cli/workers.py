"""``ccproxy serve --workers N``: N worker processes serving one port.

The parent binds the port and starts the workers with multiprocessing's *spawn* method, so
each is a fresh interpreter that shares nothing with the parent by accident. Every worker
receives the parent's validated ``Settings`` object itself (pickled by multiprocessing, never
re-parsed from the command line), builds its own app with ``create_app`` and serves its
inherited listening socket with uvicorn; the kernel hands each new connection to one of them
(see :func:`worker_sockets`).

The parent supervises: it announces the URL once every worker is ready, reports a worker that
dies (and starts a replacement; a worker that dies before it ever served stops them all), and on
SIGINT/SIGTERM asks every worker to stop (a second signal makes them skip waiting for open
connections, a third kills them). A worker whose supervisor is gone (even killed) stops too.

Prometheus metrics are summed across workers with prometheus-client's multiprocess mode:
``PROMETHEUS_MULTIPROC_DIR`` points every worker at a fresh private directory (0700) that the
parent removes at exit.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Final

from ccproxy.logging import get_logger

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ccproxy.config import Settings

__all__ = [
    "MULTIPROC_DIR_ENV",
    "bind_listening_socket",
    "metrics_directory",
    "per_process_notice",
    "run_workers",
    "worker_sockets",
]

#: The variable prometheus-client reads to keep metric values in shared files.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: A worker's exit status when its app never started (uvicorn's own startup-failure status).
STARTUP_FAILURE: Final = 3
# The listen backlog of uvicorn's own sockets.
_BACKLOG: Final = 2048

_logger = get_logger("ccproxy.server")


def per_process_notice(settings: Settings) -> str | None:
    """What each worker keeps to itself, when several run without shared state; else None."""
    if settings.server.workers <= 1:
        return None
    if settings.state.redis_url is not None:
        return None
    return (
        f"ccproxy: {settings.server.workers} workers and no state.redis_url, so this state is "
        "kept per worker process (a request served by another worker does not see it):\n"
        "  - the Responses store that expands previous_response_id (/codex, /claude/v1/responses):"
        " a follow-up turn served by another worker gets 400 for an unknown id;\n"
        "  - the account pool's state: cooldowns after a 429, conversations pinned to an "
        "account and which account produced a response (each worker learns a 429 on its own);\n"
        "  - the rate-limit windows last seen, shown by `ccproxy auth status` "
        "(/oauth/<provider>/status, /api/accounts);\n"
        "  - the permissions plugin's pending prompts and MCP sessions: a prompt is listed and "
        "decided only through the worker that holds it;\n"
        "  - the in-process single flight of credential refreshes (workers still take the "
        "credential file's lock and re-read it first, so a refresh token is spent once);\n"
        "  - the pricing table, downloaded and refreshed by each worker.\n"
        "Shared by all workers: the port, the credential files, the usage ledger and the "
        "Prometheus metrics (GET /metrics sums every worker's)."
    )


def bind_listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` that child processes can inherit."""
    name = host.strip("[]")
    family = socket.AF_INET6 if ":" in name else socket.AF_INET
    sock = socket.create_server(
        (name, port), family=family, backlog=_BACKLOG, reuse_port=reuse_port
    )
    sock.set_inheritable(True)
    return sock


def worker_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """The listening socket of each worker.

    On Linux every worker gets a socket of its own on the one port (``SO_REUSEPORT``) and the
    kernel spreads new connections over them by address hash. With one shared socket the
    worker that wakes first accepts every queued connection (asyncio accepts in a loop), so a
    burst lands on one worker. Elsewhere ``SO_REUSEPORT`` does not balance (BSD, macOS) or does
    not exist (Windows), and the workers share one socket.
    """
    if not sys.platform.startswith("linux"):
        shared = bind_listening_socket(host, port)
        return [shared] * count
    sockets = [bind_listening_socket(host, port, reuse_port=True)]
    try:
        bound = sockets[0].getsockname()[1]  # --port 0: the others join the port chosen
        sockets += [bind_listening_socket(host, bound, reuse_port=True) for _ in range(count - 1)]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh private directory (0700) named by ``PROMETHEUS_MULTIPROC_DIR`` while the block
    runs (workers inherit it); removed, and the variable restored, afterwards."""
    directory = tempfile.mkdtemp(prefix="ccproxy-metrics-")
    previous = os.environ.get(MULTIPROC_DIR_ENV)
    os.environ[MULTIPROC_DIR_ENV] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_DIR_ENV, None)
        else:
            os.environ[MULTIPROC_DIR_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _forget_live_gauges(pid: int, directory: str) -> None:
    """prometheus-client's bookkeeping for a dead worker: its ``live*`` gauges stop counting."""
    try:
        from prometheus_client import multiprocess
    except ImportError:  # no metrics plugin installed: nothing writes there
        return
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


# --- the worker process --------------------------------------------------------------------------


def _worker_main(settings: Settings, sock: socket.socket, parent: Connection, index: int) -> None:
    """A worker's entry point: one app, served on the inherited socket until a signal.

    ``parent`` is this worker's end of a pipe to the supervisor: the worker reports on it once
    it serves, and reads EOF from it when the supervisor is gone, however it went (even
    SIGKILL), and then shuts down rather than serve on unsupervised.
    """
    import threading

    import structlog
    import uvicorn

    from ccproxy.app import create_app
    from ccproxy.cli.allocator import return_large_buffers_to_the_os
    from ccproxy.cli.server import server_config
    from ccproxy.logging import configure_logging

    return_large_buffers_to_the_os()
    configure_logging(settings.logging)
    # Every line this worker logs says which one it is.
    structlog.contextvars.bind_contextvars(worker=index, worker_pid=os.getpid())

    class SupervisedServer(uvicorn.Server):
        orphaned: bool

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                parent.send(os.getpid())
                threading.Thread(target=self.stop_when_orphaned, daemon=True).start()

        def stop_when_orphaned(self) -> None:
            with contextlib.suppress(EOFError, OSError):
                parent.recv()  # the supervisor never sends: this returns only at EOF
            if not self.should_exit:
                _logger.warning("worker_orphaned", reason="the supervising process is gone")
                self.orphaned = True
                self.should_exit = True

    server = SupervisedServer(server_config(create_app(settings), settings))
    server.orphaned = False
    server.run(sockets=[sock])
    if server.orphaned:
        # The supervisor cannot remove the metrics directory any more. Workers still stopping
        # keep writing to their mapped files, which outlive the unlinked directory.
        shutil.rmtree(os.environ.get(MULTIPROC_DIR_ENV, ""), ignore_errors=True)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


# --- the parent ----------------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    ready: Connection
    serving: bool = False
    pipe_open: bool = True


class _Supervisor:
    """Starts, watches and stops the workers; everything here runs in the parent process."""

    def __init__(self, settings: Settings, sockets: list[socket.socket], metrics_dir: str) -> None:
        self.settings = settings
        self.sockets = sockets
        self.metrics_dir = metrics_dir
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.signals: list[int] = []
        self.failed = False

    def start(self, index: int) -> _Worker:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_worker_main,
            args=(self.settings, self.sockets[index], theirs, index),
            name=f"ccproxy-worker-{index}",
        )
        process.start()
        theirs.close()  # so that a worker dying before it reports reads as EOF here
        worker = _Worker(index, process, mine)
        _logger.info("worker_started", worker=index, worker_pid=process.pid)
        return worker

    def run(self, url: str) -> bool:
        """Serve until a signal (True) or until a worker fails to start (False)."""
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno())
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.workers = [self.start(i) for i in range(self.settings.server.workers)]
            self._watch(url, wake_read)
            self._stop(wake_read)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            wake_read.close()
            wake_write.close()
        return not self.failed

    def _on_signal(self, sig: int, frame: Any) -> None:
        self.signals.append(sig)

    def _watch(self, url: str, wake: socket.socket) -> None:
        announced = False
        while not self.signals and not self.failed:
            waiting: dict[Any, _Worker] = {}
            for worker in self.workers:
                waiting[worker.process.sentinel] = worker
                if worker.pipe_open:
                    waiting[worker.ready] = worker
            for found in wait([*waiting, wake]):
                owner = waiting.get(found)
                if owner is None:
                    _drain(wake)
                elif owner not in self.workers or self.failed:
                    continue
                elif found is owner.ready:
                    self._on_ready(owner)
                elif not owner.process.is_alive():
                    self._on_exit(owner)
            if not announced and not self.failed and all(w.serving for w in self.workers):
                announced = True
                pids = ", ".join(str(w.process.pid) for w in self.workers)
                print(
                    f"ccproxy: {len(self.workers)} worker processes (pids {pids})\n"
                    f"ccproxy listening on {url}",
                    file=sys.stderr,
                    flush=True,
                )

    def _on_ready(self, worker: _Worker) -> None:
        worker.pipe_open = False
        try:
            worker.ready.recv()
        except (EOFError, OSError):  # it exited before it served; its sentinel tells the rest
            return
        worker.serving = True

    def _on_exit(self, worker: _Worker) -> None:
        process = worker.process
        process.join()
        pid, how = process.pid, _describe_exit(process.exitcode)
        assert pid is not None  # it was started
        self.workers.remove(worker)
        worker.ready.close()
        _forget_live_gauges(pid, self.metrics_dir)
        if not worker.serving:
            _logger.error("worker_failed_to_start", worker=worker.index, worker_pid=pid, exit=how)
            print(
                f"ccproxy: worker {worker.index} (pid {pid}) {how} before it started serving; "
                "stopping",
                file=sys.stderr,
                flush=True,
            )
            self.failed = True
            return
        _logger.error("worker_died", worker=worker.index, worker_pid=pid, exit=how)
        print(
            f"ccproxy: worker {worker.index} (pid {pid}) {how}; starting a new one",
            file=sys.stderr,
            flush=True,
        )
        self.workers.append(self.start(worker.index))

    def _stop(self, wake: socket.socket) -> None:
        """Ask every worker to stop; escalate on each further signal; wait for all of them."""
        escalation = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
        handled = len(self.signals)
        step = 0
        self._send(escalation[step])
        while self.workers:
            sentinels: dict[Any, _Worker] = {w.process.sentinel: w for w in self.workers}
            for found in wait([*sentinels, wake]):
                if found is wake:
                    _drain(wake)
                    continue
                worker = sentinels[found]
                worker.process.join()
                worker.ready.close()
                self.workers.remove(worker)
            if len(self.signals) > handled and step < len(escalation) - 1:
                handled = len(self.signals)
                step += 1
                self._send(escalation[step])

    def _send(self, sig: int) -> None:
        for worker in self.workers:
            if worker.process.pid is not None and worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, sig)


def _drain(wake: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while wake.recv(4096):
            pass


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def run_workers(settings: Settings, url_for: Callable[[int], str]) -> bool:
    """Serve with ``settings.server.workers`` processes until a signal stops them all.

    ``url_for(port)`` gives the URL announced once every worker is ready (the bound port, so
    ``--port 0`` announces the port the kernel chose). False when a worker never started.
    """
    server = settings.server
    sockets = worker_sockets(server.host, server.port, server.workers)
    try:
        with metrics_directory() as directory:
            supervisor = _Supervisor(settings, sockets, directory)
            return supervisor.run(url_for(sockets[0].getsockname()[1]))
    finally:
        for sock in set(sockets):
            sock.close()
