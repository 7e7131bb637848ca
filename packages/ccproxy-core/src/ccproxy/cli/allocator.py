"""Large buffers go back to the operating system once freed (glibc's ``malloc``).

glibc serves an allocation of 128 KiB or more with its own ``mmap`` and returns it on ``free``,
but after the first such free it raises that threshold to the freed size, up to 32 MiB. From
then on a request body, its JSON text and its re-encoded copy come from the heap, and a burst of
large requests leaves the heap as large as the burst for the life of the process. Measured with
``bench/run.py --memory --body-kib 256`` (1,000 streams each asking with a 256 KiB
conversation): peak 766 MiB with the moving threshold, 509 MiB with it fixed at 128 KiB; with
one-line requests nothing changes. ``MALLOC_MMAP_THRESHOLD_`` in the environment, when set, is
the user's choice and is left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["LARGE_BUFFER_BYTES", "return_large_buffers_to_the_os"]

#: Allocations of this size and larger get their own mapping (glibc's initial threshold).
LARGE_BUFFER_BYTES = 128 * 1024

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def return_large_buffers_to_the_os() -> bool:
    """Fix glibc's mmap threshold at ``LARGE_BUFFER_BYTES``; whether it was set.

    False on other C libraries (musl's ``mallopt`` does nothing), other systems, and when
    ``MALLOC_MMAP_THRESHOLD_`` is set.
    """
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES))
