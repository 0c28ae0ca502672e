"""What signaling consumes and offers across its seams (no `backend` import: backend wires it in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Outbox(Protocol):
    """A participant's outgoing queue: never blocks the hub. False: full (the connection is closed)."""

    def offer(self, text: str) -> bool: ...

    def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a participant is, as the server established it (never from the client)."""

    user_id: str
    name: str
    color: str
    role: str
    may_share: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


class MediaRelay(Protocol):
    """Media for audiences beyond the mesh: one publish per share, forwarded to every viewer.

    `stream` is the sharer's peer id. aiortc implements it (signaling.relay.AiortcRelay); an SFU
    (Janus VideoRoom, LiveKit) can take its place behind the same calls.
    """

    async def publish(self, session: str, stream: str, sdp: str) -> str:
        """The sharer's offer -> the relay's answer. Replaces an earlier publish of the same stream."""
        ...

    async def subscribe(self, session: str, stream: str, viewer: str, sdp: str, light: bool) -> str:
        """A viewer's (recvonly) offer -> the relay's answer; `light`: the low-bandwidth tier."""
        ...

    async def add_candidate(self, session: str, peer: str, stream: str, candidate: Candidate | None) -> None:
        """A trickled ICE candidate of `peer` for its connection about `stream` (None: end of them)."""
        ...

    async def unpublish(self, session: str, stream: str) -> None: ...

    async def drop_peer(self, session: str, peer: str) -> None:
        """`peer` vanished: close every connection it had with the relay."""
        ...

    async def close(self) -> None: ...
