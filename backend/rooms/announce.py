"""A room listener: tell clients, via the server's awareness entry, what is persisted.

Throttled to one announcement per `every` seconds; the state vector and delete-set digest let a
page show "saved" only for what the store really holds.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from backend.rooms.listeners import RoomListener


class DurableAnnouncer(RoomListener):
    def __init__(self, node_id: str, every: float, publish: Callable[[dict[str, Any]], None]) -> None:
        self._node_id = node_id
        self._every = every
        # Sets the room's server awareness entry and sends it (None once closed: no cycle is left
        # between the room and this listener, so an unloaded room is freed by reference counting).
        self._publish: Callable[[dict[str, Any]], None] | None = publish
        self._loop = asyncio.get_running_loop()
        self._at = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._durable = b""
        self._deletes = ""

    def on_durable(self, point: Any) -> None:
        self._durable, self._deletes = point
        if self._handle is not None or self._publish is None:
            return
        delay = max(0.0, self._at + self._every - self._loop.time())
        if delay == 0.0:
            self._announce()
        else:
            self._handle = self._loop.call_later(delay, self._announce)

    def _announce(self) -> None:
        self._handle = None
        self._at = self._loop.time()
        if self._publish is None:
            return
        durable = base64.b64encode(self._durable).decode()
        self._publish({"tandem": {"durable": durable, "deletes": self._deletes, "node": self._node_id}})

    def close(self) -> None:
        """Before the final flush: no announcement goes out any more."""
        self._publish = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
