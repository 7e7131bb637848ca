"""``ccproxy serve`` makes glibc give large buffers back to the system once they are freed."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from ccproxy.cli.allocator import LARGE_BUFFER_BYTES

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="the mmap threshold is glibc's",
)

# Run in a child: the setting is for the whole process. It counts glibc's own mappings (mallinfo2's
# hblks) while one large buffer is alive, after a first large free has moved the threshold.
PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
first = bytearray(1024 * 1024)
del first  # freed: glibc raises its threshold to 1 MiB
if sys.argv[1] == "serve-setting":
    from ccproxy.cli.allocator import return_large_buffers_to_the_os
    assert return_large_buffers_to_the_os()
before = libc.mallinfo2().hblks
held = bytearray(256 * 1024)
print(libc.mallinfo2().hblks - before)
"""


def mapped_while_held(mode: str, env: dict[str, str] | None = None) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    return int(result.stdout)


def test_a_large_buffer_has_its_own_mapping_again_after_the_threshold_moved() -> None:
    assert LARGE_BUFFER_BYTES <= 256 * 1024
    assert mapped_while_held("default") == 0  # from the heap: the moved threshold
    assert mapped_while_held("serve-setting") == 1


def test_a_threshold_the_user_set_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccproxy.cli.allocator import return_large_buffers_to_the_os

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4194304")
    assert return_large_buffers_to_the_os() is False
