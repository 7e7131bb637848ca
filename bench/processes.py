"""Starting the servers under test and reading their CPU time and memory from /proc."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one (1,000 held streams need ~3,000 fds)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start(
    cmd: list[str], env: Mapping[str, str] | None = None, cwd: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` quietly with a raised fd limit."""
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=raise_fd_limit,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and wait for it (killing it when it does not stop in 10 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for(
    url: str, process: subprocess.Popen[bytes], timeout: float = 60.0, verify: bool | str = True
) -> None:
    """Poll ``url`` until it answers; fail early when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=1, verify=verify)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def rss_mib(pid: int) -> float:
    """Resident size in MiB (``VmRSS``; /proc, ps and top count in KiB and MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compile_bytecode(*folders: Path) -> None:
    """Byte-compile what a server imports, as pip does at install time.

    Without ``.pyc`` files (``uv sync`` does not write them, and ``PYTHONDONTWRITEBYTECODE``
    stops Python from caching them) every start compiles every module from source, and the
    compiler's garbage inflates the resident size the bench reports.
    """
    import compileall

    for folder in folders:
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=2, workers=0)
