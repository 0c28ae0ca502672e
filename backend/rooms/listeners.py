"""The room's listener seam: what hears a room's changes, in the order it was added.

In the spirit of Hocuspocus's server hooks (`onChange`, `onAwarenessUpdate`, `beforeUnloadDocument`,
`afterUnloadDocument`): replication, history, the durable announcement and the node's metrics are
listeners; the store writer stays built into the room. A listener is made for one room (it keeps
what it needs of it) and overrides the hooks it uses; the others do nothing.
"""

from __future__ import annotations

from typing import Any

from backend.rooms.origin import Origin


class RoomListener:
    def on_update(self, update: bytes, origin: Origin) -> None:
        """The doc integrated `update` (non-empty), made by `origin`; called inside the pycrdt
        observer, so it must not write to the doc."""

    def on_awareness(self, update: bytes, origin: Origin) -> None:
        """Presence changed (`update` went out to this node's clients), by `origin`."""

    def on_durable(self, point: Any) -> None:
        """The writer persisted the doc up to `point` (state vector, delete-set digest)."""

    async def before_unload(self) -> None:
        """The room is about to flush and unload (clients are gone or being closed)."""

    def on_unloaded(self) -> None:
        """The room flushed everything it had to the store; it is unusable now."""
