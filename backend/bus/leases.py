"""Owner leases: which node serves a session's terminals and screen share.

A room's document can be served by every node at once (CRDT updates merge), but a terminal is one
process in one container, and a screen share is one hub with one relay: they live on one node,
the session's owner, and the other nodes tunnel their clients' connections there
(backend.tunnel). The owner is whoever holds the lease `owner:{session}`.

`LocalLeases` (the embedded default): this node owns everything.
`RedisLeases`: a key `SET` with a TTL, claimed with a compare-and-set script, renewed by the owner
while it serves the session, released when it stops. A node that dies stops renewing; the lease
expires after `ttl_seconds`, or sooner: a claimant that sees the holder is no longer among the
bus's live peers takes the lease over at once (compare-and-set on the dead holder's id, so two
claimants cannot both win).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("tandem.bus")

# The exception types that mean "Redis is unreachable" (not a bad command).
REDIS_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

# KEYS[1] lease; ARGV: me, ttl ms, a dead holder that may be replaced (or "").
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] or cur == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur
"""
# KEYS: leases held; ARGV: me, ttl ms. Extends ours, takes back vanished ones (a Redis restart
# without persistence), returns the indexes of keys another node holds now.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not cur then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_key(session: str) -> str:
    return f"owner:{session}"


class Leases(Protocol):
    node_id: str

    async def claim(self, key: str) -> str:
        """The node that owns `key` now: this one when it was free or its holder is gone."""
        ...

    def hold(self, key: str) -> Any:
        """A context manager: keep renewing `key` while this node serves it."""
        ...


class LocalLeases:
    """One node: it owns every session."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    async def claim(self, key: str) -> str:
        return self.node_id

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        yield


class RedisLeases:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        node_id: str,
        ttl_seconds: float,
        alive: Callable[[str], bool],
    ) -> None:
        self.node_id = node_id
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)
        self._alive = alive
        self._client: Any = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._claim = self._client.register_script(_CLAIM)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._held: Counter[str] = Counter()
        self._tg: anyio.abc.TaskGroup | None = None
        self.lost = 0  # held leases found taken by another node (a metric: should stay 0)

    async def __aenter__(self) -> RedisLeases:
        self._tg = await anyio.create_task_group().__aenter__()
        self._tg.start_soon(self._renew_loop)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(et, e, tb)
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            for key in list(self._held):  # the next claimant need not wait for the TTL
                try:
                    await self._release(keys=[self._key(key)], args=[self.node_id])
                except REDIS_DOWN_ERRORS:
                    break
        with anyio.CancelScope(shield=True):
            await self._client.aclose()

    async def claim(self, key: str) -> str:
        owner = await self._claim_once(key, "")
        if owner != self.node_id and not self._alive(owner):
            log.info("lease %s: holder %s is gone; taking it over", key, owner)
            owner = await self._claim_once(key, owner)
        return owner

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self._held[key] += 1
        try:
            yield
        finally:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]
                if self._tg is not None:
                    self._tg.start_soon(self._release_soon, key)

    async def _claim_once(self, key: str, dead: str) -> str:
        owner = await self._claim(keys=[self._key(key)], args=[self.node_id, self._ttl_ms, dead])
        return owner.decode() if isinstance(owner, bytes) else str(owner)

    async def _release_soon(self, key: str) -> None:
        if key in self._held:
            return  # taken again meanwhile
        try:
            await self._release(keys=[self._key(key)], args=[self.node_id])
        except REDIS_DOWN_ERRORS as exc:
            log.info("lease %s: release failed (%r); it expires by itself", key, exc)

    async def _renew_loop(self) -> None:
        while True:
            await anyio.sleep(self._ttl_ms / 3000)
            keys = list(self._held)
            if not keys:
                continue
            try:
                lost = await self._renew(keys=[self._key(k) for k in keys], args=[self.node_id, self._ttl_ms])
            except REDIS_DOWN_ERRORS as exc:
                log.warning("leases: renewal failed (%r); retrying", exc)
                continue
            for index in lost:
                self.lost += 1
                log.warning("lease %s: held by another node now (this node lost it)", keys[int(index) - 1])

    def _key(self, key: str) -> str:
        return self._prefix + key
