"""One client's WebSocket: eager sends, a bounded backlog, and a sender task only while needed.

The room never awaits a client. A message goes out at once when the socket is writable (a raw
frame, see `rawframe`, or an eager ASGI send, see `eager`); otherwise it joins the client's
backlog, which a sender task drains. A client whose backlog passes its limits is closed (1009) and
resyncs on reconnect, so a slow reader never stalls the room or the other readers (data path 1).

The sender is a plain asyncio task owned by this object, created on the first backlog and awaited
or cancelled by `serve()`: most clients never need one, and per-connection memory is what bounds
how many clients a node holds (anyio's task group would cost a task and a scope per client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketState

from backend import closecodes
from backend._compat.starlette import asgi_send
from backend.rooms.coalesce import take_batch
from backend.rooms.eager import Suspended, start_eagerly
from backend.rooms.rawframe import FrameSink, RawFrameSink, encode_binary_frame

log = logging.getLogger("tandem.connection")

# Merged backlog messages stay under this size (a client that echoes them must stay under the
# server's frame limit, as with the room's own merging).
COALESCE_MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class QueueLimits:
    max_messages: int
    max_bytes: int
    # Merged backlog messages stay under this size; 0 sends queued messages one by one.
    coalesce_max_bytes: int = COALESCE_MAX_BYTES
    # The fast paths (settings `fanout_raw_frames`, `fanout_eager_sends`); off, every message takes
    # the next path down, so tests can run each path on its own.
    raw_frames: bool = True
    eager: bool = True


class SendCounts:
    """How messages left, for /metrics: how often clients fall behind (process-wide totals)."""

    __slots__ = ("eager", "queued", "raw", "suspended")

    def __init__(self) -> None:
        self.raw = 0  # written straight to the transport
        self.eager = 0  # an ASGI send that completed at once
        self.suspended = 0  # an ASGI send that had to wait for the socket (the sender finishes it)
        self.queued = 0  # behind a backlog or a send in flight


SEND_COUNTS = SendCounts()


@dataclass(slots=True)
class _Close:
    code: int
    reason: str


class ClientConnection:
    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closing",
        "_dead",
        "_inflight",
        "_limits",
        "_send",
        "_sender",
        "_sink",
        "_wakeup",
        "dropped_messages",
        "principal",
        "room",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket | None,
        limits: QueueLimits,
        principal: Any = None,
        room: str = "",
        send: Send | None = None,
        sink: FrameSink | None = None,
    ) -> None:
        # None once the socket is detached from ASGI (backend.edge.leanws): `send` is the way out.
        self.websocket = websocket
        self.principal = principal
        self.room = room
        # The server's own ASGI send (the endpoint is served outside Starlette's middleware).
        if send is None:
            assert websocket is not None
            send = asgi_send(websocket)
        self._send: Send = send
        if sink is None and limits.raw_frames:
            sink = RawFrameSink.for_send(send)
        self._sink = sink
        self._limits = limits
        # Made on first use: an empty deque is 600 bytes, and most clients never queue.
        self._backlog: deque[bytes | _Close] | None = None
        self._backlog_bytes = 0
        # A send that suspended: the sender finishes it before anything else goes out.
        self._inflight: Suspended | None = None
        self._sender: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing: _Close | None = None
        self._dead = False
        self.dropped_messages = 0

    @property
    def closing(self) -> bool:
        return self._closing is not None

    @property
    def close_code(self) -> int | None:
        """The code this server closed the client with (None: it did not close it)."""
        return None if self._closing is None else self._closing.code

    def send(self, message: bytes, frame: bytes | None = None) -> None:
        """Send now if the socket takes it, else queue; close the client if it cannot keep up.

        `frame` is `message` already framed (`rawframe.encode_binary_frame`), for broadcasts.
        Order: once a message is queued or a send is in flight, every later message goes behind
        it (see `_busy`); only the sender task writes then, so frames leave in `send` order.
        """
        if self._closing is not None or self._dead:
            self.dropped_messages += 1
            return
        if self._limits.eager and not self._busy():
            sink = self._sink
            if sink is not None and sink.try_write(frame or encode_binary_frame(message)):
                SEND_COUNTS.raw += 1
                return
            try:
                self._inflight = start_eagerly(self._send({"type": "websocket.send", "bytes": message}))
            except Exception as exc:  # the peer went away: the reader sees the disconnect
                log.debug("send failed room=%r: %r", self.room, exc)
                self._dead = True
                return
            if self._inflight is None:
                SEND_COUNTS.eager += 1
            else:
                SEND_COUNTS.suspended += 1
                self._kick()
            return
        SEND_COUNTS.queued += 1
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = deque()
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
        self._kick()

    def _busy(self) -> bool:
        """A message is queued, a send is in flight, or the sender has not gone back to waiting."""
        if self._inflight is not None or self._backlog:
            return True
        return self._sender is not None and not self._idle()

    def _idle(self) -> bool:
        """The sender has nothing left to do (it waits for the next kick)."""
        return self._wakeup is not None and not self._wakeup.is_set()

    def close(self, code: int, reason: str) -> None:
        """Drop the backlog; the sender closes once any send in progress has finished."""
        if self._closing is not None:
            return
        self._closing = _Close(code, reason[:120])
        if self._backlog is None:
            self._backlog = deque()
        self.dropped_messages += len(self._backlog)
        self._backlog.clear()
        self._backlog_bytes = 0
        self._backlog.append(self._closing)
        self._kick()

    def _kick(self) -> None:
        if self._backlog is None:
            self._backlog = deque()  # before the sender starts: it holds on to this one
        if self._sender is None:
            self._wakeup = asyncio.Event()
            self._sender = asyncio.get_running_loop().create_task(self._run_sender())
        assert self._wakeup is not None
        self._wakeup.set()

    async def serve(self, receive_loop: Callable[[], Awaitable[None]]) -> None:
        """Run the receive loop until the peer leaves, then let a requested close go out.

        A peer that stopped reading never frees the socket for the close frame; uvicorn's
        keepalive ping times it out and the pending send then fails, so this wait is bounded.
        """
        try:
            await receive_loop()
        except Exception:
            log.exception("room=%r principal=%r: unexpected error", self.room, self.principal)
            self.close(closecodes.INTERNAL_ERROR, "internal error")
        finally:
            sender = self._sender
            if sender is not None:
                if self._closing is None or self._dead:
                    sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            if self._inflight is not None:
                self._inflight.close()
                self._inflight = None

    async def _run_sender(self) -> None:
        """Finish a suspended send, then drain the backlog; the only task that waits on the socket."""
        backlog = self._backlog
        wakeup = self._wakeup
        assert wakeup is not None and backlog is not None
        try:
            while True:
                await wakeup.wait()
                if self._inflight is not None:
                    await self._inflight
                    self._inflight = None
                while backlog:
                    if isinstance(backlog[0], _Close):
                        await self._send_close(backlog.popleft())  # type: ignore[arg-type]
                        return
                    # A client that fell behind gets its queued updates merged (see coalesce).
                    message, taken = take_batch(backlog, self._limits.coalesce_max_bytes)  # type: ignore[arg-type]
                    self._backlog_bytes -= taken
                    await self._send({"type": "websocket.send", "bytes": message})
                wakeup.clear()
        except Exception as exc:  # the peer went away: stop, the reader sees it
            log.debug("send failed room=%r: %r", self.room, exc)
            self._dead = True

    def abandon(self) -> None:
        """The peer is gone (a detached socket closed): stop sending, now."""
        self._dead = True
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
        if self._inflight is not None:
            self._inflight.close()
            self._inflight = None

    async def _send_close(self, item: _Close) -> None:
        websocket = self.websocket
        try:
            if websocket is None:
                await self._send({"type": "websocket.close", "code": item.code, "reason": item.reason})
            elif websocket.application_state != WebSocketState.DISCONNECTED:
                await websocket.close(item.code, item.reason)
        except Exception as exc:
            log.debug("close failed room=%r: %r", self.room, exc)
