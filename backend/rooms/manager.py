"""Loads rooms on demand, shares one load among concurrent joiners, unloads idle rooms.

No lock is held for a room's life (pycrdt-websocket 0.16.5 strands clients that way): joiners of
a room that is loading await the same load, and a room being unloaded finishes its flush before
the next load of that name reads the store.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.abc
from pycrdt import Doc, merge_updates

from backend.bus.types import Bus
from backend.errors import CapacityError
from backend.ops.counters import NodeStats, SampledHistogram
from backend.rooms.awareness import PresenceLimits, StateStamp
from backend.rooms.listeners import RoomListener
from backend.rooms.memory import MemoryReleaser
from backend.rooms.replication import RoomLink, channel_of
from backend.rooms.room import CanWrite, GuardFactory, Room, _always
from backend.settings import Settings
from backend.store.types import DocumentStore
from backend.store.writer import RoomWriter

log = logging.getLogger("tandem.rooms")

# Makes a loaded room's listener (before any joiner gets the room); None: nothing to hear there.
ListenerFactory = Callable[[Room], RoomListener | None]


@dataclass
class _Load:
    done: anyio.Event = field(default_factory=anyio.Event)
    room: Room | None = None
    error: BaseException | None = None


class RoomManager:
    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        task_group: anyio.abc.TaskGroup,
        *,
        can_write: CanWrite = _always,
        stamp: StateStamp | None = None,
        guard: GuardFactory | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.node_id = settings.node_id or uuid.uuid4().hex[:12]
        self._tg = task_group
        self._can_write = can_write
        self._stamp = stamp
        self._guard = guard
        self._presence = PresenceLimits(
            max_state_bytes=settings.awareness_max_state_bytes,
            max_client_ids=settings.awareness_max_client_ids,
            rate_per_second=settings.awareness_rate_per_second,
            burst=settings.awareness_burst,
        )
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, _Load] = {}
        self._unloading: dict[str, anyio.Event] = {}
        self._writer_scopes: dict[str, anyio.CancelScope] = {}
        self._closed = False
        self.bus: Bus | None = None
        if bus is not None:
            self.use_bus(bus)
        # Metrics: node totals (unloaded rooms fold their counters in) and the sampled fan-out timing.
        self.stats = NodeStats(fanout=SampledHistogram(sample_every=settings.metrics_fanout_sample_every))
        # Called with each room as it loads: the listeners they make hear it after the built-in
        # ones (the durable announcement, replication, the node's metrics), in this order.
        self.listeners: list[ListenerFactory] = []
        # Awaited with a room about to unload, after its listeners' `before_unload`, before its
        # final flush (file sync stops).
        self.before_unload: list[Callable[[Room], Awaitable[None]]] = []
        # Awaited with a loaded room before any joiner gets it (file sync reads the workspace in).
        # A failing hook is logged; the room is served regardless.
        self.after_load: list[Callable[[Room], Awaitable[None]]] = []
        self.memory = MemoryReleaser(enabled=settings.room_unload_trim_memory)
        self.unloading_rooms: dict[str, Room] = {}  # out of `rooms`, flushing, not yet folded

    async def acquire(self, name: str) -> Room:
        """The live room of that name, loading it if needed; every concurrent caller gets it."""
        while True:
            if self._closed:
                raise CapacityError("server is shutting down")
            room = self.rooms.get(name)
            if room is not None:
                room.keep_loaded()  # a joiner is on its way
                return room
            unloading = self._unloading.get(name)
            if unloading is not None:
                await unloading.wait()
                continue
            load = self._loading.get(name)
            if load is None:
                if len(self.rooms) + len(self._loading) >= self.settings.max_rooms:
                    raise CapacityError(f"node holds {self.settings.max_rooms} rooms")
                load = self._loading[name] = _Load()
                self._tg.start_soon(self._load, name, load)
            await load.done.wait()
            if load.error is not None:
                raise load.error
            # loop: the loaded room is in self.rooms (or already unloaded again)

    def start_soon(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run `fn(*args)` in the manager's task group (work that outlives a connection's end)."""
        self._tg.start_soon(fn, *args)

    async def _load(self, name: str, load: _Load) -> None:
        try:
            if self.bus is not None:  # before the store read: the channel's history stays meanwhile
                await self.bus.hold(channel_of(name), partial(self._persisted, name))
            s = self.settings
            stored = await anyio.to_thread.run_sync(self.store.load, name)
            doc: Doc = Doc()
            parts = ([stored.snapshot] if stored.snapshot else []) + stored.updates
            if parts:
                doc.apply_update(parts[0] if len(parts) == 1 else merge_updates(*parts))
            room = Room(
                name,
                doc,
                node_id=self.node_id,
                durable_announce_seconds=self.settings.durable_announce_ms / 1000,
                can_write=self._can_write,
                stamp=self._stamp,
                guard=self._guard,
                presence=self._presence,
                client_id_hold_seconds=self.settings.client_id_hold_seconds,
                sync_message_max_bytes=min(s.sync_message_max_bytes, s.max_frame_bytes // 2),
            )
            room.writer = RoomWriter(
                name,
                self.store,
                state_vector=room.durable_point,  # the state vector and a delete-set digest
                snapshot=doc.get_update,
                on_durable=room.on_durable,
                last_seq=stored.last_seq,
                group_commit_seconds=s.group_commit_ms / 1000,
                compact_every=s.compact_every_updates,
                max_pending=s.store_max_pending_updates,
                retry_max_seconds=s.store_retry_max_seconds,
                spawn=partial(self._spawn_writer, room),
            )
            room.on_durable(room.durable_point())
            room.fanout_histogram = self.stats.fanout
            room.listen(_FoldStats(self.stats, room))
            link = None if self.bus is None else RoomLink(room, self.bus)
            if link is not None:
                room.link = link
                room.listen(link)
            for make in self.listeners:  # before the link starts: they hear what it replays too
                listener = make(room)
                if listener is not None:
                    room.listen(listener)
            if link is not None:
                # After the store load: the channel's retained history, then live messages, then
                # a state-vector exchange for whatever neither held (see backend.rooms.replication).
                await link.start()
            for hook in self.after_load:
                try:
                    await hook(room)
                except Exception:
                    log.exception("room %r: after-load hook failed", name)
            self.rooms[name] = room
            load.room = room
            log.info("room %r loaded (%d stored updates)", name, len(parts))
        except BaseException as exc:
            log.exception("room %r failed to load", name)
            load.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            del self._loading[name]
            load.done.set()

    def _persisted(self, name: str) -> bool:
        """Everything this node applied to the room is in the store (the bus may trim its channel)."""
        room = self.rooms.get(name)
        return room is not None and room.writer is not None and room.writer.pending_since is None

    def _spawn_writer(self, room: Room) -> None:
        """The room's writer has work: run it until it is done (an idle room holds no task)."""
        try:
            self._tg.start_soon(self._run_writer, room)
        except RuntimeError as exc:  # shutting down: the room's close() flushes what is left
            log.debug("room %r: writer not started: %s", room.name, exc)
            if room.writer is not None:
                room.writer.stopped()

    async def _run_writer(self, room: Room) -> None:
        writer = room.writer
        if writer is None:  # unloaded before the task started
            return
        with anyio.CancelScope() as scope:
            self._writer_scopes[room.name] = scope
            try:
                await writer.run()
            finally:
                if self._writer_scopes.get(room.name) is scope:
                    del self._writer_scopes[room.name]

    async def unload(self, room: Room) -> None:
        """Flush and forget a room; a new joiner waits for the flush, then loads afresh."""
        if self.rooms.get(room.name) is not room:
            return
        del self.rooms[room.name]
        done = self._unloading[room.name] = anyio.Event()
        # Still counted by the metrics until its counters are folded into the node's totals.
        self.unloading_rooms[room.name] = room
        try:
            with anyio.CancelScope(shield=True):
                if room.link is not None:
                    room.link.close()  # stop applying others' updates; ours still go out
                await room.before_unload()
                for hook in self.before_unload:
                    try:
                        await hook(room)
                    except Exception:
                        log.exception("room %r: before-unload hook failed", room.name)
                # close() waits for a flush in progress, then flushes the rest and compacts;
                # only then is the background loop stopped.
                await room.close()
                if self.bus is not None:  # persisted: the last node out deletes the channel
                    self.bus.release(channel_of(room.name))
            scope = self._writer_scopes.pop(room.name, None)
            if scope is not None:
                scope.cancel()
            self.unloading_rooms.pop(room.name, None)  # no await since the fold (`_FoldStats`)
            # The writer and the link hold the room's bound methods (a reference cycle): cut
            # them, so the whole Doc is freed by reference counting now, not at some later
            # full garbage collection (tests/test_rooms_memory.py).
            room.writer = None
            room.link = None
            log.info("room %r unloaded", room.name)
        except Exception:
            log.exception("room %r: flush on unload failed", room.name)
        finally:
            self.unloading_rooms.pop(room.name, None)
            del self._unloading[room.name]
            done.set()
        if not self._closed:
            self._tg.start_soon(self.memory.release)

    def use_bus(self, bus: Bus) -> None:
        """Call before any room loads. Other nodes exist only on a shared bus; alone (the embedded
        default) rooms never link, and behave exactly as on a single node."""
        if not bus.shared:
            return
        self.bus = bus
        bus.on_reconnect(self._on_bus_reconnect)
        bus.on_peer_lost(self._on_peer_lost)

    async def _on_bus_reconnect(self) -> None:
        """Messages may have been lost while Redis was away: exchange state vectors per room."""
        for room in list(self.rooms.values()):
            if room.link is not None:
                room.link.request_sync()

    async def _on_peer_lost(self, node: str) -> None:
        for room in list(self.rooms.values()):
            room.drop_peer(node)

    async def run_reaper(self) -> None:
        """Unload rooms that stayed empty for `room_idle_unload_seconds`."""
        idle = self.settings.room_idle_unload_seconds
        interval = max(0.05, min(1.0, idle / 4))
        while True:
            await anyio.sleep(interval)
            # A method of its own: its locals die with each pass, so the last room unloaded is
            # not kept alive (with its whole Doc) by this loop's variable until the next unload.
            await self._reap_once(idle)

    async def _reap_once(self, idle: float) -> None:
        now = time.monotonic()
        for name in [n for n, r in self.rooms.items() if self._unloadable(r, now, idle)]:
            room = self.rooms.get(name)
            if room is not None and self._unloadable(room, now, idle):
                await self.unload(room)
            del room

    @staticmethod
    def _unloadable(room: Room, now: float, idle: float) -> bool:
        idle_for = room.idle_for(now)
        return idle_for is not None and idle_for >= idle

    async def close(self) -> None:
        """Shutdown: flush every room (clients were already told 1012 by the server)."""
        self._closed = True
        for room in list(self.rooms.values()):
            room.close_clients(1012, "server restarting")
            await self.unload(room)


class _FoldStats(RoomListener):
    """An unloaded room's counters go into the node totals (metrics never go backwards)."""

    def __init__(self, stats: NodeStats, room: Room) -> None:
        self._stats = stats
        self._room = room

    def on_unloaded(self) -> None:
        stats, room = self._stats, self._room
        stats.messages_in += room.messages_in
        stats.messages_out += room.messages_out
        stats.updates_refused += room.updates_refused
        if room.writer is not None:
            stats.bytes_persisted += room.writer.bytes_persisted
            stats.compactions += room.writer.compactions
            stats.persist_failures += room.writer.failures
