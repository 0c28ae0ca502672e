"""Redis stays bounded (real Redis at 127.0.0.1:6379, a key prefix per test): a durable channel
lives while some node holds it, the last release deletes it, `drop` deletes it at once, and a
node's inbox keeps nothing it has read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from backend.bus.redis import RedisBus
from backend.bus.types import BusMessage
from tests.support import eventually as until
from tests.test_bus import REDIS_URL, delete_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@asynccontextmanager
async def redis_nodes() -> AsyncIterator[tuple[RedisBus, RedisBus, aioredis.Redis, str]]:
    prefix = f"tandem-test-{uuid.uuid4().hex[:8]}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    try:

        def make() -> RedisBus:
            return RedisBus(
                REDIS_URL, prefix=prefix, heartbeat_seconds=0.1, peer_expiry_seconds=1.0, block_ms=500
            )

        async with make() as a, make() as b:
            yield a, b, client, prefix
    finally:
        await delete_prefix(prefix)
        await client.aclose()


async def test_the_last_release_deletes_the_channel() -> None:
    async with redis_nodes() as (a, b, r, prefix):
        stream, holders = f"{prefix}ch:room:x".encode(), f"{prefix}holders:room:x".encode()
        await a.hold("room:x")
        await b.hold("room:x")
        got: list[BusMessage] = []
        await b.subscribe("room:x", got.append, replay=True)
        for i in range(20):
            a.publish("room:x", "u", b"%d" % i)
        await until(lambda: len(got) == 20, what="b reads a's messages")
        assert await r.xlen(stream) == 20
        assert await r.smembers(holders) == {a.node_id.encode(), b.node_id.encode()}

        a.release("room:x")  # b still holds it: the history stays
        await until_members(r, holders, {b.node_id})
        assert await r.xlen(stream) == 20
        b.publish("room:x", "u", b"late")  # queued before the release: still deleted after it
        b.release("room:x")
        await until_async(r, lambda keys: not keys & {stream, holders}, prefix)


async def test_a_node_that_holds_meanwhile_keeps_the_channel() -> None:
    async with redis_nodes() as (a, b, r, prefix):
        stream = f"{prefix}ch:room:y".encode()
        await a.hold("room:y")
        a.publish("room:y", "u", b"1")
        await until_async(r, lambda keys: stream in keys, prefix)
        await b.hold("room:y")  # b reads the store now: a's release must not delete the stream
        a.release("room:y")
        await until_members(r, f"{prefix}holders:room:y".encode(), {b.node_id})
        assert await r.xlen(stream) == 1


async def test_drop_deletes_a_held_channel() -> None:
    async with redis_nodes() as (a, b, r, prefix):
        await a.hold("room:z")
        await b.hold("room:z")
        a.publish("room:z", "u", b"1")
        a.drop("room:z")
        await until_async(r, lambda keys: not any(b"room:z" in k for k in keys), prefix)


async def test_an_inbox_keeps_nothing_it_has_read() -> None:
    async with redis_nodes() as (a, b, r, prefix):
        inbox = f"inbox:{a.node_id}"
        got: list[BusMessage] = []
        await a.subscribe(inbox, got.append, ephemeral=True)
        payload = b"x" * 32_768  # a terminal output frame
        for _ in range(50):
            b.publish(inbox, "d", payload)
        await until(lambda: len(got) == 50, what="a reads its inbox")
        key = f"{prefix}ch:{inbox}"

        async def empty() -> bool:
            return await r.xlen(key) == 0

        await until_true(empty)


async def until_true(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    import anyio

    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.02)


async def until_async(r: aioredis.Redis, predicate, prefix: str) -> None:  # type: ignore[no-untyped-def]
    async def check() -> bool:
        keys = {k async for k in r.scan_iter(match=f"{prefix}*")}
        return bool(predicate(keys))

    await until_true(check)


async def until_members(r: aioredis.Redis, key: bytes, nodes: set[str]) -> None:
    async def check() -> bool:
        return bool(await r.smembers(key) == {n.encode() for n in nodes})

    await until_true(check)


async def test_a_held_channel_is_trimmed_once_read_and_persisted_everywhere() -> None:
    async with redis_nodes() as (a, b, r, prefix):
        stream, marks = f"{prefix}ch:room:t", f"{prefix}marks:room:t"
        b_persisted = False
        await a.hold("room:t", lambda: True)
        await b.hold("room:t", lambda: b_persisted)
        got_a: list[BusMessage] = []
        got_b: list[BusMessage] = []
        await a.subscribe("room:t", got_a.append, replay=True)
        await b.subscribe("room:t", got_b.append, replay=True)
        for i in range(30):
            a.publish("room:t", "u", b"%d" % i)
            b.publish("room:t", "u", b"%d" % i)
        await until(lambda: len(got_a) == 60 and len(got_b) == 60, what="both read everything")

        async def a_marked() -> bool:
            return bool(await r.hget(marks, a.node_id))

        await until_true(a_marked)  # a's heartbeat wrote its mark and tried to trim...
        assert await r.xlen(stream) == 60  # ...but b has not persisted what it published

        b_persisted = True

        async def trimmed() -> bool:
            return bool(await r.xlen(stream) == 0)

        await until_true(trimmed)
        # A node loading the room now still gets what is published next (no gap after a trim).
        late: list[BusMessage] = []
        await a.subscribe("room:t", late.append, replay=True)
        b.publish("room:t", "u", b"after")
        await until(lambda: [m.data for m in late] == [b"after"], what="the next message")
