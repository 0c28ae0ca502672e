"""`HistoryRecorder`: takes a version of each edited session on idle, at least every N minutes
while it is edited, and when its room unloads (shutdown included).

What a version stores (see store.py for the decision): the Yjs update from the state of this
node's previous version of the room (`doc.get_update(state_vector)`), or a full checkpoint every
`history_checkpoint_every` versions, once the deltas since the last one pass
`history_checkpoint_max_delta_bytes`, and whenever no previous state is known (a room loaded in a
state that does not contain the stored head's). A version whose files are all unchanged is not recorded
(terminals opening or closing, shutdowns): its changes go into the next version's delta.

Authors: the principals whose updates the room applied since the previous version (a listener on
each room, `_Edits`, notes every connection whose update the doc integrated), plus the people who
typed into the session's terminals since then when the terminal changed files (`terminal_activity`,
wired to the terminal registry's input attribution), plus "server" when the document changed here
and nobody is known. The update log keeps no origins, so attribution is per version, not per
character; it is exact for who wrote in that window.

Several nodes: every node holding the room records it, and the store keeps one version per state
(see store.py), each node adding the authors who wrote through it. Updates from other nodes
make a room dirty (a node may be the last one holding it) but name nobody here. A node whose
`history_max_interval_seconds` is up while another node has recorded since it last looked waits
one more interval, so a session edited on N nodes still gets one periodic version, not N.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from backend.access.authorize import Action, authorize
from backend.access.yupdate import decode_state_vector
from backend.errors import HistoryChainError
from backend.history import docfiles
from backend.history.models import SessionVersion
from backend.history.statekey import state_key
from backend.history.store import HistoryStore
from backend.rooms.connection import ClientConnection
from backend.rooms.listeners import RoomListener
from backend.rooms.manager import RoomManager
from backend.rooms.origin import Origin, Peer
from backend.rooms.room import Room
from backend.settings import Settings

log = logging.getLogger("tandem.history")

SERVER_AUTHOR = {"id": "server", "name": "server"}

TerminalActivity = Callable[[str, float], tuple[int, list[dict[str, str]]]]
"""(session, since Unix time) -> (file changes the session's terminal made so far, who typed into
its terminals since then). `backend.terminals.registry.TerminalRegistry.terminal_activity`."""


class _Edits(RoomListener):
    """A room's listener: what changed it since the recorder last looked, and its last version."""

    def __init__(self, recorder: HistoryRecorder, room: Room) -> None:
        self.recorder = recorder
        self.room = room
        self.applied = 0
        self.local = 0  # made on this node (a client or the server), not relayed from another
        self.editors: set[ClientConnection] = set()

    def on_update(self, update: bytes, origin: Origin) -> None:
        self.applied += 1
        if not isinstance(origin, Peer):
            self.local += 1
            # Authors are the people who may edit files: a commenter's updates only ever touch
            # `comments`, so commenting alone never credits anyone with a version.
            if isinstance(origin, ClientConnection) and authorize(
                origin.principal, origin.room, Action.EDIT_DOC
            ):
                self.editors.add(origin)

    async def before_unload(self) -> None:
        await self.recorder.before_unload(self.room)

    def on_unloaded(self) -> None:
        # Not on the poll's "no longer in the manager's rooms": a room is heard before it is
        # there (file sync reads the workspace into it first).
        if self.recorder._edits.get(self.room.name) is self:
            del self.recorder._edits[self.room.name]


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
    # The version the next delta is based on and the doc's state vector then (None: checkpoint).
    base_id: int | None = None
    base_sv: bytes | None = None
    depth: int = 0
    chain_bytes: int = 0
    # The state the room loaded in (state key, state vector): a delta may base on the stored head.
    loaded: tuple[str, bytes] | None = None
    last_version_wall: float = field(default_factory=time.time)
    seen_disk_changes: int = 0


class HistoryRecorder:
    def __init__(self, settings: Settings, rooms: RoomManager, store: HistoryStore) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = store
        self._tracked: dict[str, _Tracked] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._loaded: dict[str, tuple[Room, str, bytes]] = {}
        self._edits: dict[str, _Edits] = {}
        self.terminal_activity: TerminalActivity | None = None

    def listener(self, room: Room) -> RoomListener:
        """The manager's listener factory: hear a loading room's changes (other nodes' retained
        ones too), and take a last version before it unloads."""
        edits = self._edits[room.name] = _Edits(self, room)
        return edits

    async def after_load(self, room: Room) -> None:
        """The manager's hook: note the state a room loaded in, before anyone changes it."""
        self._loaded[room.name] = (room, state_key(room.doc), room.doc.get_state())

    async def run(self) -> None:
        """Poll the loaded rooms every `history_poll_seconds` until cancelled."""
        while True:
            await anyio.sleep(self.settings.history_poll_seconds)
            # In a method of its own: its locals (the last room looked at) die with each pass,
            # so an unloaded room's Doc is never kept alive by this loop's variables.
            await self._poll_once()

    async def _poll_once(self) -> None:
        s = self.settings
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
        for name in list(self._loaded):
            if name not in self.rooms.rooms:
                del self._loaded[name]

    def _observe(self, name: str, room: Room, now: float) -> _Tracked:
        state = self._tracked.get(name)
        if state is None or state.room is not room:
            state = self._tracked[name] = _Tracked(room)
            loaded = self._loaded.pop(name, None)
            if loaded is not None and loaded[0] is room:
                state.loaded = (loaded[1], loaded[2])
        edits = self._edits.get(name)
        if edits is None or edits.room is not room:
            return state  # not heard since it loaded (the recorder came later): no change known
        if edits.applied != state.seen_applied:
            state.seen_applied = edits.applied
            state.changed_at = now
            state.dirty = True
        if edits.local != state.seen_local:
            state.seen_local = edits.local
            state.changed_here = True
        if edits.editors:
            for client in edits.editors:
                who = client.principal
                ident = str(getattr(who, "id", None) or "anonymous")
                state.authors[ident] = {"id": ident, "name": str(getattr(who, "name", None) or ident)}
            edits.editors.clear()
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

    async def _previous_files(self, name: str, state: _Tracked) -> tuple[dict[str, str], str | None]:
        """Fingerprints of the newest version's files (the ones this node recorded, or read from
        the database when another node recorded since, or the room was just loaded), and that
        version's state key."""
        head = await anyio.to_thread.run_sync(self.store.head, name)
        if head is None:
            return {}, None
        if head.id != state.last_version_id:

            def read() -> dict[str, str]:
                row = self.store.get(name, head.id)
                return docfiles.fingerprints(self.store.files_at(row)) if row is not None else {}

            state.last_files = await anyio.to_thread.run_sync(read)
            state.last_version_id = head.id
        return state.last_files, head.state

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
        """Store a version of the room's doc now; None when nothing changed (unless `force`), or
        for an automatic version when no file changed."""
        async with self._lock(room.name):
            try:
                return await self._record(room, kind=kind, author=author, note=note, force=force)
            except HistoryChainError as exc:
                # The version this node based its delta on was pruned: take a checkpoint.
                log.warning("session %r: %s", room.name, exc)
                state = self._observe(room.name, room, time.monotonic())
                state.base_id = state.base_sv = None
                return await self._record(room, kind=kind, author=author, note=note, force=force)

    async def _base_on_head(self, name: str, state: _Tracked) -> None:
        """A room that loaded in the stored head's state, or in a later one that contains it
        (changes that made no version of their own: a terminal's entry, a title, the last
        moments before an unload), bases its first delta on the head; else a checkpoint.
        Without the second case every reload of a session stored a full copy (#18 item 6)."""
        loaded, state.loaded = state.loaded, None
        if loaded is None or state.base_sv is not None:
            return
        head = await anyio.to_thread.run_sync(self.store.head, name)
        if head is None:
            return
        if head.state == loaded[0]:
            base_sv: bytes | None = loaded[1]
        else:
            base_sv = await anyio.to_thread.run_sync(self.store.state_vector_at, name, head.id)
            if base_sv is None or not _contains(loaded[1], base_sv):
                return
        state.base_id, state.base_sv = head.id, base_sv
        state.depth, state.chain_bytes = head.depth, head.chain_bytes

    def _encode(self, room: Room, state: _Tracked) -> tuple[bytes, int | None, int, int]:
        """(update, base id, depth, chain bytes): a delta on the base, or a checkpoint."""
        s = self.settings
        if state.base_sv is not None and state.depth + 1 < s.history_checkpoint_every:
            delta = room.doc.get_update(state.base_sv)
            chain = state.chain_bytes + len(delta)
            if chain <= s.history_checkpoint_max_delta_bytes:
                return delta, state.base_id, state.depth + 1, chain
        return room.doc.get_update(), None, 0, 0

    def _credit(self, name: str, state: _Tracked, authors: list[dict[str, str]]) -> None:
        """Add who typed into the session's terminals since the last version, when the terminal
        changed files meanwhile."""
        if self.terminal_activity is None:
            return
        disk_changes, typists = self.terminal_activity(name, state.last_version_wall)
        if disk_changes == state.seen_disk_changes:
            return
        state.seen_disk_changes = disk_changes
        for who in typists:
            if all(a.get("id") != who.get("id") for a in authors):
                authors.append(who)

    async def _record(
        self, room: Room, *, kind: str, author: dict[str, str] | None, note: str, force: bool
    ) -> SessionVersion | None:
        state = self._observe(room.name, room, time.monotonic())
        if not state.dirty and not force:
            return None
        await self._base_on_head(room.name, state)
        state = self._observe(room.name, room, time.monotonic())
        # In the loop thread, with no await in between: the doc is not thread-safe, and the
        # update, its state key, its files and what is taken from `state` describe one state
        # (the poll loop may observe newer edits during the awaits below).
        data, base_id, depth, chain = self._encode(room, state)
        state_vector = room.doc.get_state()
        key = state_key(room.doc)
        texts = docfiles.files_of(room.doc)
        dirty, changed_here, taken = state.dirty, state.changed_here, state.authors
        state.dirty, state.changed_here, state.authors = False, False, {}
        wall = time.time()
        try:
            fingerprints = await anyio.to_thread.run_sync(docfiles.fingerprints, texts)
            del texts
            previous, head_state = await self._previous_files(room.name, state)
            files = docfiles.changed_paths(previous, fingerprints)
            if not files and kind == "auto" and head_state != key:
                # Nothing a person would see changed (e.g. a terminal opened): no empty version;
                # these changes ride along in the next version's delta. (When another node just
                # recorded this very state, the add below merges this node's authors into it.)
                return None
            authors = list(taken.values())
            if author is not None and author not in authors:
                authors.append(author)
            self._credit(room.name, state, authors)
            if changed_here and not authors:
                authors.append(SERVER_AUTHOR)
            row, created = await anyio.to_thread.run_sync(
                lambda: self.store.add(
                    room.name,
                    data,
                    state=key,
                    kind=kind,
                    authors=authors,
                    files=files,
                    note=note,
                    base_id=base_id,
                    depth=depth,
                    chain_bytes=chain,
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
        state.last_version_wall = wall
        # The next delta starts from this state (a merged row holds the very same state).
        state.base_id, state.base_sv = row.id, state_vector
        state.depth, state.chain_bytes = (depth, chain) if created else (row.depth, row.chain_bytes)
        if created:
            self.rooms.stats.history_versions += 1
        log.info(
            "session %r: version %s (%s, %d files changed, %s of %d bytes%s)",
            room.name,
            row.id,
            kind,
            len(files),
            "checkpoint" if base_id is None else f"delta on {base_id}",
            len(data),
            "" if created else "; that state was recorded already: merged into it",
        )
        return row

    async def before_unload(self, room: Room) -> None:
        """Its listener's hook: keep the last edits of a room that is about to unload."""
        state = self._observe(room.name, room, time.monotonic())
        if state.dirty:
            await self.record(room, kind="auto", note="on unload")
        self._tracked.pop(room.name, None)
        self._locks.pop(room.name, None)
        self._loaded.pop(room.name, None)
        self._edits.pop(room.name, None)


def _contains(state_vector: bytes, older: bytes) -> bool:
    """Whether a document at `state_vector` has every struct of one at `older` (Yjs documents
    only grow, so the update from `older` rebuilds it on top of `older`'s document)."""
    have = decode_state_vector(state_vector)
    return all(have.get(client, 0) >= clock for client, clock in decode_state_vector(older).items())
