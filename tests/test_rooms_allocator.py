"""glibc's thresholds, fixed by `malloc_mmap_threshold_bytes` (backend/rooms/allocator.py): where
malloc puts a buffer follows the setting, and freeing a big mmapped chunk no longer raises it
(glibc's dynamic adjustment, which kept a large room's memory after it unloaded, #18 item 4).
In a fresh interpreter, so the test process's own allocator is left alone."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT

PROBE = """
import ctypes
from backend.rooms.allocator import _glibc, fix_thresholds, mallinfo

libc = _glibc()
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mmapped(size):
    before = mallinfo().hblkhd
    block = libc.malloc(size)
    during = mallinfo().hblkhd
    libc.free(block)
    return during - before >= size

KiB = 1024
out = [fix_thresholds(256 * KiB), mmapped(512 * KiB), mmapped(200 * KiB)]
libc.free(libc.malloc(8192 * KiB))  # dynamic glibc would now raise its threshold to 8 MiB
out += [mmapped(512 * KiB)]
out += [fix_thresholds(1024 * KiB), mmapped(512 * KiB), mmapped(2048 * KiB)]
out += [fix_thresholds(0)]
print(" ".join(str(x) for x in out))
"""


def test_the_setting_decides_which_buffers_are_mmapped_and_stays_fixed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    applied, big, small, after_big_free, applied2, mid, large, zero = done.stdout.split()
    assert (applied, big, small) == ("True", "True", "False")
    assert after_big_free == "True"  # not raised by the 8 MiB free: the threshold stays fixed
    assert (applied2, mid, large) == ("True", "False", "True")
    assert zero == "False"  # 0: glibc's defaults, nothing applied
