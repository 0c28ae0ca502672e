"""`HistoryRecorder`: takes a version of each edited session on idle, at least every N minutes
while it is edited, and when its room unloads (shutdown included).

Authors: the principals whose updates the room applied since the previous version (the room
records each writing connection as it applies its update: `room.edited_by`), plus "server" when
the document changed here without any client (terminal file sync). The update log keeps no
origins, so attribution is per version, not per character; it is exact for who wrote in that window.

Several nodes: every node holding the room records it, and the store keeps one version per state
(see store.py), each node adding the authors who wrote through it. Updates from other nodes
make a room dirty (a node may be the last one holding it) but name nobody here. A node whose
`history_max_interval_seconds` is up while another node has recorded since it last looked waits
one more interval, so a session edited on N nodes still gets one periodic version, not N.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import anyio

from backend.history import docfiles
from backend.history.models import SessionVersion
from backend.history.statekey import state_key
from backend.history.store import HistoryStore
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.settings import Settings

log = logging.getLogger("tandem.history")

SERVER_AUTHOR = {"id": "server", "name": "server"}


@dataclass
class _Tracked:
    room: Room
    seen_applied: int = 0  # a room starts at 0 when loaded
    seen_local: int = 0
    changed_at: float = 0.0
    dirty: bool = False
    changed_here: bool = False  # by this node (a client or the server), not only by other nodes
    last_version_at: float = field(default_factory=time.monotonic)
    authors: dict[str, dict[str, str]] = field(default_factory=dict)
    # The newest version this node knows of, and the fingerprints of its files.
    last_version_id: int | None = None
    last_files: dict[str, str] = field(default_factory=dict)
    # The newest version seen when the interval was last up (None: not looked yet since loading).
    seen_head: int | None = None


class HistoryRecorder:
    def __init__(self, settings: Settings, rooms: RoomManager, store: HistoryStore) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = store
        self._tracked: dict[str, _Tracked] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def run(self) -> None:
        """Poll the loaded rooms every `history_poll_seconds` until cancelled."""
        s = self.settings
        while True:
            await anyio.sleep(s.history_poll_seconds)
            now = time.monotonic()
            for name, room in list(self.rooms.rooms.items()):
                state = self._observe(name, room, now)
                if not state.dirty:
                    continue
                idle = now - state.changed_at >= s.history_idle_seconds
                overdue = now - state.last_version_at >= s.history_max_interval_seconds
                if idle or overdue:
                    try:
                        if idle or not await self._recorded_elsewhere(name, state, now):
                            await self.record(room, kind="auto")
                    except Exception:
                        log.exception("session %r: recording a version failed", name)
            for name in list(self._tracked):
                if name not in self.rooms.rooms:
                    del self._tracked[name]

    def _observe(self, name: str, room: Room, now: float) -> _Tracked:
        state = self._tracked.get(name)
        if state is None or state.room is not room:
            state = self._tracked[name] = _Tracked(room)
        if room.updates_applied != state.seen_applied:
            state.seen_applied = room.updates_applied
            state.changed_at = now
            state.dirty = True
        local = room.updates_applied - room.remote_updates_applied
        if local != state.seen_local:
            state.seen_local = local
            state.changed_here = True
        if room.edited_by:
            for client in room.edited_by:
                who = client.principal
                ident = str(getattr(who, "id", None) or "anonymous")
                state.authors[ident] = {"id": ident, "name": str(getattr(who, "name", None) or ident)}
            room.edited_by.clear()
        return state

    async def _recorded_elsewhere(self, name: str, state: _Tracked, now: float) -> bool:
        """Whether another node took a version since this one last looked (then wait an interval).
        Compared by version id, not by timestamps: node clocks need not agree. The first look
        after loading knows no earlier head, so it records."""
        head = await anyio.to_thread.run_sync(self.store.head, name)
        head_id = head.id if head is not None else None
        seen, state.seen_head = state.seen_head, head_id
        if seen is None or head_id is None or head_id in (seen, state.last_version_id):
            return False
        state.last_version_at = now
        return True

    async def _previous_files(self, name: str, state: _Tracked) -> dict[str, str]:
        """Fingerprints of the newest version's files: the ones this node recorded, or read from
        the database when another node recorded since (or the room was just loaded)."""
        head = await anyio.to_thread.run_sync(self.store.head, name)
        if head is None:
            return {}
        if head.id != state.last_version_id:
            row = await anyio.to_thread.run_sync(self.store.get, name, head.id)
            data = row.data if row is not None else b""
            state.last_files = await anyio.to_thread.run_sync(
                lambda: docfiles.fingerprints(docfiles.decode(data))
            )
            state.last_version_id = head.id
        return state.last_files

    def _lock(self, name: str) -> anyio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = anyio.Lock()
        return lock

    async def record(
        self,
        room: Room,
        *,
        kind: str,
        author: dict[str, str] | None = None,
        note: str = "",
        force: bool = False,
    ) -> SessionVersion | None:
        """Store a version of the room's doc now; None when nothing changed (unless `force`)."""
        async with self._lock(room.name):
            state = self._observe(room.name, room, time.monotonic())
            if not state.dirty and not force:
                return None
            # In the loop thread, with no await in between: the doc is not thread-safe, and the
            # update, its state key, its files and what is taken from `state` describe one state
            # (the poll loop may observe newer edits during the awaits below).
            data = room.doc.get_update()
            key = state_key(room.doc)
            fingerprints = docfiles.fingerprints(docfiles.files_of(room.doc))
            dirty, changed_here, taken = state.dirty, state.changed_here, state.authors
            state.dirty, state.changed_here, state.authors = False, False, {}
            try:
                files = docfiles.changed_paths(await self._previous_files(room.name, state), fingerprints)
                if not dirty and not files and kind == "auto":
                    return None
                authors = list(taken.values())
                if author is not None and author not in authors:
                    authors.append(author)
                if changed_here and not authors:
                    authors.append(SERVER_AUTHOR)
                row, created = await anyio.to_thread.run_sync(
                    lambda: self.store.add(
                        room.name, data, state=key, kind=kind, authors=authors, files=files, note=note
                    )
                )
            except BaseException:
                # Not recorded: the next try still names these authors.
                state.dirty = state.dirty or dirty
                state.changed_here = state.changed_here or changed_here
                state.authors = {**taken, **state.authors}
                raise
            state.last_files = fingerprints
            state.last_version_id = row.id
            state.last_version_at = time.monotonic()
            if created:
                self.rooms.stats.history_versions += 1
            log.info(
                "session %r: version %s (%s, %d files changed%s)",
                room.name,
                row.id,
                kind,
                len(files),
                "" if created else "; that state was recorded already: merged into it",
            )
            return row

    async def before_unload(self, room: Room) -> None:
        """The manager's hook: keep the last edits of a room that is about to unload."""
        state = self._observe(room.name, room, time.monotonic())
        if state.dirty:
            await self.record(room, kind="auto", note="on unload")
        self._tracked.pop(room.name, None)
        self._locks.pop(room.name, None)
