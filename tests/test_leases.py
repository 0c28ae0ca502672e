"""Owner leases on the real Redis (a key prefix per test): one owner at a time, a dead holder is
replaced at once, a vanished lease is taken back by its holder, a released one is free."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
import redis.asyncio as aioredis

from backend.bus.leases import RedisLeases
from tests.scaleout_support import SHARED_REDIS, redis_prefix

pytestmark = pytest.mark.anyio


async def until(read: Callable[[], Awaitable[object]], expected: object, timeout: float = 5) -> None:
    """Poll Redis with a deadline until `read()` returns `expected`."""
    with anyio.fail_after(timeout):
        while await read() != expected:
            await anyio.sleep(0.02)


def leases(prefix: str, node: str, alive: set[str], ttl: float = 3.0) -> RedisLeases:
    return RedisLeases(SHARED_REDIS, prefix=prefix, node_id=node, ttl_seconds=ttl, alive=alive.__contains__)


async def test_one_owner_and_takeover_from_a_dead_holder() -> None:
    alive = {"a", "b"}
    with redis_prefix() as prefix:
        async with leases(prefix, "a", alive) as a, leases(prefix, "b", alive) as b:
            assert await a.claim("owner:s") == "a"
            assert await b.claim("owner:s") == "a"  # a is alive: b tunnels to it
            assert await a.claim("owner:s") == "a"  # idempotent for the holder
            alive.discard("a")  # the bus says a stopped answering
            assert await b.claim("owner:s") == "b"
            assert await a.claim("owner:s") == "b"  # a (back, say) finds b the owner


async def test_hold_renews_takes_back_a_vanished_lease_and_release_frees_it() -> None:
    alive = {"a", "b"}
    with redis_prefix() as prefix:
        raw = aioredis.Redis.from_url(SHARED_REDIS)
        try:
            async with leases(prefix, "a", alive, ttl=0.6) as a, leases(prefix, "b", alive) as b:
                assert await a.claim("owner:s") == "a"
                with a.hold("owner:s"):
                    await raw.delete(prefix + "owner:s")  # as after a Redis restart without persistence

                    await until(lambda: raw.get(prefix + "owner:s"), b"a")
                    # Renewed past its TTL while held: still a's.
                    ttl_ms = await raw.pttl(prefix + "owner:s")
                    assert 0 < ttl_ms <= 600

                await until(lambda: raw.get(prefix + "owner:s"), None)
                assert await b.claim("owner:s") == "b"
        finally:
            await raw.aclose()
