"""A room's link to the other nodes: its updates and presence over the bus, and the repair path.

Channel `room:{name}`, message kinds:
  "u"   an update applied here first (client or server side); merged per loop turn
  "s1"  a state vector: "send me what I lack" (answered with "s2")
  "s1r" the same, and "send me your state vector too" (a node that joined or reconnected)
  "s2"  the answer to a state vector: the diff
  "a"   awareness entries of this node's clients (validated and stamped here)
  "af"  all of them (on join and repair): entries of that node missing from it are gone

Only the node that first applied an update persists it; other nodes apply it with a `Peer`
origin, which the room neither stores nor publishes again. What a dead node may not have
persisted yet is covered by the survivors: each snapshots the room when a peer is lost (the
store merges snapshots under a per-room lock, so concurrent compactions never drop anything).

The link is a room listener (backend.rooms.listeners): it hears the room's updates and presence
changes and publishes those made here; it reaches the room only through `LinkedRoom`'s methods.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pycrdt import Doc, merge_updates

from backend.bus.types import Bus, BusMessage, Subscription
from backend.errors import ProtocolError
from backend.rooms.connection import ClientConnection
from backend.rooms.listeners import RoomListener
from backend.rooms.origin import Origin, Peer
from backend.rooms.protocol import EMPTY_UPDATE

log = logging.getLogger("tandem.replication")


class LinkedRoom(Protocol):
    """What the link uses of a room (backend.rooms.room.Room)."""

    @property
    def name(self) -> str: ...
    @property
    def doc(self) -> Doc: ...
    @property
    def closed(self) -> bool: ...
    def apply_remote(self, update: bytes, node: str) -> None: ...
    def apply_peer_presence(self, update: bytes, node: str, *, full: bool = False) -> None: ...
    def local_presence(self) -> bytes: ...
    def drop_peer(self, node: str) -> None: ...


def channel_of(room: str) -> str:
    return f"room:{room}"


class RoomLink(RoomListener):
    def __init__(self, room: LinkedRoom, bus: Bus) -> None:
        self.room = room
        self.bus = bus
        self.channel = channel_of(room.name)
        self._sub: Subscription | None = None
        self._outbound: list[bytes] = []  # this node's updates of this loop turn, published merged
        self._loop = asyncio.get_running_loop()
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

    # -- the room's hooks ----------------------------------------------------------------------

    def on_update(self, update: bytes, origin: Origin) -> None:
        if isinstance(origin, Peer):  # another node's: it published it
            return
        if not self._outbound:
            self._loop.call_soon(self._flush)
        self._outbound.append(update)

    def on_awareness(self, update: bytes, origin: Origin) -> None:
        if isinstance(origin, ClientConnection):  # other nodes relay this node's clients' presence
            self.publish_awareness(update)

    def on_unloaded(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._outbound:
            outbound, self._outbound = self._outbound, []
            self.publish_updates(outbound)

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
        self.bus.publish(self.channel, "af", self.room.local_presence())

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
                room.apply_remote(message.data, message.sender)
            elif kind == "a" or kind == "af":
                room.apply_peer_presence(message.data, message.sender, full=kind == "af")
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
        self.room.drop_peer(node)
