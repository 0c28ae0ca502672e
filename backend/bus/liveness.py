"""Which nodes are alive: every node appends a heartbeat to one `nodes` stream and reads everyone
else's. A node not heard from for `expiry` seconds, or that said "bye", is lost: the bus tells its
`on_peer_lost` listeners, which forget what it owned (its clients' presence, its tunnels) and
persist what only it would have persisted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tandem.bus")

NODES_MAXLEN = 1_000
HEARTBEAT = b"hb"
BYE = b"bye"


class NodeLiveness:
    def __init__(self, node_id: str, key: bytes, expiry_seconds: float, lost: Callable[[str], None]) -> None:
        self.node_id = node_id
        self.key = key
        self.cursor = b"0-0"
        self._expiry = expiry_seconds
        self._lost = lost
        self._seen: dict[str, float] = {}

    def peers(self) -> set[str]:
        return set(self._seen)

    async def start(self, client: Any) -> None:
        """Read position, and the nodes that beat within the expiry window: a node that has just
        started knows its peers at once (an owner lease held by a live node is not taken over)."""
        recent = await client.xrevrange(self.key, "+", "-", count=NODES_MAXLEN)
        self.cursor = recent[0][0] if recent else b"0-0"
        if not recent:
            return
        newest_ms = int(recent[0][0].split(b"-")[0])
        now = time.monotonic()
        said_bye: set[str] = set()
        for entry_id, fields in recent:  # newest first: a later "bye" outweighs older beats
            if newest_ms - int(entry_id.split(b"-")[0]) > self._expiry * 1000:
                break
            sender = fields[b"s"].decode()
            if sender == self.node_id or sender in said_bye or sender in self._seen:
                continue
            if fields[b"k"] == BYE:
                said_bye.add(sender)
            else:
                self._seen[sender] = now

    def fields(self, kind: bytes) -> dict[bytes, bytes]:
        return {b"s": self.node_id.encode(), b"k": kind, b"d": b""}

    def on_entries(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        self.cursor = entries[-1][0]
        for _id, fields in entries:
            sender = fields[b"s"].decode()
            if sender == self.node_id:
                continue
            if fields[b"k"] == BYE:
                if self._seen.pop(sender, None) is not None:
                    self._lost(sender)
            else:
                self._seen[sender] = time.monotonic()

    def expire(self) -> None:
        now = time.monotonic()
        for node, seen in list(self._seen.items()):
            if now - seen > self._expiry:
                del self._seen[node]
                self._lost(node)

    def refresh(self) -> None:
        """After a lost connection we could not hear heartbeats: give every peer a fresh expiry."""
        self._seen = dict.fromkeys(self._seen, time.monotonic())
