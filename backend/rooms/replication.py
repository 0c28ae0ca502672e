"""A room's link to the other nodes: its updates and presence over the bus, and the repair path.

Channel `room:{name}`, message kinds:
  "u"   an update applied here first (client or server side); merged per loop turn
  "s1"  a state vector: "send me what I lack" (answered with "s2")
  "s1r" the same, and "send me your state vector too" (a node that joined or reconnected)
  "s2"  the answer to a state vector: the diff
  "a"   awareness entries of this node's clients (validated and stamped here)
  "af"  all of them (on join and repair): entries of that node missing from it are gone

Only the node that first applied an update persists it; other nodes apply it with the `REMOTE`
origin, which the room neither stores nor publishes again. What a dead node may not have
persisted yet is covered by the survivors: each snapshots the room when a peer is lost (the
store merges snapshots under a per-room lock, so concurrent compactions never drop anything).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pycrdt import create_awareness_message, merge_updates

from backend.bus.types import Bus, BusMessage, Subscription
from backend.errors import ProtocolError
from backend.rooms.awareness import encode_awareness
from backend.rooms.protocol import EMPTY_UPDATE, parse_awareness_update

if TYPE_CHECKING:
    from backend.rooms.room import Room

log = logging.getLogger("tandem.replication")


class _Remote:
    """The origin of updates that came from another node."""

    def __repr__(self) -> str:
        return "REMOTE"


REMOTE = _Remote()


def channel_of(room: str) -> str:
    return f"room:{room}"


class RoomLink:
    def __init__(self, room: Room, bus: Bus) -> None:
        self.room = room
        self.bus = bus
        self.channel = channel_of(room.name)
        self._sub: Subscription | None = None
        self.remote_updates = 0
        self.bad_messages = 0  # undecodable messages from other nodes (a metric)

    async def start(self) -> None:
        """Catch up on the channel's retained history, go live, then ask the others what we lack."""
        self._sub = await self.bus.subscribe(self.channel, self._on_message, replay=True)
        self.request_sync()

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    # -- outgoing ----------------------------------------------------------------------------

    def publish_updates(self, updates: list[bytes]) -> None:
        self.bus.publish(self.channel, "u", updates[0] if len(updates) == 1 else merge_updates(*updates))

    def publish_awareness(self, update: bytes) -> None:
        self.bus.publish(self.channel, "a", update)

    def request_sync(self) -> None:
        """Join or repair: our state vector (the others answer with what we lack and theirs), and
        our clients' presence (the others may have missed it)."""
        self.bus.publish(self.channel, "s1r", self.room.doc.get_state())
        self._publish_local_awareness()

    def _publish_local_awareness(self) -> None:
        # Published even when empty: it also tells the others which of our clients left.
        self.bus.publish(self.channel, "af", self.room.awareness.encode_local() or encode_awareness([]))

    # -- incoming ----------------------------------------------------------------------------

    def _on_message(self, message: BusMessage) -> None:
        if message.sender == self.bus.node_id:
            return  # our own echo
        room = self.room
        if room.closed:
            return
        kind = message.kind
        try:
            if kind == "u" or kind == "s2":
                self.remote_updates += 1
                room.apply(message.data, origin=REMOTE)
            elif kind == "a" or kind == "af":
                owner = ("node", message.sender)
                entries = parse_awareness_update(message.data)
                changed = room.awareness.apply_remote(entries, owner)
                if changed is not None:
                    room.broadcast(create_awareness_message(changed))
                if kind == "af":
                    keep = {e.client_id for e in entries if e.state_json != "null"}
                    removal = room.awareness.remove_remote_except(owner, keep)
                    if removal is not None:
                        room.broadcast(create_awareness_message(removal))
            elif kind == "s1" or kind == "s1r":
                diff = room.doc.get_update(message.data)
                if diff != EMPTY_UPDATE:
                    self.bus.publish(self.channel, "s2", diff)
                if kind == "s1r":
                    self.bus.publish(self.channel, "s1", room.doc.get_state())
                    self._publish_local_awareness()
            else:
                log.debug("room %r: unknown bus message kind %r", room.name, kind)
        except (ProtocolError, ValueError) as exc:
            self.bad_messages += 1
            log.error("room %r: bad %r message from node %s: %s", room.name, kind, message.sender, exc)

    def peer_lost(self, node: str) -> None:
        """That node is gone: drop its clients' presence; persist what it may not have persisted."""
        removal = self.room.awareness.remove_owner(("node", node))
        if removal is not None:
            self.room.broadcast(create_awareness_message(removal))
        if self.room.writer is not None:
            self.room.writer.request_snapshot()
