"""Settle the heap once start-up is done: collect, then freeze what survived (`gc.freeze`).

A full (generation 2) collection walks every tracked object. After start-up that is mostly
modules, classes, FastAPI routes and SQLAlchemy metadata, which live as long as the process —
some 170k objects, tens of milliseconds a walk, and under a CPU-starved machine (a noisy
neighbour) such a pause stretches to a scheduler time slice or more, all of it in front of the
fan-out. Frozen objects are never walked again; whatever the server makes later is collected as
usual. Only `tandem serve` settles the heap: an app embedded in another process (the tests) is not
the owner of that process's heap.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("tandem.heap")


def settle_heap() -> int:
    """Collect start-up garbage, then move every surviving object out of the collector's sight.

    Returns how many objects were frozen (for the log and the test)."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "heap settled: %d start-up objects frozen in %.0f ms", frozen, (time.perf_counter() - started) * 1000
    )
    return frozen
