"""One client's WebSocket with a bounded outgoing queue drained by its own sender task.

The room never awaits a client: it appends to the queue and moves on. A client whose queue
passes its limits is closed (1009) and resyncs on reconnect, so a slow reader cannot stall the
room or the other readers (design data path 1).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from starlette.websockets import WebSocket, WebSocketState

from backend import closecodes

log = logging.getLogger("tandem.connection")

CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class QueueLimits:
    max_messages: int
    max_bytes: int


@dataclass(slots=True)
class _Close:
    code: int
    reason: str


class ClientConnection:
    def __init__(
        self, websocket: WebSocket, limits: QueueLimits, principal: Any = None, room: str = ""
    ) -> None:
        self.websocket = websocket
        self.principal = principal
        self.room = room
        self._limits = limits
        self._queue: deque[bytes | _Close] = deque()
        self._queued_bytes = 0
        self._wakeup = anyio.Event()
        self._closing: _Close | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self.dropped_messages = 0

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def send(self, message: bytes) -> None:
        """Queue a message without waiting; close the client if it cannot keep up."""
        if self._closing is not None:
            self.dropped_messages += 1
            return
        queue = self._queue
        queue.append(message)
        self._queued_bytes += len(message)
        if len(queue) > self._limits.max_messages or self._queued_bytes > self._limits.max_bytes:
            log.warning(
                "slow client dropped: room=%r principal=%r queued=%d messages %d bytes",
                self.room,
                self.principal,
                len(queue),
                self._queued_bytes,
            )
            self.close(closecodes.MESSAGE_TOO_BIG, "send queue overflow: reconnect to resync")
            return
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close after any send in progress."""
        if self._closing is not None:
            return
        self._closing = _Close(code, reason[:120])
        self.dropped_messages += len(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        self._queue.append(self._closing)
        self._wakeup.set()
        if self._task_group is not None:
            self._task_group.start_soon(self._close_watchdog)

    async def serve(self, receive_loop: Callable[[], Awaitable[None]]) -> None:
        """Run the receive loop beside the sender until the peer leaves or the close is sent."""
        async with anyio.create_task_group() as tg:
            self._task_group = tg

            async def sender() -> None:
                await self.run_sender()
                tg.cancel_scope.cancel()

            tg.start_soon(sender)
            try:
                await receive_loop()
            except Exception:
                log.exception("room=%r principal=%r: unexpected error", self.room, self.principal)
                self.close(closecodes.INTERNAL_ERROR, "internal error")
            if self._closing is None:
                tg.cancel_scope.cancel()  # the peer went away: nothing left to send
            # else the sender delivers the close frame, then cancels (the watchdog bounds it)

    async def _close_watchdog(self) -> None:
        # A peer that stopped reading may never take the close frame: give up on it after a while
        # so its handler (and its place in the room) goes away.
        await anyio.sleep(CLOSE_TIMEOUT_SECONDS)
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    async def run_sender(self) -> None:
        """Drain the queue until the connection closes; the only task that writes to the socket."""
        send = self.websocket.send
        queue = self._queue
        while True:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
            while queue:
                item = queue.popleft()
                if isinstance(item, _Close):
                    await self._send_close(item)
                    return
                self._queued_bytes -= len(item)
                try:
                    await send({"type": "websocket.send", "bytes": item})
                except Exception as exc:  # the peer went away mid-send: stop quietly, the reader sees it
                    log.debug("send failed room=%r: %r", self.room, exc)
                    return

    async def _send_close(self, item: _Close) -> None:
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        try:
            await self.websocket.close(item.code, item.reason)
        except Exception as exc:
            log.debug("close failed room=%r: %r", self.room, exc)
