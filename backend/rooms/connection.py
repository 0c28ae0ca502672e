"""One client's WebSocket: eager sends, a bounded backlog, and a sender task for the backlog.

The room never awaits a client. A message goes out at once when the socket is writable (see
`eager`); otherwise it joins the client's backlog, which its own sender task drains. A client
whose backlog passes its limits is closed (1009) and resyncs on reconnect, so a slow reader never
stalls the room or the other readers (design data path 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketState

from backend import closecodes
from backend.rooms.eager import Suspended, start_eagerly
from backend.rooms.rawframe import RawFrameSink, encode_binary_frame

log = logging.getLogger("tandem.connection")

# How long a dropped client gets to take its close frame (its backlog is already freed).
CLOSE_TIMEOUT_SECONDS = 30.0


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
        self,
        websocket: WebSocket,
        limits: QueueLimits,
        principal: Any = None,
        room: str = "",
        send: Send | None = None,
    ) -> None:
        self.websocket = websocket
        self.principal = principal
        self.room = room
        # The server's own ASGI send (the endpoint is served outside Starlette's middleware).
        self._send = send or websocket._send
        self._sink = RawFrameSink.for_send(self._send)
        self._limits = limits
        self._backlog: deque[bytes | _Close] = deque()
        self._backlog_bytes = 0
        # The send that suspended, if any: until it completes, new messages join the backlog.
        self._inflight: Suspended | None = None
        self._sender_busy = False  # the sender task is draining: keep order, queue behind it
        self._wakeup = asyncio.Event()
        self._closing: _Close | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._dead = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self.dropped_messages = 0

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def send(self, message: bytes, frame: bytes | None = None) -> None:
        """Send now if the socket takes it, else queue; close the client if it cannot keep up.

        `frame` is `message` already framed (`rawframe.encode_binary_frame`), for broadcasts.
        """
        if self._closing is not None or self._dead:
            self.dropped_messages += 1
            return
        if self._inflight is None and not self._sender_busy and not self._backlog:
            sink = self._sink
            if sink is not None and sink.try_write(frame or encode_binary_frame(message)):
                return
            try:
                self._inflight = start_eagerly(self._send({"type": "websocket.send", "bytes": message}))
            except Exception as exc:  # the peer went away: the reader sees the disconnect
                log.debug("send failed room=%r: %r", self.room, exc)
                self._dead = True
                return
            if self._inflight is not None:
                self._wakeup.set()
            return
        backlog = self._backlog
        backlog.append(message)
        self._backlog_bytes += len(message)
        if len(backlog) > self._limits.max_messages or self._backlog_bytes > self._limits.max_bytes:
            log.warning(
                "slow client dropped: room=%r principal=%r backlog=%d messages %d bytes",
                self.room,
                self.principal,
                len(backlog),
                self._backlog_bytes,
            )
            self.close(closecodes.MESSAGE_TOO_BIG, "send queue overflow: reconnect to resync")
            return
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Drop the backlog and close once any send in progress has finished."""
        if self._closing is not None:
            return
        self._closing = _Close(code, reason[:120])
        self.dropped_messages += len(self._backlog)
        self._backlog.clear()
        self._backlog_bytes = 0
        self._backlog.append(self._closing)
        self._wakeup.set()
        # A peer that stopped reading may never take the close frame: give up on it after a
        # while so its handler (and its place in the room) goes away. A loop timer, not a task:
        # close() is also called from plain loop callbacks (the room's batched fan-out).
        self._watchdog = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_SECONDS, self._abort)

    def _abort(self) -> None:
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

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
        if self._inflight is not None:
            self._inflight.close()
            self._inflight = None
        if self._watchdog is not None:
            self._watchdog.cancel()

    async def run_sender(self) -> None:
        """Finish a suspended send, then drain the backlog; the only task that waits on the socket."""
        backlog = self._backlog
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._sender_busy = True
            try:
                if self._inflight is not None:
                    await self._inflight
                    self._inflight = None
                while backlog:
                    item = backlog.popleft()
                    if isinstance(item, _Close):
                        await self._send_close(item)
                        return
                    self._backlog_bytes -= len(item)
                    await self._send({"type": "websocket.send", "bytes": item})
            except Exception as exc:  # the peer went away: stop, the reader sees it
                log.debug("send failed room=%r: %r", self.room, exc)
                self._dead = True
                return
            finally:
                self._sender_busy = False

    async def _send_close(self, item: _Close) -> None:
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        try:
            await self.websocket.close(item.code, item.reason)
        except Exception as exc:
            log.debug("close failed room=%r: %r", self.room, exc)
