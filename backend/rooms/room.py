"""A room: the live Y.Doc of one session, its clients, and the one path every change takes.

Every change — from a client, or made on the server (file sync, restore) — lands in the doc;
the doc's observer then queues it for the writer and for fan-out. Fan-out is batched per event
loop turn: updates that arrive together go out merged, as one message per client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol

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

from backend.errors import ProtocolError
from backend.ops.counters import SampledHistogram
from backend.rooms.awareness import PresenceLimits, RoomAwareness, StateStamp
from backend.rooms.clientids import ClientIdRegistry
from backend.rooms.connection import ClientConnection
from backend.rooms.durability import delete_set_of, digest, has_deletions
from backend.rooms.largesync import LargeSyncs
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
from backend.rooms.replication import REMOTE, RoomLink
from backend.rooms.updatesplit import split_update
from backend.store.writer import RoomWriter

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
        self.clients: set[ClientConnection] = set()
        # Who each Yjs client id belongs to (presence slots, edit ids): see `clientids`.
        self.client_ids = ClientIdRegistry(client_id_hold_seconds)
        self.awareness = RoomAwareness(doc.client_id, stamp, limits=presence, client_ids=self.client_ids)
        self.writer: RoomWriter | None = None
        # Other nodes (multi-node only): where this node's own updates and presence are published.
        self.link: RoomLink | None = None
        self._outbound: list[bytes] = []
        self.idle_since: float | None = time.monotonic()
        self.closed = False
        # Server-side holders (a session's terminals and file sync) keep the room loaded.
        self.pins = 0
        self.updates_applied = 0
        self.remote_updates_applied = 0  # of which from other nodes (history names no one for them)
        self._can_write = can_write
        self._guard = None if guard is None else guard(doc, self.client_ids)
        self.updates_refused = 0  # updates dropped for the sender's role (a metric)
        # Metrics: plain integers, read at scrape time (backend.ops.metrics); never a call per message.
        self.messages_in = 0
        self.messages_out = 0
        self.fanout_histogram: SampledHistogram | None = None
        self._fanouts = 0
        self._fanout_t0 = 0.0
        # Clients whose updates were applied since the history last looked (backend.history).
        self.edited_by: set[ClientConnection] = set()
        self._origin: Hashable | None = None
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
        self._batch_origins: set[Hashable | None] = set()
        self._loop = asyncio.get_running_loop()
        self._announce_every = durable_announce_seconds
        self._announce_at = 0.0
        self._announce_handle: asyncio.TimerHandle | None = None
        self._durable: bytes = b""
        self._durable_deletes = ""
        self._deletes_digest: str | None = None  # of the doc's delete set now (None: recompute)
        self._subscription = doc.observe(self._on_doc_update)

    # -- clients ---------------------------------------------------------------------------

    def join(self, client: ClientConnection) -> None:
        self.clients.add(client)
        self._syncing[client] = self.doc.get_state()
        self.idle_since = None
        client.send(create_sync_message(self.doc))
        states = self.awareness.encode_all()
        if states is not None:
            client.send(create_awareness_message(states))

    def leave(self, client: ClientConnection) -> None:
        self.clients.discard(client)
        self._syncing.pop(client, None)
        self._large.forget(client)
        removal = self.awareness.remove_owner(client)
        if removal is not None:
            self.broadcast(create_awareness_message(removal))
            if self.link is not None:
                self.link.publish_awareness(removal)
        if not self.clients:
            self.idle_since = time.monotonic()

    def pin(self) -> None:
        """Keep the room loaded without clients (the server itself writes to it)."""
        self.pins += 1
        self.idle_since = None

    def unpin(self) -> None:
        self.pins -= 1
        if not self.pins and not self.clients:
            self.idle_since = time.monotonic()

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
            applied = self.updates_applied
            self.apply(update, origin=client)
            if self.updates_applied != applied:  # an echo of known updates changes nothing: no author
                self.edited_by.add(client)
        elif isinstance(message, SyncStep1):
            try:
                answer = self._large.answer(client, message.state_vector)
            except ValueError as exc:
                raise ProtocolError(f"bad state vector: {exc}") from exc
            if answer is not None:  # None: a large answer goes out in pieces (rooms/largesync.py)
                client.send(bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2]) + write_message(answer))
        elif isinstance(message, AwarenessUpdate):
            changed = self.awareness.apply(parse_awareness_update(message.update), client)
            if changed is not None:
                self.broadcast(create_awareness_message(changed))
                if self.link is not None:
                    self.link.publish_awareness(changed)
        elif isinstance(message, QueryAwareness):
            states = self.awareness.encode_all()
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
        self.messages_out += len(self.clients)
        for client in self.clients:
            if client is not exclude:
                client.send(message, frame)

    def _broadcast_update(self, message: bytes, exclude: ClientConnection | None) -> None:
        """A live document update: to every client but `exclude` and those not yet synced."""
        syncing, cutting = self._syncing, self._large.waiting
        if not syncing and not cutting:
            self.broadcast(message, exclude)
            return
        frame = encode_binary_frame(message)
        for client in self.clients:
            if client is not exclude and client not in syncing and client not in cutting:
                self.messages_out += 1
                client.send(message, frame)

    # -- document --------------------------------------------------------------------------

    def apply(self, update: bytes, origin: Hashable | None = None) -> None:
        """Apply an update from a client or another node; invalid bytes raise ProtocolError."""
        self._origin = origin
        try:
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
            self._origin = None

    def _on_doc_update(self, event: TransactionEvent) -> None:
        update = event.update
        if update == EMPTY_UPDATE:
            return
        self._large.changed()
        if self._guard is not None:
            self._guard.applied(update)
        if has_deletions(update):
            self._deletes_digest = None
        self.updates_applied += 1
        if self._origin is REMOTE:  # another node's: it persists and published it
            self.remote_updates_applied += 1
            if self.writer is not None:
                self.writer.note_remote()
        else:
            if self.writer is not None:
                self.writer.enqueue(update)
            if self.link is not None:
                self._outbound.append(update)
        if not self._batch:
            self._loop.call_soon(self._flush_batch)
            self._fanouts += 1
            histogram = self.fanout_histogram
            if histogram is not None and self._fanouts % histogram.sample_every == 0:
                self._fanout_t0 = time.perf_counter()  # sampled: time this batch to its fan-out
        self._batch.append(update)
        self._batch_origins.add(self._origin)

    def _flush_batch(self) -> None:
        batch, origins = self._batch, self._batch_origins
        self._batch, self._batch_origins = [], set()
        if self._outbound and self.link is not None:
            outbound, self._outbound = self._outbound, []
            self.link.publish_updates(outbound)
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
        """Called by the writer: tell clients (throttled) what is persisted, via awareness."""
        self._durable, self._durable_deletes = point
        now = self._loop.time()
        if self._announce_handle is not None:
            return
        delay = max(0.0, self._announce_at + self._announce_every - now)
        if delay == 0.0:
            self._announce()
        else:
            self._announce_handle = self._loop.call_later(delay, self._announce)

    def _announce(self) -> None:
        self._announce_handle = None
        self._announce_at = self._loop.time()
        if self.closed:
            return
        state: dict[str, Any] = {
            "tandem": {
                "durable": base64.b64encode(self._durable).decode(),
                "deletes": self._durable_deletes,
                "node": self.node_id,
            }
        }
        update = self.awareness.set_server_state(state)
        self.broadcast(create_awareness_message(update))

    # -- lifecycle -------------------------------------------------------------------------

    async def close(self) -> None:
        """Flush everything to the store; the room is unusable afterwards."""
        self.closed = True
        if self._announce_handle is not None:
            self._announce_handle.cancel()
        self._large.close()
        self._flush_batch()
        if self.writer is not None:
            await self.writer.close()
        self.doc.unobserve(self._subscription)


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
