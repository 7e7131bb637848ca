"""``kill -9`` in the middle of credential writes never leaves a torn or readable-by-others file.

A forked child process rewrites one credential file in a loop through ``CredentialFile.write``;
it is killed with SIGKILL at seeded random moments, many times over. After each kill the file
must parse and be exactly one of the versions a child wrote whole (each version checks itself),
never older than the last one seen, with mode 0600; temp files a kill leaves behind are 0600 too.
(A fork, not a fresh interpreter: importing ``ccproxy.auth`` anew would cost ~0.7 s per kill.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import time
from pathlib import Path

from ccproxy.auth.store import CredentialFile

KILLS = 150
SEED = 20261205


def _version(generation: int) -> dict[str, object]:
    # The payload's size varies with the generation: a mix of two versions or a cut-off one
    # cannot pass ``_generation_of``.
    return {"generation": generation, "payload": f"{generation:08d}" * (512 + generation % 4096)}


def _generation_of(data: object) -> int:
    assert isinstance(data, dict)
    generation = data["generation"]
    assert isinstance(generation, int)
    assert data == _version(generation)
    return generation


def _write_forever(path: Path) -> None:
    """The child: rewrite ``path`` with the next version until killed."""
    try:
        store = CredentialFile(path)
        generation = _generation_of(store.read())
        while True:
            generation += 1
            store.write(_version(generation))
    finally:
        os._exit(1)  # never return into the test runner


def test_sigkill_during_writes_leaves_a_whole_version_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "creds" / ".credentials.json"
    CredentialFile(path).write(_version(0))
    rng = random.Random(SEED)
    last = 0
    advanced = 0
    for _ in range(KILLS):
        pid = os.fork()
        if pid == 0:
            _write_forever(path)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        generation = _generation_of(json.loads(path.read_text(encoding="utf-8")))
        assert generation >= last
        advanced += generation > last
        last = generation
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Kills landed while writes were going on, not only before the first one.
    assert advanced >= KILLS // 2, (advanced, last)
    leftovers = [p for p in path.parent.iterdir() if p != path]
    for leftover in leftovers:
        assert stat.S_IMODE(leftover.stat().st_mode) == 0o600, leftover.name
