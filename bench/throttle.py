"""A slow network in front of a local server: a TCP proxy with shared bandwidth and latency.

    python -m bench.throttle --listen PORT --upstream PORT [--down-kbit 1600] [--up-kbit 750] [--rtt-ms 150]

CDP's `Network.emulateNetworkConditions` throttles a page's own requests but not its service
worker's, so a first visit whose service worker precaches megabytes looks as fast as one that
precaches nothing. Through this proxy every connection of the browser (page, service worker,
WebSocket) shares one downlink and one uplink, as on a phone. Loopback only; a benchmark tool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

log = logging.getLogger("bench.throttle")

CHUNK = 16 * 1024


class Link:
    """One direction of the network: bytes leave one after another at `rate`, then take `delay`."""

    def __init__(self, bytes_per_second: float, delay: float) -> None:
        self.rate = bytes_per_second
        self.delay = delay
        self.free_at = 0.0

    def arrival(self, size: int, now: float) -> float:
        start = max(now, self.free_at)
        self.free_at = start + size / self.rate
        return self.free_at + self.delay


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            at, data = await queue.get()
            if not data:
                break
            wait = at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the simulated wire, not synchronization
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            queue.put_nowait((link.arrival(len(data), loop.time()), data))
    except OSError as exc:
        log.debug("pipe closed: %r", exc)
    queue.put_nowait((0.0, b""))
    try:
        await sender
    except OSError as exc:
        log.debug("pipe closed: %r", exc)


async def serve(listen: int, upstream: int, down: Link, up: Link) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError as exc:
            log.warning("upstream refused: %r", exc)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w, up), _pipe(server_r, client_w, down))
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throttle", description=__doc__)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--down-kbit", type=float, default=1600)
    parser.add_argument("--up-kbit", type=float, default=750)
    parser.add_argument("--rtt-ms", type=float, default=150)
    args = parser.parse_args()
    half = args.rtt_ms / 2000
    down = Link(args.down_kbit * 1000 / 8, half)
    up = Link(args.up_kbit * 1000 / 8, half)
    asyncio.run(serve(args.listen, args.upstream, down, up))


if __name__ == "__main__":
    main()
