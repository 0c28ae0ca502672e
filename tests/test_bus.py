"""The bus contract, run against every implementation: `LocalBus` (two nodes on one hub) and
`RedisBus` (two nodes on the real Redis at 127.0.0.1:6379, under a key prefix of their own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from backend.bus.local import LocalBus, LocalHub
from backend.bus.redis import RedisBus
from backend.bus.types import Bus, BusMessage
from tests.support import eventually as until

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"


async def delete_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def network(kind: str) -> AsyncIterator[Callable[[], Any]]:
    """A factory of bus nodes that see each other (one hub, or one Redis key prefix)."""
    if kind == "local":
        hub = LocalHub(history_max=1000)
        yield lambda: LocalBus(hub)
        return
    prefix = f"tandem-test-{uuid.uuid4().hex[:8]}:"
    try:
        yield lambda: RedisBus(
            REDIS_URL, prefix=prefix, heartbeat_seconds=0.1, peer_expiry_seconds=1.0, block_ms=500
        )
    finally:
        await delete_prefix(prefix)


@asynccontextmanager
async def two_nodes(kind: str) -> AsyncIterator[tuple[Any, Any]]:
    async with network(kind) as make, make() as a, make() as b:
        yield a, b


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def collector() -> tuple[list[BusMessage], Callable[[BusMessage], None]]:
    got: list[BusMessage] = []
    return got, got.append


async def test_messages_cross_nodes_in_order_with_sender(kind: str) -> None:
    async with two_nodes(kind) as (a, b):
        got, handler = collector()
        await b.subscribe("ch", handler)
        for i in range(200):
            a.publish("ch", "u", i.to_bytes(4, "big"))
        await until(lambda: len(got) == 200)
        assert [int.from_bytes(m.data, "big") for m in got] == list(range(200))
        assert {m.sender for m in got} == {a.node_id} and a.node_id != b.node_id
        assert {(m.channel, m.kind) for m in got} == {("ch", "u")}


async def test_own_messages_come_back_marked_as_own(kind: str) -> None:
    async with two_nodes(kind) as (a, _b):
        got, handler = collector()
        await a.subscribe("echo", handler)
        a.publish("echo", "x", b"mine")
        await until(lambda: got)
        assert got[0].sender == a.node_id  # the subscriber drops it by comparing with node_id


async def test_channels_are_separate(kind: str) -> None:
    async with two_nodes(kind) as (a, b):
        got1, h1 = collector()
        got2, h2 = collector()
        await b.subscribe("one", h1)
        await b.subscribe("two", h2)
        a.publish("one", "k", b"1")
        a.publish("two", "k", b"2")
        await until(lambda: got1 and got2)
        await anyio.sleep(0.2)
        assert [m.data for m in got1] == [b"1"] and [m.data for m in got2] == [b"2"]


async def test_replay_then_live_without_gap_or_duplicate(kind: str) -> None:
    async with two_nodes(kind) as (a, b):
        for i in range(50):
            a.publish("log", "u", i.to_bytes(4, "big"))
        # Published before: seen by a live subscriber on the publishing node, so it has landed.
        marker, mark = collector()
        await a.subscribe("log", mark, replay=True)
        await until(lambda: len(marker) == 50)
        got, handler = collector()

        async def publish_more() -> None:
            for i in range(50, 150):
                a.publish("log", "u", i.to_bytes(4, "big"))
                if i % 10 == 0:
                    await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish_more)
            await b.subscribe("log", handler, replay=True)
        await until(lambda: len(got) >= 150)
        await anyio.sleep(0.2)
        assert [int.from_bytes(m.data, "big") for m in got] == list(range(150))


async def test_second_subscriber_on_a_live_channel_replays_too(kind: str) -> None:
    async with two_nodes(kind) as (a, b):
        first, h1 = collector()
        await b.subscribe("c2", h1, replay=True)
        for i in range(20):
            a.publish("c2", "u", bytes([i]))
        await until(lambda: len(first) == 20)
        second, h2 = collector()
        await b.subscribe("c2", h2, replay=True)
        a.publish("c2", "u", bytes([20]))
        await until(lambda: len(second) == 21 and len(first) == 21)
        assert [m.data[0] for m in second] == list(range(21))


async def test_closed_subscription_gets_nothing(kind: str) -> None:
    async with two_nodes(kind) as (a, b):
        got, handler = collector()
        sub = await b.subscribe("gone", handler)
        a.publish("gone", "u", b"1")
        await until(lambda: got)
        sub.close()
        sub.close()  # idempotent
        a.publish("gone", "u", b"2")
        await anyio.sleep(0.3)
        assert [m.data for m in got] == [b"1"]


async def test_a_node_that_leaves_is_reported(kind: str) -> None:
    lost: list[str] = []

    async def on_lost(node: str) -> None:
        lost.append(node)

    async with network(kind) as make, make() as b:
        b.on_peer_lost(on_lost)
        async with make() as a:
            await until(lambda: a.node_id in b.peers())
        await until(lambda: lost == [a.node_id])
        assert a.node_id not in b.peers()


def test_both_implementations_satisfy_the_protocol() -> None:
    buses: list[Bus] = [LocalBus(), RedisBus(REDIS_URL)]
    for bus in buses:
        assert isinstance(bus.node_id, str) and isinstance(bus.shared, bool)
    assert LocalBus().shared is False and LocalBus(LocalHub()).shared is True
