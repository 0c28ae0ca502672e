"""glibc malloc through ctypes: fixed thresholds at start-up, `malloc_trim`, and its statistics.

Why fixed thresholds (#18 item 4). glibc adjusts its mmap threshold dynamically: when a chunk it
had mmapped (>= 128 KiB) is freed, the threshold rises to that chunk's size (up to 32 MiB) and
the trim threshold to twice that (up to 64 MiB). A room's load and sync free multi-MB buffers
(the document's update, SQL rows), so after the first big room the process allocates buffers of
up to 32 MiB from its heaps instead of mmap. `malloc_trim(0)` returns free pages inside the
heaps, but never the *top* of a worker thread's arena: that one shrinks only inside `free()`,
once it is larger than the (now raised) trim threshold. Measured (bench/history_memory.py, a
13.1 MB document, RSS after unload, idle 144 MiB): 172 MiB with the dynamic thresholds — a
thread arena (the worker threads that read rooms from SQL and encode them) kept 25.8 MiB of free
top resident — and 145-146 MiB with the mmap threshold fixed at 1 MiB and the trim threshold at
2 MiB. Setting either with `mallopt` also switches the dynamic adjustment off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tandem.rooms")

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3


class MallInfo2(ctypes.Structure):
    """`struct mallinfo2` (glibc >= 2.33), sizes in bytes, summed over every arena."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # non-mmapped space taken from the system
            "ordblks",
            "smblks",
            "hblks",  # mmapped chunks
            "hblkhd",  # bytes in mmapped chunks
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes in use
            "fordblks",  # free bytes held
            "keepcost",  # trimmable top of the main heap
        )
    ]


@functools.cache  # find_library runs ldconfig: once per process
def _glibc() -> Any | None:
    """libc when it is glibc (musl and others have no mallopt thresholds nor malloc_trim)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: the probe
    except (OSError, AttributeError) as exc:
        log.info("not glibc (%s): the allocator is left as it is", exc)
        return None
    return libc


def fix_thresholds(mmap_threshold: int) -> bool:
    """Fix the mmap threshold at `mmap_threshold` and the trim threshold at twice it (glibc's own
    ratio), which ends the dynamic adjustment. 0 leaves glibc's defaults. True if applied."""
    if mmap_threshold <= 0:
        return False
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # glibc caps the mmap threshold at 32 MiB (HEAP_MAX/2 on 64-bit) and refuses larger values.
    mmap_threshold = min(mmap_threshold, 32 * 1024 * 1024)
    ok = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, 2 * mmap_threshold) == 1 and ok
    if not ok:
        log.warning("mallopt refused a threshold of %d bytes; glibc's defaults stay", mmap_threshold)
    return ok


def find_malloc_trim() -> Callable[[int], int] | None:
    libc = _glibc()
    if libc is None:
        return None
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def mallinfo() -> MallInfo2 | None:
    """The allocator's totals (/metrics), None without glibc >= 2.33."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()
