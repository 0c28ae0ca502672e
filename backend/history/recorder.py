"""`HistoryRecorder`: takes a version of each edited session on idle, at least every N minutes
while it is edited, and when its room unloads (shutdown included).

Authors: the principals whose updates the room applied since the previous version (the room
records each writing connection as it applies its update: `room.edited_by`), plus "server" when
the document changed without any client (terminal file sync). The update log keeps no origins,
so attribution is per version, not per character; it is exact for who wrote in that window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import anyio

from backend.history import docfiles
from backend.history.models import SessionVersion
from backend.history.store import HistoryStore
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.settings import Settings

log = logging.getLogger("tandem.history")

SERVER_AUTHOR = {"id": "server", "name": "server"}


@dataclass
class _Tracked:
    room: Room
    seen_applied: int
    changed_at: float = 0.0
    dirty: bool = False
    last_version_at: float = field(default_factory=time.monotonic)
    authors: dict[str, dict[str, str]] = field(default_factory=dict)
    # Fingerprints of the files in the latest version (None: not read from the database yet).
    last_files: dict[str, str] | None = None


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
                        await self.record(room, kind="auto")
                    except Exception:
                        log.exception("session %r: recording a version failed", name)
            for name in list(self._tracked):
                if name not in self.rooms.rooms:
                    del self._tracked[name]

    def _observe(self, name: str, room: Room, now: float) -> _Tracked:
        state = self._tracked.get(name)
        if state is None or state.room is not room:
            state = self._tracked[name] = _Tracked(room, 0)  # a room starts at 0 when loaded
        if room.updates_applied != state.seen_applied:
            state.seen_applied = room.updates_applied
            state.changed_at = now
            state.dirty = True
        if room.edited_by:
            for client in room.edited_by:
                who = client.principal
                ident = str(getattr(who, "id", None) or "anonymous")
                state.authors[ident] = {"id": ident, "name": str(getattr(who, "name", None) or ident)}
            room.edited_by.clear()
        return state

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
            data = room.doc.get_update()  # in the loop thread: the doc is not thread-safe
            fingerprints = docfiles.fingerprints(docfiles.files_of(room.doc))
            if state.last_files is None:
                previous = await anyio.to_thread.run_sync(self.store.latest, room.name)
                state.last_files = (
                    docfiles.fingerprints(docfiles.decode(previous.data)) if previous is not None else {}
                )
            files = docfiles.changed_paths(state.last_files, fingerprints)
            if not state.dirty and not files and kind == "auto":
                return None
            authors = list(state.authors.values())
            if author is not None and author not in authors:
                authors.append(author)
            if state.dirty and not authors:
                authors.append(SERVER_AUTHOR)
            row = await anyio.to_thread.run_sync(
                lambda: self.store.add(room.name, data, kind=kind, authors=authors, files=files, note=note)
            )
            state.last_files = fingerprints
            state.dirty = False
            state.authors = {}
            state.last_version_at = time.monotonic()
            self.rooms.stats.history_versions += 1
            log.info("session %r: version %s (%s, %d files changed)", room.name, row.id, kind, len(files))
            return row

    async def before_unload(self, room: Room) -> None:
        """The manager's hook: keep the last edits of a room that is about to unload."""
        state = self._observe(room.name, room, time.monotonic())
        if state.dirty:
            await self.record(room, kind="auto", note="on unload")
        self._tracked.pop(room.name, None)
        self._locks.pop(room.name, None)
