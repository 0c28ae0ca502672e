"""Answers to a SyncStep1 too large for one message: updates of bounded size, then a SyncStep2.

A 1,500-file project is a doc of tens of megabytes, over the server's frame limit as one message
(#18 finding 5). Such an answer is cut by `updatesplit` in a worker thread and goes out as
SYNC_UPDATE messages of about `max_bytes`, the last piece as the SYNC_STEP2 (a plain y-websocket
client applies the updates as they come and reports `synced` at the step 2). Live updates skip a
client while its answer is being cut, and what changed meanwhile follows the pieces.

The cut is shared: joiners asking with the same state vector (every fresh client asks with an
empty one) while the doc has not changed get the same pieces, so a join storm costs one encode
and one cut, not one per joiner. It is dropped `KEEP_SECONDS` after it was last used, at the
doc's next change, or with the room (it is as large as the doc).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pycrdt import Doc, YMessageType, YSyncMessageType, create_update_message, write_message

from backend import closecodes
from backend.rooms.connection import ClientConnection
from backend.rooms.protocol import EMPTY_UPDATE
from backend.rooms.updatesplit import split_update

log = logging.getLogger("tandem.room")

KEEP_SECONDS = 10.0


@dataclass(slots=True)
class _Cut:
    state_vector: bytes  # what the joiners asked with
    encoded_at: bytes  # the doc's state vector when the update was encoded
    pieces: asyncio.Future[list[bytes]]


class LargeSyncs:
    def __init__(self, doc: Doc, max_bytes: int) -> None:
        self.doc = doc
        self.max_bytes = max_bytes
        # Clients waiting for their pieces (live updates skip them), with the task that sends them.
        self.waiting: dict[ClientConnection, asyncio.Task[None]] = {}
        self._cut: _Cut | None = None  # the latest cut, while the doc has not changed since
        self._drop: asyncio.TimerHandle | None = None

    def answer(self, client: ClientConnection, state_vector: bytes) -> bytes | None:
        """The update to send as one SyncStep2, or None: the answer goes out in pieces.

        Raises ValueError for a malformed state vector (from pycrdt)."""
        if client in self.waiting:  # a second SyncStep1 meanwhile: the pieces answer it too
            return None
        cut = self._cut
        if cut is None or cut.state_vector != state_vector:
            update = self.doc.get_update(state_vector)
            if len(update) <= self.max_bytes:
                return update
            pieces = asyncio.ensure_future(asyncio.to_thread(split_update, update, self.max_bytes))
            cut = self._cut = _Cut(state_vector, self.doc.get_state(), pieces)
        self.waiting[client] = asyncio.get_running_loop().create_task(self._send(client, cut))
        return None

    def changed(self) -> None:
        """The doc changed: later joiners need a new cut (a deletion moves no state vector)."""
        self._cut = None

    def _drop_later(self, cut: _Cut) -> None:
        if self._drop is not None:
            self._drop.cancel()
        self._drop = asyncio.get_running_loop().call_later(KEEP_SECONDS, self._drop_if, cut)

    def _drop_if(self, cut: _Cut) -> None:
        self._drop = None
        if self._cut is cut:  # joiners still waiting hold it themselves
            self._cut = None

    def forget(self, client: ClientConnection) -> None:
        task = self.waiting.pop(client, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        for task in self.waiting.values():
            task.cancel()
        self.waiting.clear()
        self._cut = None
        if self._drop is not None:
            self._drop.cancel()

    async def _send(self, client: ClientConnection, cut: _Cut) -> None:
        try:
            pieces = await asyncio.shield(cut.pieces)  # shared: one leaving joiner cancels only itself
        except Exception:  # our own encoding did not parse: a bug, never a silent stall
            log.exception("room %r: a large sync could not be cut", client.room)
            self.waiting.pop(client, None)
            client.close(closecodes.INTERNAL_ERROR, "sync failed")
            return
        if self.waiting.pop(client, None) is None:
            return
        self._drop_later(cut)
        for piece in pieces[:-1]:
            client.send(create_update_message(piece))
        client.send(bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2]) + write_message(pieces[-1]))
        missed = self.doc.get_update(cut.encoded_at)
        if missed != EMPTY_UPDATE:
            for piece in split_update(missed, self.max_bytes):
                client.send(create_update_message(piece))
