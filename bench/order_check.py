"""`python -m bench.order_check [--noisy]`: does any reader get a writer's update ahead of an earlier one?

Two writers send numbered text inserts as fast as the server takes them; half the readers sync
before the writing starts, the rest join in waves while it goes on (the join window is where a
live update can overtake the history). Every reader decodes each update into per-writer Yjs clock
ranges (tests/yclocks.py) and counts ranges that start past what it has — counting from its very
first message, before its sync step 2 too, as an independent load generator does — and, after a
2-minute drain, what it never got (`missing_characters`: Yjs clock units). `--noisy` runs
beside two CPU hogs at nice 5 (bench/noisy.py). Prints one JSON line; loopback only, bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json

from pycrdt import Doc, Text, create_update_message
from websockets.asyncio.client import ClientConnection, connect

from backend.rooms.protocol import SyncUpdate, parse_message
from bench.noisy import cpu_hogs
from bench.servers import start_tandem
from tests.yclocks import clock_ranges

STEP1_EMPTY = b"\x00\x00\x01\x00"


class Reader:
    def __init__(self, writers: set[int], progress: asyncio.Event | None = None) -> None:
        self.have = dict.fromkeys(writers, 0)
        self.out_of_order = 0
        self.progress = progress

    def take(self, message: bytes) -> None:
        parsed = parse_message(message)
        if not isinstance(parsed, SyncUpdate):
            return
        for client, start, end in clock_ranges(parsed.update):
            if client in self.have:
                if start > self.have[client]:
                    self.out_of_order += 1
                self.have[client] = max(self.have[client], end)
        if self.progress is not None:
            self.progress.set()


async def _read(ws: ClientConnection, reader: Reader) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            if isinstance(message, bytes):
                reader.take(message)


async def run(url: str, readers_n: int, updates: int, waves: int) -> dict[str, int]:
    room = f"{url}/order-check"
    docs = [Doc(), Doc()]
    writers = {d.client_id for d in docs}
    progress = asyncio.Event()
    readers = [Reader(writers, progress) for _ in range(readers_n)]
    sockets: list[ClientConnection] = []
    tasks: list[asyncio.Task[None]] = []

    async def join(reader: Reader) -> None:
        ws = await connect(room, max_size=None, compression=None, open_timeout=60)
        sockets.append(ws)
        await ws.send(STEP1_EMPTY)
        tasks.append(asyncio.create_task(_read(ws, reader)))

    early, late = readers[: readers_n // 2], readers[readers_n // 2 :]
    await asyncio.gather(*(join(r) for r in early))
    wave_size = max(1, len(late) // waves)
    wave_every = max(1, updates // (waves + 1))
    final: dict[int, int] = {}

    async def write(doc: Doc, index: int) -> None:
        text = doc.get("t", type=Text)
        pending: list[bytes] = []
        doc.observe(lambda e: pending.append(e.update))
        async with connect(room, max_size=None, compression=None, open_timeout=60) as ws:
            drain = asyncio.create_task(_read(ws, Reader(set())))
            for seq in range(updates):
                text += f"[{index}.{seq}]"
                await ws.send(create_update_message(pending.pop()))
                if index == 0 and seq % wave_every == wave_every - 1 and late:
                    wave = [late.pop() for _ in range(min(wave_size, len(late)))]
                    await asyncio.gather(*(join(r) for r in wave))
            final[doc.client_id] = len(str(text))
            drain.cancel()

    await asyncio.gather(*(write(d, i) for i, d in enumerate(docs)))
    await asyncio.gather(*(join(r) for r in late))  # any wave left over

    async def complete() -> None:
        while not all(r.have[c] >= end for r in readers for c, end in final.items()):
            progress.clear()
            await progress.wait()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(complete(), timeout=120)
    # Lost deliveries, not only late ones: what each reader still lacks of each writer's clock.
    missing_readers = sum(1 for r in readers if any(r.have[c] < end for c, end in final.items()))
    missing = sum(max(0, end - r.have[c]) for r in readers for c, end in final.items())
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return {
        "readers": readers_n,
        "updates_per_writer": updates,
        "out_of_order": sum(r.out_of_order for r in readers),
        "readers_out_of_order": sum(1 for r in readers if r.out_of_order),
        "readers_incomplete": missing_readers,
        "missing_characters": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.order_check", description=__doc__)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--updates", type=int, default=400, help="per writer")
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--noisy", action="store_true")
    args = parser.parse_args()
    server = start_tandem()
    try:
        with cpu_hogs(600) if args.noisy else contextlib.nullcontext():
            result = asyncio.run(run(server.ws_url, min(args.readers, 1000), args.updates, args.waves))
    finally:
        server.stop()
    print(json.dumps({**result, "noisy": args.noisy}))


if __name__ == "__main__":
    main()
