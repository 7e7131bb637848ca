"""Sampling the proxy with py-spy during a load, and reading the profile back as a cost table.

py-spy is not a dependency of the workspace: install it where you like (``uv tool install
py-spy``) and pass its path, or have it on ``PATH``. It attaches to a running process, which
needs ptrace rights (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Recording:
    """A running ``py-spy record``; :meth:`finish` stops it and writes the profile."""

    process: subprocess.Popen[bytes]
    output: Path

    def finish(self) -> Path:
        """Stop sampling (py-spy writes its output on SIGINT) and return the profile's path."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        return self.output


def find_py_spy(explicit: str | None) -> str | None:
    """``explicit``, else ``py-spy`` on ``PATH``."""
    return explicit or shutil.which("py-spy")


def record(py_spy: str, pid: int, output: Path, rate: int = 250) -> Recording:
    """Start sampling ``pid``; speedscope JSON when ``output`` ends in ``.json``, else an SVG."""
    fmt = "speedscope" if output.suffix == ".json" else "flamegraph"
    cmd = [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", fmt]
    process = subprocess.Popen(
        [*cmd, "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached before the load starts
    return Recording(process, output)


@dataclass(frozen=True)
class Cost:
    """One function's share of the samples."""

    name: str
    where: str
    inclusive: float  # share of samples with the function anywhere on the stack
    own: float  # share of samples with the function on top


def speedscope_costs(path: Path, top: int = 25) -> tuple[list[Cost], list[Cost], int]:
    """The ``top`` functions by inclusive and by own share, and the number of samples read.

    py-spy leaves idle samples (the event loop waiting in ``epoll``) out by default, so the
    shares are of the time the proxy was busy.
    """
    document = json.loads(path.read_text())
    frames = document["shared"]["frames"]
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    busy = 0
    for profile in document["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            busy += weight
            own[stack[-1]] += weight
            for index in set(stack):
                inclusive[index] += weight

    def costs(counter: Counter[int]) -> list[Cost]:
        return [
            Cost(
                frames[i]["name"],
                f"{Path(frames[i].get('file', '?')).name}:{frames[i].get('line', '?')}",
                inclusive[i] / busy,
                own[i] / busy,
            )
            for i, _ in counter.most_common(top)
        ]

    return (costs(inclusive), costs(own), busy) if busy else ([], [], 0)
