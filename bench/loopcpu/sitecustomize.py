"""`bench/real_project.py --loop-cpu`: put a `tandem serve` on asyncio's loop and log the loop
thread's CPU time of every loop iteration (the ready callbacks between two polls) that takes at
least TANDEM_BENCH_LOOP_CPU_MS, with its heaviest callbacks, and every garbage collection that
long (in any thread: it holds the GIL, so the loop waits for it too). CPU time, not wall time, so the
figure does not depend on how busy the machine is: it is what the server's own work blocks
everyone else for. Active only in a `backend serve` process with TANDEM_BENCH_LOOP_CPU_LOG set
(it arrives through PYTHONPATH, so every Python process started with it imports this file).
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.events
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

_LOG = os.environ.get("TANDEM_BENCH_LOOP_CPU_LOG", "")
_CMD = Path("/proc/self/cmdline").read_bytes().split(b"\0")
_ACTIVE = bool(_LOG) and b"backend" in _CMD and b"serve" in _CMD
_MIN = float(os.environ.get("TANDEM_BENCH_LOOP_CPU_MS", "5")) / 1000
_ran: list[tuple[float, Any]] = []


def _name(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return str(getattr(coro, "__qualname__", coro))
    return str(getattr(callback, "__qualname__", callback))[:120]


def _install() -> None:
    import uvicorn.loops.auto
    from uvicorn.loops.asyncio import asyncio_loop_factory

    # uvloop runs callbacks in C: asyncio's loop lets us time each one.
    uvicorn.loops.auto.auto_loop_factory = asyncio_loop_factory  # type: ignore[assignment]
    run_handle = asyncio.events.Handle._run
    run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

    def timed_handle(self: asyncio.Handle) -> None:
        start = time.thread_time()
        run_handle(self)
        _ran.append((time.thread_time() - start, self))

    def timed_iteration(self: asyncio.AbstractEventLoop) -> None:
        _ran.clear()
        run_once(self)
        cpu = sum(c for c, _ in _ran)
        if cpu >= _MIN:
            top = "; ".join(f"{c * 1000:.1f} {_name(h)}" for c, h in sorted(_ran, key=lambda x: -x[0])[:3])
            with open(_LOG, "a") as log:
                log.write(f"{time.time():.3f} {cpu * 1000:.1f} {len(_ran)} {top}\n")

    collecting: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting:
            pause = time.perf_counter() - collecting.pop()
            if pause >= _MIN:
                where = threading.current_thread().name
                line = f"{time.time():.3f} {pause * 1000:.1f} gc generation {info['generation']} in {where}"
                with open(_LOG, "a") as log:
                    log.write(line + "\n")

    gc.callbacks.append(on_gc)
    asyncio.events.Handle._run = timed_handle  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop._run_once = timed_iteration  # type: ignore[attr-defined]


if _ACTIVE:
    _install()
