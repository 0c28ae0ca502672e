"""`--noisy`: a noisy neighbour, two CPU hogs at nice 5 for the length of a benchmark run.

Each hog is a Python process spinning until its deadline, so a crashed or interrupted benchmark
never leaves one behind for longer than `max_seconds`; the context manager also ends them itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

HOGS = 2
NICE = 5
_SPIN = "import time,sys\nend=time.monotonic()+float(sys.argv[1])\nwhile time.monotonic()<end: pass\n"


@contextmanager
def cpu_hogs(max_seconds: float, count: int = HOGS, nice: int = NICE) -> Iterator[list[int]]:
    procs = [
        subprocess.Popen(["nice", "-n", str(nice), sys.executable, "-c", _SPIN, str(max_seconds)])
        for _ in range(count)
    ]
    try:
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
