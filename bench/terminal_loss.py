"""Terminal output loss: N clients read a large output as fast as they can through `/term`;
each reports the bytes it received and the `skipped` notices it got (0 expected on loopback).

    python bench/terminal_loss.py [--clients 11] [--mbytes 50] [--image tandem-sandbox-test:latest]

Loopback only, bounded in count (clients <= 32, output <= 200 MB) and time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.terminal_bench import remove_instance, start_server  # noqa: E402

LINE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Counter:
    def __init__(self) -> None:
        self.received = 0
        self.skipped_notices = 0
        self.skipped_bytes = 0
        self.tail = b""
        self.done = anyio.Event()

    async def read(self, ws: ClientConnection, start: anyio.Event) -> None:
        async for message in ws:
            if isinstance(message, str):
                control = json.loads(message)
                if control["type"] == "skipped":
                    self.skipped_notices += 1
                    self.skipped_bytes += control["bytes"]
                continue
            if start.is_set():
                self.received += len(message)
            self.tail = (self.tail + message)[-64:]
            if b"END-2" in self.tail:
                self.done.set()
                return


async def run(args: argparse.Namespace) -> None:
    nbytes = int(args.mbytes * 1e6)
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp(prefix="tandem-loss-"))
    proc, port = start_server(data, args.image, instance)
    try:
        url = f"ws://127.0.0.1:{port}/term/loss-{uuid.uuid4().hex[:8]}/main"
        counters = [Counter() for _ in range(args.clients)]
        start = anyio.Event()
        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                conns = [await connect(url, max_size=None) for _ in counters]
                for ws, counter in zip(conns, counters, strict=True):
                    tg.start_soon(counter.read, ws, start)
                await conns[0].send(b"stty -echo; echo READY\n")
                await anyio.sleep(1.0)  # let the prompt and the echo pass before counting
                start.set()
                t0 = time.perf_counter()
                await conns[0].send(f"yes {LINE} | head -c {nbytes}; echo END-$((1+1))\n".encode())
                for counter in counters:
                    await counter.done.wait()
                elapsed = time.perf_counter() - t0
                for ws in conns:
                    await ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await remove_instance(instance)
        shutil.rmtree(data, ignore_errors=True)
    # The PTY turns each \n into \r\n: what a lossless client receives (plus the short marker).
    lossless = nbytes + nbytes // (len(LINE) + 1)
    print(
        f"{args.clients} clients, {args.mbytes:g} MB of `yes | head -c`"
        f" ({lossless / 1e6:.1f} MB through the PTY)"
    )
    print(f"elapsed {elapsed:.1f} s ({lossless / 1e6 / elapsed:.1f} MB/s per client)")
    print(f"{'client':>7}{'received MB':>13}{'skip notices':>14}{'skipped MB':>12}")
    for i, c in enumerate(counters):
        print(f"{i:>7}{c.received / 1e6:>13.2f}{c.skipped_notices:>14}{c.skipped_bytes / 1e6:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", default="tandem-sandbox-test:latest")
    parser.add_argument("--clients", type=int, default=11)
    parser.add_argument("--mbytes", type=float, default=50)
    args = parser.parse_args()
    args.clients, args.mbytes = max(1, min(args.clients, 32)), max(1.0, min(args.mbytes, 200))
    anyio.run(run, args)


if __name__ == "__main__":
    main()
