"""The bus vocabulary: channels of small typed messages, delivered to every node that subscribes.

A message carries the id of the node that published it (`sender`): subscribers drop their own
echoes by comparing it with `Bus.node_id`. A subscription may start with `replay=True`: the
channel's retained history is delivered first, then live messages, with no gap and no
duplicate between the two (a node that loads a room catches up this way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BusMessage:
    channel: str
    kind: str  # a short tag the channel's users define (rooms: "u", "s1", "s1r", "a")
    data: bytes
    sender: str  # the publishing node's `Bus.node_id`


# Called in the event loop for every message, in publish order per channel; must not block.
Handler = Callable[[BusMessage], None]
# Called after the bus reconnected (messages may have been lost: repair), or with the id of a
# node that left or stopped answering (forget what it owned).
ReconnectListener = Callable[[], Awaitable[None]]
PeerLostListener = Callable[[str], Awaitable[None]]


class Subscription(Protocol):
    channel: str

    def close(self) -> None:
        """Stop delivery; idempotent."""
        ...


class Bus(Protocol):
    node_id: str
    # False when no other node can exist (the embedded default): rooms skip replication.
    shared: bool

    def publish(self, channel: str, kind: str, data: bytes) -> None:
        """Queue a message for every subscriber of `channel` on every node (bounded; never blocks).

        A message that cannot be sent (queue full, connection down) is dropped and counted; the
        reconnect listeners then run so that users repair (rooms exchange state vectors)."""
        ...

    async def subscribe(
        self, channel: str, handler: Handler, *, replay: bool = False, ephemeral: bool = False
    ) -> Subscription:
        """Deliver the channel's messages to `handler`; with `replay`, its retained history first.

        `ephemeral`: the channel lives only as long as this node (a node's inbox): its retained
        messages are dropped some time after the node stops."""
        ...

    async def hold(self, channel: str, persisted: Callable[[], bool] = ...) -> None:
        """This node is about to load the state the channel carries (call it before reading the
        store): the channel's retained history stays while any node holds it. `persisted()` says
        whether everything this node applied so far is persisted: then what it has read of the
        channel may be trimmed as far as this node is concerned."""
        ...

    def release(self, channel: str) -> None:
        """This node no longer holds the channel and has persisted what it published on it. Once
        no node holds it, its retained history is deleted (after this node's queued messages)."""
        ...

    def drop(self, channel: str) -> None:
        """Delete the channel's retained history, held or not (what it carried was deleted)."""
        ...

    def on_reconnect(self, listener: ReconnectListener) -> None: ...

    def on_peer_lost(self, listener: PeerLostListener) -> None: ...

    def peers(self) -> set[str]:
        """Node ids heard from recently (not including this node)."""
        ...
