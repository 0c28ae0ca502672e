"""A room's write-behind writer: group commit into the update log, then compaction.

Every update a room applies is queued here synchronously (no await between applying and
queueing), and persisted within `group_commit_ms` plus one database round trip. `flush()` and
`close()` are awaited by whoever tears the room down, so nothing is lost on unload or shutdown
(pycrdt-websocket fires its store writes and forgets them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio

from backend.store.types import DocumentStore

log = logging.getLogger("tandem.store")


class RoomWriter:
    def __init__(
        self,
        room: str,
        store: DocumentStore,
        *,
        # What is durable once a batch is persisted (the room's state vector and delete-set
        # digest): taken with the batch, handed to `on_durable` after; opaque to the writer.
        state_vector: Callable[[], object],
        snapshot: Callable[[], bytes],
        on_durable: Callable[[Any], None],
        last_seq: int,
        group_commit_seconds: float,
        compact_every: int,
        max_pending: int,
        retry_max_seconds: float,
        # Starts `run()` as a task (the room manager's task group). Given, the writer runs only
        # while it has work: an idle room holds no task (README: Benchmarks, per-client memory).
        spawn: Callable[[], None] | None = None,
    ) -> None:
        self.room = room
        self._store = store
        self._state_vector = state_vector
        self._snapshot = snapshot
        self._on_durable = on_durable
        self._last_seq = last_seq
        self._delay = group_commit_seconds
        self._compact_every = compact_every
        self._max_pending = max_pending
        self._retry_max = retry_max_seconds
        self._pending: list[bytes] = []
        # Set when the pending list overflowed while the database was away: the doc holds
        # everything, so a snapshot replaces the dropped log entries once it is back.
        self._snapshot_needed = False
        self._since_compaction = 0
        # Updates applied here that another node sent (multi-node): not ours to log, but a
        # snapshot on close covers them in case their origin died before persisting them.
        self._remote_since_compaction = 0
        self._has_pending = anyio.Event()
        self._lock = anyio.Lock()
        self.bytes_persisted = 0
        self.failures = 0
        self.compactions = 0
        # When the oldest update not yet persisted was queued (the write-behind lag, a metric).
        self.pending_since: float | None = None
        self._spawn = spawn
        self._running = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def enqueue(self, update: bytes) -> None:
        if not self._pending:
            self.pending_since = time.monotonic()
        self._pending.append(update)
        if len(self._pending) > self._max_pending:
            log.error(
                "room %r: %d updates pending, the store is behind; will snapshot instead",
                self.room,
                len(self._pending),
            )
            self._pending.clear()
            self._snapshot_needed = True
        self._has_pending.set()
        self._wake()

    def _wake(self) -> None:
        if self._spawn is not None and not self._running:
            self._running = True
            self._spawn()

    def stopped(self) -> None:
        """The spawned task could not start (shutdown): the next `enqueue` may try again."""
        self._running = False

    def note_remote(self) -> None:
        self._remote_since_compaction += 1

    def request_snapshot(self) -> None:
        """Persist the whole doc as a snapshot soon (a peer node died: it may have held updates)."""
        self._snapshot_needed = True
        self._has_pending.set()
        self._wake()

    async def run(self) -> None:
        """Persist in the background until cancelled; `close()` does the final flush. With
        `spawn`, return once everything is persisted (the next `enqueue` spawns it again)."""
        try:
            await self._run()
        finally:
            self._running = False

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if self._spawn is not None and not self._pending and not self._snapshot_needed:
                self._running = False  # no await from here to the return: an enqueue respawns
                return
            await self._has_pending.wait()
            await anyio.sleep(self._delay)  # the group-commit window: gather what else arrives
            try:
                await self.flush()
                backoff = 0.05
            except Exception:
                self.failures += 1
                log.exception("room %r: persisting failed, retrying in %.2fs", self.room, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self._retry_max)
                continue
            if self._since_compaction >= self._compact_every:
                try:
                    await self.compact()
                except Exception:
                    log.exception("room %r: compaction failed", self.room)

    async def flush(self) -> None:
        """Persist every update queued so far; raises if the store fails (the batch is kept)."""
        async with self._lock:
            if self._snapshot_needed:
                await self._compact_locked()
                self._snapshot_needed = False
            if not self._pending:
                self._has_pending = anyio.Event()
                return
            batch = self._pending
            since = self.pending_since
            self._pending = []
            self._has_pending = anyio.Event()
            # Taken now, in the loop thread: it covers exactly the updates in `batch`.
            durable = self._state_vector()
            try:
                seq = await anyio.to_thread.run_sync(self._store.append, self.room, batch)
            except BaseException:
                self._pending[:0] = batch
                self.pending_since = since
                self._has_pending.set()
                raise
            if not self._pending:
                self.pending_since = None
            self._last_seq = max(self._last_seq, seq)
            self._since_compaction += len(batch)
            self.bytes_persisted += sum(len(u) for u in batch)
        self._on_durable(durable)

    async def compact(self) -> None:
        async with self._lock:
            await self._compact_locked()

    async def _compact_locked(self) -> None:
        durable = self._state_vector()
        snapshot = self._snapshot()
        await anyio.to_thread.run_sync(self._store.compact, self.room, snapshot, self._last_seq)
        self._since_compaction = 0
        self._remote_since_compaction = 0
        self.compactions += 1
        self._on_durable(durable)

    async def close(self) -> None:
        """Flush and compact: called when the room unloads or the server stops."""
        await self.flush()
        if self._since_compaction or self._remote_since_compaction:
            await self.compact()
