"""Give a node's freed memory back to the operating system after a room unloads.

Measured (bench/history_memory.py, a 4.9 MB document loaded and unloaded): the room's objects
are freed — no reference to its Doc survives an unload (tests/test_rooms_memory.py) — but the
resident size still grew by about the document's size per cycle. The bytes are freed into glibc's
malloc arenas: a room's load runs its SQL read in a worker thread (its own arena), the y-crdt
document lives in the loop thread's, and glibc returns free arena pages to the system only at
the top of the main heap. `malloc_trim(0)` releases free pages of every arena. It runs in a worker
thread (ctypes drops the GIL for the call), `delay` seconds after an unload (once the unloading
code has dropped its references) and at most once per `min_interval`, so a burst of unloads
costs one trim and the event loop never waits for it.

`before_trim` callables run in that thread first: the app closes SQLite's idle pooled connections
there (each keeps a page cache of up to 2 MiB; 8 pooled: ~15 MiB measured), reopened on demand.
Measured (bench/history_memory.py, RSS 6 s after each unload, idle 137 MiB): a 4.9 MB document
leaves 150 MiB, flat over cycles (before: 162, 179, 184, 189, ... +5 MiB per cycle); a 13.1 MB
one leaves 163-167 MiB, flat (before: 242, then +13 MiB per cycle). The constant rest after the
first reload was the free top of a worker thread's arena, which `malloc_trim` never returns
once glibc's dynamic thresholds have risen: fixed at start-up (backend/rooms/allocator.py), the
13.1 MB document leaves 145-146 MiB (idle 144).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

import anyio

from backend.rooms.allocator import find_malloc_trim

log = logging.getLogger("tandem.rooms")


class MemoryReleaser:
    """`release()` (a task) after an unload: trims the allocator in a worker thread, rate-limited."""

    def __init__(self, *, enabled: bool = True, delay: float = 0.5, min_interval: float = 5.0) -> None:
        self._trim = find_malloc_trim() if enabled else None
        self._delay = delay
        self._min_interval = min_interval
        self._last = -min_interval
        self._running = False
        self.trims = 0
        self.before_trim: list[Callable[[], object]] = []

    async def release(self) -> None:
        if (self._trim is None and not self.before_trim) or self._running:
            return
        self._running = True
        try:
            wait = max(self._delay, self._last + self._min_interval - time.monotonic())
            await anyio.sleep(wait)  # a debounce: one trim for a burst of unloads
            await anyio.to_thread.run_sync(self._release_now)
            self.trims += 1
        finally:
            self._last = time.monotonic()
            self._running = False

    def _release_now(self) -> None:
        # An unloaded room's doc can still sit in reference cycles that cancellation leaves behind
        # (a CancelledError's traceback holds the frames of the file sync's cancelled tasks, and
        # they hold the sync and its doc): collect them now rather than at some later full
        # collection, so the trim below can return the document's memory.
        gc.collect()
        for hook in self.before_trim:
            try:
                hook()
            except Exception:
                log.exception("releasing memory: %r failed", hook)
        if self._trim is not None:
            self._trim(0)
