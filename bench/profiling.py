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


def record(py_spy: str, pid: int, output: Path, *, native: bool = False) -> Recording:
    """Start sampling ``pid``; speedscope JSON when ``output`` ends in ``.json``, else an SVG.

    ``native`` adds C frames (uvloop, OpenSSL, the JSON scanner) to the Python ones.
    """
    fmt = "speedscope" if output.suffix == ".json" else "flamegraph"
    cmd = [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", fmt]
    process = subprocess.Popen(
        [*cmd, *(["--native"] if native else []), "--output", str(output)],
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


def speedscope_costs(path: Path, top: int = 25) -> tuple[list[Cost], list[Cost], float]:
    """The event loop thread's ``top`` functions by inclusive and by own share, and the
    seconds sampled on it.

    Only the main thread is read: the proxy's requests run on its event loop, and py-spy counts
    a worker thread blocked on its queue (the metrics ledger's) as busy. py-spy leaves the
    loop's own idle waits out, so the shares are of the time the loop was busy.
    """
    document = json.loads(path.read_text())
    frames = document["shared"]["frames"]
    main = next(
        (p for p in document["profiles"] if "MainThread" in p["name"]), document["profiles"][0]
    )
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    busy = 0.0
    for stack, weight in zip(main["samples"], main["weights"], strict=True):
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

    return (costs(inclusive), costs(own), busy) if busy else ([], [], 0.0)
