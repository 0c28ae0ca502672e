"""File sync's text diff on a 1 MiB file: what one disk change costs, and how long it holds the loop.

    python -m bench.textdiff_bench [--repeat 9]

Cases: a one-line change, 50 changed lines scattered through the file, every line rewritten, and
the same lines reordered. Per case, medians of `repeat` runs:

- `diff ms` / `diff CPU ms`: `textdiff.diff` wall and CPU time (it runs in a worker thread);
- `loop stall ms`: the longest an asyncio loop waited for a 1 ms tick while that diff ran in a
  worker thread — the GIL-bound part of the diff that still reaches the event loop;
- `apply CPU ms`: applying the edits to the file's `Y.Text` in one transaction (on the loop);
- `sync loop stall ms`: end to end through `WorkspaceSync` (a real file written, the watcher,
  the read, the diff, the apply), the longest loop stall until the doc holds the new text.

Prints the machine load with the figures (other processes share the cores).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import anyio
from pycrdt import Doc, Map, Text

from sandbox.filesync import WorkspaceSync
from sandbox.filesync.textdiff import Edit, apply_edits, diff

MiB = 1024 * 1024
TICK = 0.001


def base_text(seed: int = 1) -> str:
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < MiB:
        line = f"    value_{len(lines)} = compute({len(lines)}, {rng.random():.6f})  # note\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)


def cases(old: str) -> dict[str, str]:
    lines = old.splitlines(keepends=True)
    one = list(lines)
    one[len(one) // 2] = one[len(one) // 2].replace("compute", "compute_v2")
    scattered = list(lines)
    for k in range(0, len(scattered), len(scattered) // 50):
        scattered[k] = scattered[k].replace("compute", "calc")
    rng = random.Random(2)
    rewrite = [f"other_{i} = {rng.random()}\n" for i in range(len(lines))]
    shuffled = list(lines)
    rng.shuffle(shuffled)
    return {
        "one-line change": "".join(one),
        "50 scattered lines": "".join(scattered),
        "full rewrite": "".join(rewrite),
        "lines reordered": "".join(shuffled),
    }


async def _loop_stall_while(work: Callable[[], Awaitable[object]]) -> float:
    """Await `work`; return the longest gap between 1 ms loop ticks meanwhile (ms)."""
    done = anyio.Event()
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(TICK)
            now = time.perf_counter()
            worst = max(worst, now - last - TICK)
            last = now

    async def run() -> None:
        try:
            await work()
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        tg.start_soon(run)
    return worst * 1000


def _apply_ms(old: str, edits: list[Edit]) -> float:
    doc = Doc()
    files = doc.get("files", type=Map)
    with doc.transaction():
        files["f"] = Text(old)
    text = files["f"]
    started = time.thread_time()  # CPU of this (the loop's) thread: wall time on a shared machine
    with doc.transaction():  # measures the neighbours
        apply_edits(text, old, edits)
    return (time.thread_time() - started) * 1000


async def _sync_stall(old: str, new: str) -> float:
    """A real WorkspaceSync: write `new` over `old` on disk, wait for the doc, longest loop stall."""
    with tempfile.TemporaryDirectory(prefix="textdiff-bench-") as tmp:
        root = Path(tmp)
        path = root / "big.py"
        path.write_text(old)
        doc = Doc()
        files: Map[Text] = doc.get("files", type=Map)
        sync = WorkspaceSync(doc, root, max_file_bytes=2 * MiB)
        size = len(new.encode())

        arrived = anyio.Event()

        def look(_events: object) -> None:
            if isinstance(text := files.get("big.py"), Text) and len(text) == size:
                arrived.set()

        async def change() -> None:
            subscription = files.observe_deep(look)
            await anyio.to_thread.run_sync(path.write_text, new)
            with anyio.fail_after(60):
                await arrived.wait()
            files.unobserve(subscription)
            assert str(files["big.py"]) == new

        async with anyio.create_task_group() as tg:
            await tg.start(sync.run)
            stall = await _loop_stall_while(change)
            tg.cancel_scope.cancel()
    return stall


async def main_async(repeat: int) -> None:
    old = base_text()
    print(f"file: {len(old.encode()) / MiB:.2f} MiB, {old.count(chr(10))} lines; load {os.getloadavg()}")
    header = "| case | edits | diff ms | diff CPU ms | loop stall ms | apply CPU ms | sync loop stall ms |"
    print(header)
    print("|" + "---|" * 7)
    for name, new in cases(old).items():
        walls, cpus, stalls, applies = [], [], [], []
        edits: list[Edit] = []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            edits = diff(old, new)
            walls.append((time.perf_counter() - t0) * 1000)
            cpus.append((time.process_time() - c0) * 1000)
            stalls.append(await _loop_stall_while(partial(anyio.to_thread.run_sync, diff, old, new)))
            applies.append(_apply_ms(old, edits))
        sync_stalls = [await _sync_stall(old, new) for _ in range(max(1, repeat // 3))]
        changed = sum(len(e.text) + e.end - e.start for e in edits)
        med = statistics.median
        print(
            f"| {name} | {len(edits)} ({changed} chars) | {med(walls):.2f} | {med(cpus):.2f} | "
            f"{med(stalls):.2f} | {med(applies):.2f} | {med(sync_stalls):.2f} |",
            flush=True,
        )
    print(f"load after: {os.getloadavg()}; {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.textdiff_bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    anyio.run(main_async, args.repeat)


if __name__ == "__main__":
    main()
