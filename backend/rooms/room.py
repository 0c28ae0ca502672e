"""A room: the live Y.Doc of one session, its clients, and the one path every change takes.

Every change — from a client, another node, or made on the server (file sync, restore) — lands
in the doc with its `Origin` (backend.rooms.origin) as the pycrdt transaction origin; the doc's
observer then queues it for the writer and for fan-out, and tells the room's listeners
(backend.rooms.listeners: replication, history, the durable announcement, metrics), in order.
Fan-out is batched per event loop turn: updates that arrive together go out merged, as one
message per client.

Outside `backend.rooms`, a room is used through its methods and the public attributes named in
tests/test_room_api.py; its other state is private.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import (
    Doc,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    merge_updates,
    write_message,
)

from backend._compat.pycrdt import transaction_origin
from backend.errors import ProtocolError
from backend.ops.counters import SampledHistogram
from backend.rooms.announce import DurableAnnouncer
from backend.rooms.awareness import PresenceLimits, RoomAwareness, StateStamp, encode_awareness
from backend.rooms.clientids import ClientIdRegistry
from backend.rooms.connection import ClientConnection
from backend.rooms.durability import delete_set_of, digest, has_deletions
from backend.rooms.largesync import LargeSyncs
from backend.rooms.listeners import RoomListener
from backend.rooms.origin import PRESENCE, SERVER, Origin, Peer, as_origin
from backend.rooms.protocol import (
    EMPTY_UPDATE,
    AwarenessUpdate,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncUpdate,
    parse_awareness_update,
    parse_message,
)
from backend.rooms.rawframe import encode_binary_frame
from backend.rooms.updatesplit import split_update
from backend.store.writer import RoomWriter

if TYPE_CHECKING:
    from backend.rooms.replication import RoomLink

log = logging.getLogger("tandem.room")

# Updates applied in one loop turn go out merged, in messages of at most this size (a client
# that echoes what it receives, as pycrdt's provider does, must stay under the frame limit).
MERGE_MAX_BYTES = 256 * 1024

# Decides whether a client's document updates are applied (viewers' are not).
CanWrite = Callable[[ClientConnection], bool]


class UpdateGuard(Protocol):
    """Per room, when set: decides every client update, and hears of every update the doc integrates."""

    def admit(self, client: ClientConnection, update: bytes) -> bytes | None:
        """The update to apply, or None to drop it."""
        ...

    def applied(self, update: bytes) -> None: ...


GuardFactory = Callable[[Doc, ClientIdRegistry], UpdateGuard]


def _always(_client: ClientConnection) -> bool:
    return True


class Room:
    def __init__(
        self,
        name: str,
        doc: Doc,
        *,
        node_id: str,
        durable_announce_seconds: float,
        can_write: CanWrite = _always,
        stamp: StateStamp | None = None,
        guard: GuardFactory | None = None,
        presence: PresenceLimits | None = None,
        client_id_hold_seconds: float = 600.0,
        sync_message_max_bytes: int = 1024 * 1024,
    ) -> None:
        self.name = name
        self.doc = doc
        self.node_id = node_id
        self._clients: set[ClientConnection] = set()
        # Who each Yjs client id belongs to (presence slots, edit ids): see `clientids`.
        self._client_ids = ClientIdRegistry(client_id_hold_seconds)
        self._awareness = RoomAwareness(doc.client_id, stamp, limits=presence, client_ids=self._client_ids)
        # The store writer (built in: every update not another node's is queued to it).
        self.writer: RoomWriter | None = None
        # The replication listener when there are other nodes (the manager adds it; tests read it).
        self.link: RoomLink | None = None
        self._listeners: list[RoomListener] = []
        self._idle_since: float | None = time.monotonic()
        self._closed = False
        # Server-side holders (a session's terminals and file sync) keep the room loaded.
        self._pins = 0
        self._can_write = can_write
        self._guard = None if guard is None else guard(doc, self._client_ids)
        # Metrics: plain integers, read at scrape time (backend.ops.metrics); never a call per message.
        self.messages_in = 0
        self.messages_out = 0
        self.updates_refused = 0  # updates dropped for the sender's role
        self.fanout_histogram: SampledHistogram | None = None
        self._fanouts = 0
        self._fanout_t0 = 0.0
        # The origin of the update `apply` is integrating (None: a server writer's own transaction;
        # pycrdt's doc observer is not given the transaction's origin).
        self._applying: Origin | None = None
        # Clients that joined and have not asked for the document yet (their first SyncStep1),
        # with the state vector the room had when they joined. Live updates skip them: sent
        # before the step 2 that carries the history, they would reach the client ahead of
        # that writer's earlier updates (Yjs holds them as pending structs, and the bytes are
        # sent twice). See `_open_gate`.
        self._syncing: dict[ClientConnection, bytes] = {}
        # Larger syncs and updates go out in pieces of about this size (see `updatesplit`);
        # clients waiting for a large sync's pieces get no live updates meanwhile (`largesync`).
        self.sync_message_max_bytes = sync_message_max_bytes
        self._large = LargeSyncs(doc, sync_message_max_bytes)
        self._batch: list[bytes] = []
        self._batch_origins: set[Origin] = set()
        self._loop = asyncio.get_running_loop()
        self._deletes_digest: str | None = None  # of the doc's delete set now (None: recompute)
        self._announcer = DurableAnnouncer(node_id, durable_announce_seconds, self._set_server_presence)
        self.listen(self._announcer)
        self._subscription = doc.observe(self._on_doc_update)

    # -- listeners and reading -------------------------------------------------------------

    def listen(self, listener: RoomListener) -> None:
        """Add a listener: it hears the room's hooks after those added before it."""
        self._listeners.append(listener)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def clients(self) -> frozenset[ClientConnection]:
        """The connected clients now (a copy: join and leave change the room's own set)."""
        return frozenset(self._clients)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def presence_states(self) -> dict[int, dict[str, Any]]:
        """Every live awareness state, by Yjs client id."""
        return self._awareness.states()

    def local_presence(self) -> bytes:
        """The awareness of this node's own clients (empty too: it tells a peer who left)."""
        return self._awareness.encode_local() or encode_awareness([])

    # -- clients ---------------------------------------------------------------------------

    def join(self, client: ClientConnection) -> None:
        self._clients.add(client)
        self._syncing[client] = self.doc.get_state()
        self._idle_since = None
        client.send(create_sync_message(self.doc))
        states = self._awareness.encode_all()
        if states is not None:
            client.send(create_awareness_message(states))

    def leave(self, client: ClientConnection) -> None:
        self._clients.discard(client)
        self._syncing.pop(client, None)
        self._large.forget(client)
        removal = self._awareness.remove_owner(client)
        if removal is not None:
            self._presence_changed(removal, client)
        if not self._clients:
            self._idle_since = time.monotonic()

    def close_clients(self, code: int, reason: str) -> None:
        """Close every client's connection (each leaves the room as its socket ends)."""
        for client in list(self._clients):
            client.close(code, reason)

    def restamp(self, client: ClientConnection) -> None:
        """The client's identity changed (a new role): stamp its presence again and relay it."""
        restamped = self._awareness.restamp_owner(client)
        if restamped is not None:
            self._presence_changed(restamped, client)

    def pin(self) -> None:
        """Keep the room loaded without clients (the server itself writes to it)."""
        self._pins += 1
        self._idle_since = None

    def unpin(self) -> None:
        self._pins -= 1
        if not self._pins and not self._clients:
            self._idle_since = time.monotonic()

    @contextlib.contextmanager
    def hold(self) -> Iterator[Room]:
        """Pinned for the block: the room stays loaded while the server reads or writes it."""
        self.pin()
        try:
            yield self
        finally:
            self.unpin()

    def keep_loaded(self) -> None:
        """A joiner is on its way: not idle (the reaper leaves the room alone)."""
        self._idle_since = None

    def idle_for(self, now: float) -> float | None:
        """How long the room has had no clients and no pins, or None while it has any."""
        if self._clients or self._pins or self._idle_since is None:
            return None
        return now - self._idle_since

    def handle(self, client: ClientConnection, frame: bytes) -> None:
        """Apply one frame from a client; raises `ProtocolError` for a malformed one."""
        self.messages_in += 1
        message = parse_message(frame)
        if self._syncing and client in self._syncing:
            self._open_gate(client, message)
        if isinstance(message, SyncUpdate):
            if message.update == EMPTY_UPDATE:
                return
            update = message.update
            if self._guard is not None:
                allowed = self._guard.admit(client, update)
                if allowed is None:
                    self.updates_refused += 1
                    return
                update = allowed
            elif not self._can_write(client):
                self.updates_refused += 1
                return
            self.apply(update, origin=client)
        elif isinstance(message, SyncStep1):
            try:
                answer = self._large.answer(client, message.state_vector)
            except ValueError as exc:
                raise ProtocolError(f"bad state vector: {exc}") from exc
            if answer is not None:  # None: a large answer goes out in pieces (rooms/largesync.py)
                client.send(bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2]) + write_message(answer))
        elif isinstance(message, AwarenessUpdate):
            changed = self._awareness.apply(parse_awareness_update(message.update), client)
            if changed is not None:
                self._presence_changed(changed, client)
        elif isinstance(message, QueryAwareness):
            states = self._awareness.encode_all()
            if states is not None:
                client.send(create_awareness_message(states))

    def _open_gate(self, client: ClientConnection, message: Message) -> None:
        """The client's first message: from now on it gets live updates.

        A SyncStep1 is answered with everything the room has, so nothing was missed. A client that
        speaks first with anything else gets what changed since it joined, before any live update.
        """
        joined_at = self._syncing.pop(client)
        if isinstance(message, SyncStep1):
            return
        missed = self.doc.get_update(joined_at)
        if missed != EMPTY_UPDATE:
            for piece in split_update(missed, self.sync_message_max_bytes):
                client.send(create_update_message(piece))

    def broadcast(self, message: bytes, exclude: ClientConnection | None = None) -> None:
        frame = encode_binary_frame(message)  # framed once for every client
        self.messages_out += len(self._clients)
        for client in self._clients:
            if client is not exclude:
                client.send(message, frame)

    def _broadcast_update(self, message: bytes, exclude: ClientConnection | None) -> None:
        """A live document update: to every client but `exclude` and those not yet synced."""
        syncing, cutting = self._syncing, self._large.waiting
        if not syncing and not cutting:
            self.broadcast(message, exclude)
            return
        frame = encode_binary_frame(message)
        for client in self._clients:
            if client is not exclude and client not in syncing and client not in cutting:
                self.messages_out += 1
                client.send(message, frame)

    # -- presence --------------------------------------------------------------------------

    def _presence_changed(self, update: bytes, origin: Origin) -> None:
        """Presence changed: to this node's clients, then to the listeners (replication relays
        a change of this node's clients to the other nodes)."""
        self.broadcast(create_awareness_message(update))
        for listener in self._listeners:
            listener.on_awareness(update, origin)

    def apply_peer_presence(self, update: bytes, node: str, *, full: bool = False) -> None:
        """Awareness entries relayed by another node (validated and stamped there). `full`: all of
        that node's entries, so those of it missing are gone. Raises `ProtocolError` if malformed."""
        peer = Peer(node)
        entries = parse_awareness_update(update)
        changed = self._awareness.apply_remote(entries, peer)
        if changed is not None:
            self._presence_changed(changed, peer)
        if full:
            keep = {e.client_id for e in entries if e.state_json != "null"}
            removal = self._awareness.remove_remote_except(peer, keep)
            if removal is not None:
                self._presence_changed(removal, peer)

    def drop_peer(self, node: str) -> None:
        """That node is gone: drop its clients' presence; snapshot what it may not have persisted."""
        peer = Peer(node)
        removal = self._awareness.remove_owner(peer)
        if removal is not None:
            self._presence_changed(removal, peer)
        if self.writer is not None:
            self.writer.request_snapshot()

    def _set_server_presence(self, state: dict[str, Any]) -> None:
        if self._closed:
            return
        self._presence_changed(self._awareness.set_server_state(state), PRESENCE)

    # -- document --------------------------------------------------------------------------

    def apply(self, update: bytes, origin: Origin = SERVER) -> None:
        """Apply an update from a client, another node or the server; invalid bytes raise ProtocolError."""
        self._applying = origin
        try:
            with self.doc.transaction(origin=origin):
                self.doc.apply_update(update)
        except ValueError as exc:
            raise ProtocolError(f"update failed to apply: {exc}") from exc
        except BaseException as exc:
            # Yrs panics on some malformed updates (e.g. `BlockSet::exclude` unwrapping None);
            # pyo3 raises that as PanicException, a BaseException. The panic happens before
            # integration and the doc stays usable (tests/test_bad_input.py fuzzes this).
            if type(exc).__name__ != "PanicException":
                raise
            log.error("room %r: update panicked in yrs: %s", self.name, exc)
            raise ProtocolError("update failed to apply (decoder panic)") from exc
        finally:
            self._applying = None

    def apply_remote(self, update: bytes, node: str) -> None:
        """Apply another node's update: that node stored and published it, so this one does neither."""
        self.apply(update, Peer(node))

    def _on_doc_update(self, event: TransactionEvent) -> None:
        update = event.update
        if update == EMPTY_UPDATE:
            return
        origin = self._applying if self._applying is not None else _writer_origin(self.doc)
        self._large.changed()
        if self._guard is not None:
            self._guard.applied(update)
        if has_deletions(update):
            self._deletes_digest = None
        if self.writer is not None:
            if isinstance(origin, Peer):  # another node's: it persists it
                self.writer.note_remote()
            else:
                self.writer.enqueue(update)
        for listener in self._listeners:
            listener.on_update(update, origin)
        if not self._batch:
            self._loop.call_soon(self._flush_batch)
            self._fanouts += 1
            histogram = self.fanout_histogram
            if histogram is not None and self._fanouts % histogram.sample_every == 0:
                self._fanout_t0 = time.perf_counter()  # sampled: time this batch to its fan-out
        self._batch.append(update)
        self._batch_origins.add(origin)

    def _flush_batch(self) -> None:
        batch, origins = self._batch, self._batch_origins
        self._batch, self._batch_origins = [], set()
        if not batch:
            return
        # A client already has its own update: skip it when the batch is only its own.
        only = next(iter(origins)) if len(origins) == 1 else None
        exclude = only if isinstance(only, ClientConnection) else None
        for group in _groups_up_to(batch, MERGE_MAX_BYTES):
            update = group[0] if len(group) == 1 else merge_updates(*group)
            if len(update) > self.sync_message_max_bytes:  # one big transaction (a bulk file sync)
                for piece in split_update(update, self.sync_message_max_bytes):
                    self._broadcast_update(create_update_message(piece), exclude)
                continue
            self._broadcast_update(create_update_message(update), exclude)
        if self._fanout_t0 and self.fanout_histogram is not None:
            self.fanout_histogram.observe(time.perf_counter() - self._fanout_t0)
            self._fanout_t0 = 0.0

    # -- durability ------------------------------------------------------------------------

    def durable_point(self) -> tuple[bytes, str]:
        """The doc's state vector and delete-set digest now (the writer takes it with each batch)."""
        if self._deletes_digest is None:
            self._deletes_digest = digest(delete_set_of(self.doc.get_update(self.doc.get_state())))
        return self.doc.get_state(), self._deletes_digest

    def on_durable(self, point: tuple[bytes, str]) -> None:
        """Called by the writer: the listeners hear what is persisted (the announcement tells clients)."""
        for listener in self._listeners:
            listener.on_durable(point)

    # -- lifecycle -------------------------------------------------------------------------

    async def before_unload(self) -> None:
        """The manager unloads the room: each listener's last word, in order (a failure is logged)."""
        for listener in list(self._listeners):
            try:
                await listener.before_unload()
            except Exception:
                log.exception("room %r: a listener failed before unload", self.name)

    async def close(self) -> None:
        """Flush everything to the store; the room is unusable afterwards."""
        self._closed = True
        self._announcer.close()
        self._large.close()
        self._flush_batch()
        if self.writer is not None:
            await self.writer.close()
        listeners, self._listeners = self._listeners, []  # they hold the room: no cycle is left
        for listener in listeners:
            listener.on_unloaded()
        self.doc.unobserve(self._subscription)


def _writer_origin(doc: Doc) -> Origin:
    """The origin of a server writer's own transaction (file sync, terminals mirror, restore)."""
    return as_origin(transaction_origin(doc))


def _groups_up_to(updates: list[bytes], max_bytes: int) -> list[list[bytes]]:
    groups: list[list[bytes]] = [[]]
    size = 0
    for update in updates:
        if groups[-1] and size + len(update) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(update)
        size += len(update)
    return groups
