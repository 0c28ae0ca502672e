"""`RedisProbe`: the one Redis client `/readyz` pings, instead of a new connection per probe.

Created on the first probe (a node without probes never connects), closed on shutdown. Its pool
keeps the connection between probes; when Redis goes away the dead connection is dropped and
the probe fails (503), and the one retry re-dials, so the first probe after Redis returns passes.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


class RedisProbe:
    configured = True

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url
        self.timeout = timeout_seconds
        self._client: aioredis.Redis | None = None

    async def ping(self) -> None:
        if self._client is None:
            self._client = aioredis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                # One retry: a pooled connection that died with a Redis restart is re-dialled.
                retry=Retry(NoBackoff(), 1),
                max_connections=8,  # concurrent probes; beyond, a probe fails rather than piles up
            )
        await self._client.ping()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class NoRedisProbe:
    """One node without Redis (in-process pub/sub): `/readyz` skips the check."""

    configured = False

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
