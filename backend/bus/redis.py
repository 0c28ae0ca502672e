"""`RedisBus`: channels as Redis Streams, one blocking reader per node.

Why Streams and not pub/sub (Hocuspocus's Redis extension uses pub/sub and repairs with a sync
on load): a stream is a log with ids, so a reader resumes from the last id it processed and a
subscriber catches up on retained history before going live — no gap between "loaded" and
"subscribed", and a short connection loss costs a re-read, not a lost message. `MAXLEN ~`
bounds each channel's memory (trimming happens in whole macro nodes, cheap).

Streams do not outlive their use: a node *holds* a durable channel (a set of holder node ids per
channel) from before it reads the store until it has persisted and *released* it; the last
release deletes the stream, and so does `drop` (a deleted session). While held, each holder's
heartbeat writes its mark (the last id it read, once all it applied is persisted) and the stream
is trimmed up to the lowest mark; a holder without a mark (loading, or dead) stops the trim.
A node's inbox (ephemeral: read by that node alone) is trimmed up to what the node has read, so
tunnelled terminal output does not stay in Redis once delivered. What a log cannot
give — messages that failed to publish while Redis was away, or a stream wiped by a Redis
restart without persistence — is repaired by the users through `on_reconnect` (rooms exchange
state vectors, as y-redis and Hocuspocus do).

Node liveness (heartbeats on one `nodes` stream) is `backend.bus.liveness`.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from backend.bus.leases import REDIS_DOWN_ERRORS
from backend.bus.liveness import BYE, HEARTBEAT, NODES_MAXLEN, NodeLiveness
from backend.bus.retention import RELEASE, TRIM, after
from backend.bus.types import BusMessage, Handler, PeerLostListener, ReconnectListener

log = logging.getLogger("tandem.bus")

RETRY_MAX_SECONDS = 2.0

# Outbox operations besides XADD, in publish order with this node's messages.
_RELEASE = {b"op": b"release"}
_DROP = {b"op": b"drop"}


def _sid(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Channel:
    key: bytes
    cursor: bytes = b"0-0"
    handlers: list[_RedisSubscription] = field(default_factory=list)


class _RedisSubscription:
    def __init__(self, bus: RedisBus, channel: str, handler: Handler) -> None:
        self.channel = channel
        self.handler = handler
        self._bus = bus
        # Live messages that arrive while the replay is being read wait here (no gap, no reorder).
        self.buffer: list[BusMessage] | None = None

    def deliver(self, message: BusMessage) -> None:
        if self.buffer is not None:
            self.buffer.append(message)
        else:
            self.call(message)

    def call(self, message: BusMessage) -> None:
        try:
            self.handler(message)
        except Exception:
            log.exception("bus handler failed on channel %r (%s)", message.channel, message.kind)

    def close(self) -> None:
        state = self._bus._channels.get(self.channel)
        if state is not None and self in state.handlers:
            state.handlers.remove(self)
            if not state.handlers:
                del self._bus._channels[self.channel]
                self._bus._keys.pop(state.key, None)


class RedisBus:
    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tandem:",
        node_id: str | None = None,
        stream_max_len: int = 10_000,
        heartbeat_seconds: float = 1.0,
        peer_expiry_seconds: float = 5.0,
        publish_queue_max: int = 10_000,
        read_count: int = 1_000,
        block_ms: int = 5_000,
    ) -> None:
        # Unique per process even with a fixed TANDEM_NODE_ID: a restarted node must not take its
        # previous life's messages for its own echoes.
        self.node_id = f"{node_id or 'node'}-{uuid.uuid4().hex[:8]}"
        self._prefix = prefix.encode()
        self._maxlen = stream_max_len
        self._heartbeat = heartbeat_seconds
        self._expiry = peer_expiry_seconds
        self._queue_max = publish_queue_max
        self._count = read_count
        self._block_ms = block_ms
        timeout = block_ms / 1000 + 5
        # One immediate retry (a pooled connection gone stale after a Redis restart); beyond that
        # the repair loop owns the backoff, so a dead Redis never stalls a publish for seconds.
        once: dict[str, Any] = {"retry": Retry(NoBackoff(), 1), "socket_connect_timeout": 5}
        # Any: redis-py types every reply as a union of all it could be; with decode_responses
        # off (the default) these are bytes, and parsing them is this module's job.
        self._reader: Any = aioredis.Redis.from_url(url, socket_timeout=timeout, **once)
        self._writer: Any = aioredis.Redis.from_url(url, socket_timeout=10, **once)
        self._channels: dict[str, _Channel] = {}
        self._keys: dict[bytes, str] = {}
        self._outbox: deque[tuple[bytes, dict[bytes, bytes]]] = deque()
        self._outbox_ready = anyio.Event()
        self._nodes = NodeLiveness(
            self.node_id, self._prefix + b"nodes", peer_expiry_seconds, self._notify_peer_lost
        )
        self._wake_key = self._prefix + b"wake:" + self.node_id.encode()
        self._wake_cursor = b"0-0"
        self._ephemeral: set[bytes] = set()  # channel keys that expire with this node
        self._trims: dict[bytes, bytes] = {}  # ephemeral key -> last id read (trimmed up to it)
        # Durable channel keys this node holds (re-added on repair), each with its "everything
        # this node published there is persisted" check, and the last mark written for it.
        self._held: dict[bytes, Callable[[], bool]] = {}
        self._marks: dict[bytes, bytes] = {}
        self._reconnect: list[ReconnectListener] = []
        self._peer_lost: list[PeerLostListener] = []
        self._repair = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self.connected = False
        self.dropped = 0  # messages that could not be published (a metric)
        self.repairs = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> RedisBus:
        try:
            await self._nodes.start(self._writer)
            self.connected = True
        except REDIS_DOWN_ERRORS as exc:
            log.warning("redis unreachable at start (%r): will retry", exc)
            self._repair.set()
        self._tg = await anyio.create_task_group().__aenter__()
        for run in (self._read_loop, self._publish_loop, self._heartbeat_loop, self._repair_loop):
            self._tg.start_soon(run)
        log.info("bus: redis streams, node %s", self.node_id)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tg is None:
            return  # never entered, or already closed
        with anyio.CancelScope(shield=True), anyio.move_on_after(3):
            try:
                await self._flush_outbox()
                await self._writer.xadd(self._nodes.key, self._nodes.fields(BYE), maxlen=NODES_MAXLEN)
            except REDIS_DOWN_ERRORS as exc:
                log.warning("bus: could not say goodbye (%r); peers will expire this node", exc)
        tg, self._tg = self._tg, None
        tg.cancel_scope.cancel()
        await tg.__aexit__(et, e, tb)
        with anyio.CancelScope(shield=True):
            await self._reader.aclose()
            await self._writer.aclose()

    # -- the Bus API -------------------------------------------------------------------------

    def publish(self, channel: str, kind: str, data: bytes) -> None:
        if len(self._outbox) >= self._queue_max:
            self.dropped += 1
            self._repair.set()  # peers missed it: repair once Redis keeps up again
            return
        self._outbox.append((self._key(channel), self._fields(kind, data)))
        self._outbox_ready.set()

    async def subscribe(
        self, channel: str, handler: Handler, *, replay: bool = False, ephemeral: bool = False
    ) -> _RedisSubscription:
        sub = _RedisSubscription(self, channel, handler)
        if ephemeral:
            self._ephemeral.add(self._key(channel))
        state = self._channels.get(channel)
        if state is None:
            key = self._key(channel)
            # Position first (the reader starts after it), history up to it: no gap, no duplicate.
            try:
                history = await self._writer.xrange(key, "-", "+") if replay else []
                cursor = history[-1][0] if history else (b"0-0" if replay else await self._last_id(key))
            except REDIS_DOWN_ERRORS as exc:
                # Redis is away: subscribe anyway; the reader starts from the stream's beginning once
                # it is back (for `replay=False` too: a duplicate beats a gap), and users repair.
                self._lost(exc)
                history, cursor = [], b"0-0"
            state = self._channels.get(channel)  # another subscriber may have won the race
            if state is None:
                state = self._channels[channel] = _Channel(key, cursor)
                self._keys[key] = channel
                state.handlers.append(sub)
                for _entry_id, fields in history:
                    sub.deliver(self._message(channel, fields))
                await self._wake()
                return sub
        # The channel is live already: buffer live messages while the history up to now is read.
        sub.buffer = []
        state.handlers.append(sub)
        if replay:
            try:
                history = await self._writer.xrange(state.key, "-", state.cursor)
            except REDIS_DOWN_ERRORS as exc:
                self._lost(exc)  # go live without the history: the users' repair fills it in
                history = []
            for _entry_id, fields in history:
                sub.call(self._message(channel, fields))
        pending, sub.buffer = sub.buffer, None
        for message in pending or ():
            sub.deliver(message)
        return sub

    async def hold(self, channel: str, persisted: Callable[[], bool] = lambda: False) -> None:
        key = self._key(channel)
        self._held[key] = persisted
        try:
            await self._writer.sadd(self._holders(key), self.node_id)
        except REDIS_DOWN_ERRORS as exc:
            self._lost(exc)  # the repair re-adds every held channel before users resync

    def release(self, channel: str) -> None:
        key = self._key(channel)
        self._held.pop(key, None)
        self._marks.pop(key, None)
        self._outbox.append((key, _RELEASE))
        self._outbox_ready.set()

    def drop(self, channel: str) -> None:
        self._outbox.append((self._key(channel), _DROP))
        self._outbox_ready.set()

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._reconnect.append(listener)

    def on_peer_lost(self, listener: PeerLostListener) -> None:
        self._peer_lost.append(listener)

    def peers(self) -> set[str]:
        return self._nodes.peers()

    # -- internals ---------------------------------------------------------------------------

    def _key(self, channel: str) -> bytes:
        return self._prefix + b"ch:" + channel.encode()

    def _holders(self, key: bytes) -> bytes:
        return self._prefix + b"holders:" + key.removeprefix(self._prefix + b"ch:")

    def _marks_key(self, key: bytes) -> bytes:
        return self._prefix + b"marks:" + key.removeprefix(self._prefix + b"ch:")

    def _trim_held(self, pipe: Any) -> None:
        """Queue on `pipe` this node's new marks and a trim of those channels (heartbeat)."""
        for key, persisted in list(self._held.items()):
            channel = self._keys.get(key)
            state = self._channels.get(channel) if channel is not None else None
            if state is None or state.cursor == b"0-0" or state.cursor == self._marks.get(key):
                continue  # not read yet, or nothing new read since the last mark
            cursor = state.cursor  # taken before the check: all we published up to it was applied
            if not persisted():
                continue
            self._marks[key] = cursor
            pipe.hset(self._marks_key(key), self.node_id, cursor)
            pipe.eval(TRIM, 3, self._holders(key), self._marks_key(key), key)

    def _fields(self, kind: str, data: bytes) -> dict[bytes, bytes]:
        return {b"s": self.node_id.encode(), b"k": kind.encode(), b"d": data}

    @staticmethod
    def _message(channel: str, fields: dict[bytes, bytes]) -> BusMessage:
        return BusMessage(channel, fields[b"k"].decode(), fields.get(b"d", b""), fields[b"s"].decode())

    async def _last_id(self, key: bytes) -> bytes:
        last = await self._writer.xrevrange(key, "+", "-", count=1)
        return last[0][0] if last else b"0-0"

    async def _wake(self) -> None:
        """Interrupt the reader's blocking XREAD so that it reads a new channel too."""
        try:
            await self._writer.xadd(self._wake_key, {b"k": b"w"}, maxlen=1)
            await self._writer.pexpire(self._wake_key, int(self._expiry * 4000))
        except REDIS_DOWN_ERRORS:
            self._repair.set()

    async def _read_loop(self) -> None:
        while True:
            if not self.connected:
                await anyio.sleep(0.05)
                continue
            streams = {self._wake_key: self._wake_cursor, self._nodes.key: self._nodes.cursor}
            for state in self._channels.values():
                streams[state.key] = state.cursor
            try:
                response = await self._reader.xread(streams, count=self._count, block=self._block_ms)
            except REDIS_DOWN_ERRORS as exc:
                self._lost(exc)
                continue
            for key, entries in response or ():
                self._dispatch(bytes(key), entries)

    def _dispatch(self, key: bytes, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if not entries:
            return
        last = entries[-1][0]
        if key == self._wake_key:
            self._wake_cursor = last
            return
        if key == self._nodes.key:
            self._nodes.on_entries(entries)
            return
        channel = self._keys.get(key)
        state = self._channels.get(channel) if channel is not None else None
        if state is None:
            return  # unsubscribed meanwhile
        # A response to an XREAD issued before this channel was closed and subscribed again may
        # hold entries the new subscription already replayed: skip them.
        cursor = _sid(state.cursor)
        if _sid(entries[0][0]) <= cursor:
            entries = [e for e in entries if _sid(e[0]) > cursor]
            if not entries:
                return
        state.cursor = last
        if key in self._ephemeral:  # read by this node alone: what it has read may go
            self._trims[key] = last
            self._outbox_ready.set()
        for _id, fields in entries:
            message = self._message(channel, fields)  # type: ignore[arg-type]
            for sub in list(state.handlers):
                sub.deliver(message)

    def _notify_peer_lost(self, node: str) -> None:
        log.info("bus: node %s left or stopped answering", node)
        if self._tg is None:  # this node is shutting down: nobody is left to tell
            return
        for listener in self._peer_lost:
            self._tg.start_soon(_run_listener, listener, node)

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            log.warning("bus: redis connection lost (%r); will reconnect and repair", exc)
        self.connected = False
        self._repair.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = anyio.Event()
            if not self.connected:
                self._drop_outbox()
                continue
            try:
                await self._flush_outbox()
            except REDIS_DOWN_ERRORS as exc:
                self._drop_outbox()
                self._lost(exc)

    async def _flush_outbox(self) -> None:
        """XADD everything queued, pipelined (one round trip per batch)."""
        while self._outbox:
            batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), 512))]
            pipe = self._writer.pipeline(transaction=False)
            for key, fields in batch:
                if fields is _RELEASE:
                    pipe.eval(RELEASE, 3, self._holders(key), key, self._marks_key(key), self.node_id)
                elif fields is _DROP:
                    pipe.delete(key, self._holders(key), self._marks_key(key))
                else:
                    pipe.xadd(key, fields, maxlen=self._maxlen, approximate=True)
            try:
                await pipe.execute()
            except REDIS_DOWN_ERRORS:
                self.dropped += len(batch)
                raise
        if self._trims:
            trims, self._trims = self._trims, {}
            pipe = self._writer.pipeline(transaction=False)
            for key, last in trims.items():
                pipe.xtrim(key, minid=after(last), approximate=False)
            # A failure: the next read sets the trim again.
            _log_failures(await pipe.execute(raise_on_error=False), "inbox trim")

    def _drop_outbox(self) -> None:
        if self._outbox:
            # Messages are repaired by state exchange; releases and drops are kept for later.
            ops = [item for item in self._outbox if item[1] is _RELEASE or item[1] is _DROP]
            self.dropped += len(self._outbox) - len(ops)
            self._outbox.clear()
            self._outbox.extend(ops)
            self._repair.set()

    async def _heartbeat_loop(self) -> None:
        expire_ms = int(self._expiry * 4000)
        while True:
            if self.connected:
                try:
                    pipe = self._writer.pipeline(transaction=False)
                    pipe.xadd(
                        self._nodes.key, self._nodes.fields(HEARTBEAT), maxlen=NODES_MAXLEN, approximate=True
                    )
                    for key in self._ephemeral:  # outlive this node by a few expiries, no more
                        pipe.pexpire(key, expire_ms)
                    self._trim_held(pipe)
                    _log_failures(await pipe.execute(raise_on_error=False), "heartbeat")
                except REDIS_DOWN_ERRORS as exc:
                    self._lost(exc)
            if self.connected:
                self._nodes.expire()
            await anyio.sleep(self._heartbeat)

    async def _repair_loop(self) -> None:
        """After a lost connection or a dropped message: reconnect, fix cursors, let users repair."""
        while True:
            await self._repair.wait()
            delay = 0.05
            while True:
                try:
                    await self._writer.ping()
                    await self._fix_cursors()
                    if self._held:  # holders added while Redis was away, or lost with its data
                        pipe = self._writer.pipeline(transaction=False)
                        for key in self._held:
                            pipe.sadd(self._holders(key), self.node_id)
                        await pipe.execute()
                        self._marks.clear()  # rewritten at the next heartbeat
                    break
                except REDIS_DOWN_ERRORS:
                    await anyio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
            self._repair = anyio.Event()
            if not self.connected:
                log.info("bus: redis connection back")
            self.connected = True
            self._nodes.refresh()
            self.repairs += 1
            if self._outbox:
                self._outbox_ready.set()  # releases and drops kept while Redis was away
            for listener in self._reconnect:
                await _run_listener(listener)

    async def _fix_cursors(self) -> None:
        """A stream whose last id is behind our cursor was recreated (Redis restarted without
        persistence): read it again from the start, or new messages would be skipped."""
        states: list[tuple[bytes, Any]] = [(self._nodes.key, None), (self._wake_key, None)]
        states += [(s.key, s) for s in self._channels.values()]
        for key, state in states:
            try:
                info = await self._writer.xinfo_stream(key)
                last = _sid(info["last-generated-id"])
            except ResponseError:  # no such key: the stream is gone
                last = (0, 0)
            cursor = {self._nodes.key: self._nodes.cursor, self._wake_key: self._wake_cursor}.get(
                key, state.cursor if state is not None else b"0-0"
            )
            if last < _sid(cursor):
                if key == self._nodes.key:
                    self._nodes.cursor = b"0-0"
                elif key == self._wake_key:
                    self._wake_cursor = b"0-0"
                else:
                    state.cursor = b"0-0"


def _log_failures(results: list[Any], what: str) -> None:
    """Command errors inside a pipeline (not a lost connection): logged, never fatal to the bus."""
    for result in results:
        if isinstance(result, REDIS_DOWN_ERRORS):
            raise result
        if isinstance(result, Exception):
            log.warning("bus: %s: redis refused a command: %r", what, result)


async def _run_listener(listener: Callable[..., Awaitable[None]], *args: str) -> None:
    try:
        await listener(*args)
    except Exception:
        log.exception("bus listener failed")
