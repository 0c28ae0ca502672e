"""`Departures`: the `authenticator.left` calls of detached `/yjs` sockets, made by one task.

A detached socket (backend.edge.leanws) closes in a transport callback, with no task of its own
to await the leave (an audit row with accounts). One task per closing socket would put
thousands of tasks in memory at once when a node's clients go away together (a restart, a
network cut), so the leaves queue here and one task records them in order.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from backend.auth.types import Authenticator
from backend.rooms.manager import RoomManager

log = logging.getLogger("tandem.yjs")


class Departures:
    def __init__(self, rooms: RoomManager, authenticator: Authenticator) -> None:
        self._rooms = rooms
        self._authenticator = authenticator
        self._queue: deque[tuple[Any, str]] = deque()
        self._running = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, principal: Any, session: str) -> None:
        self._queue.append((principal, session))
        if self._running:
            return
        try:
            self._rooms.start_soon(self._drain)
            self._running = True
        except RuntimeError as exc:  # the node is shutting down: its task group is closed
            log.warning("%d leaves not recorded: %s", len(self._queue), exc)
            self._queue.clear()

    async def _drain(self) -> None:
        try:
            while self._queue:
                principal, session = self._queue.popleft()
                await self._authenticator.left(principal, session)
        finally:
            self._running = False
