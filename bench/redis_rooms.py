"""`python -m bench.redis_rooms [N ...]`: Redis keys and memory for N busy rooms, while they are
held and after every node released them (the rooms unloaded everywhere).

Each room gets `UPDATES` small updates (a keystroke-sized Yjs update, ~30 bytes) through a real
`RedisBus` on 127.0.0.1:6379 under a prefix of its own; memory is the sum of `MEMORY USAGE` of the
prefix's keys (exact per key, unaffected by other users of the same Redis)."""

from __future__ import annotations

import sys
import uuid

import anyio
import redis.asyncio as aioredis

from backend.bus.redis import RedisBus

REDIS_URL = "redis://127.0.0.1:6379/0"
UPDATES = 1_000
UPDATE = b"\x01\x01\xb2\x8b\xc5\xa1\x0f\x00\x84\xb2\x8b\xc5\xa1\x0f\x07\x01x\x00" + b"\x00" * 12


async def footprint(r: aioredis.Redis, prefix: str) -> tuple[int, int]:
    keys = [k async for k in r.scan_iter(match=f"{prefix}ch:room:*", count=1000)]
    keys += [k async for k in r.scan_iter(match=f"{prefix}holders:*", count=1000)]
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    sizes = await pipe.execute() if keys else []
    return len(keys), sum(s or 0 for s in sizes)


async def measure(rooms: int) -> tuple[tuple[int, int], tuple[int, int]]:
    prefix = f"tandem-bench-{uuid.uuid4().hex[:8]}:"
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with RedisBus(REDIS_URL, prefix=prefix) as bus:
            names = [f"room:bench-{i}" for i in range(rooms)]
            for name in names:
                await bus.hold(name)
            for _ in range(UPDATES):
                for name in names:
                    bus.publish(name, "u", UPDATE)
                await bus._flush_outbox()  # below the queue's bound: nothing dropped, all in Redis
            assert bus.dropped == 0
            held = await footprint(r, prefix)
            for name in names:
                bus.release(name)
            await bus._flush_outbox()
            released = await footprint(r, prefix)
        return held, released
    finally:
        async for key in r.scan_iter(match=f"{prefix}*"):
            await r.delete(key)
        await r.aclose()


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [100, 400]
    print(f"| busy rooms ({UPDATES} updates each) | keys held | memory held | keys after | memory after |")
    print("|---|---|---|---|---|")
    for n in counts:
        (k1, m1), (k2, m2) = anyio.run(measure, n)
        print(f"| {n} | {k1} | {m1 / 2**20:.1f} MiB | {k2} | {m2 / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
