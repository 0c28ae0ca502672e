"""The entry end of a tunnel: the client's real WebSocket on this node, its frames carried to
the owner node and the owner's frames carried back (see `owner` for the other end)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial

import anyio
from starlette.websockets import WebSocket

from backend import closecodes
from backend.channels.runner import ChannelRunner
from backend.errors import ChannelCloseError
from backend.ops.counters import ChannelStats
from backend.tunnel import frames

log = logging.getLogger("tandem.tunnel")

FAILED = "x"  # queued by this node itself: the tunnel broke (owner gone, a message lost)


class EntryEnd:
    def __init__(
        self, tid: str, owner_node: str, publish: Callable[[str, bytes], None], window: int, queue: int
    ) -> None:
        self.tid = tid
        self.owner_node = owner_node
        self._publish = publish  # (kind, data) to the owner node's inbox
        self._ack_every = max(1, window // 4)
        self._seq_out = 0
        self.seq_in = 1
        self._send_in, self._recv_in = anyio.create_memory_object_stream[tuple[str, bytes]](queue)
        self.owner_told = False  # the owner knows the connection is over (it closed, or we said)

    def open(self, body: bytes) -> None:
        self._publish(frames.OPEN, frames.pack(self.tid, 0, body))

    def deliver(self, kind: str, payload: bytes) -> None:
        try:
            self._send_in.send_nowait((kind, payload))
        except anyio.WouldBlock:  # the owner ignores flow control: never expected
            self.fail(closecodes.MESSAGE_TOO_BIG, "tunnel queue overflow")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def fail(self, code: int, reason: str) -> None:
        """End the tunnel from this side (the owner node is gone, or a message was lost)."""
        try:
            self._send_in.send_nowait((FAILED, frames.dumps({"code": code, "reason": reason})))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        self._send_in.close()

    async def run(self, websocket: WebSocket, open_timeout: float, stats: ChannelStats) -> None:
        async with ChannelRunner(
            websocket, "tunnel", stats, tunnel=self.tid, owner=self.owner_node
        ) as channel:
            first: tuple[str, bytes] | None = None
            with anyio.move_on_after(open_timeout):
                first = await self._next()
            if first is None:
                log.warning("tunnel %s: node %s did not answer", self.tid, self.owner_node)
                raise ChannelCloseError(
                    closecodes.TRY_AGAIN_LATER, "the session's node did not answer; retry"
                )
            kind, payload = first
            if kind in (frames.CLOSE, FAILED):
                self._close(channel, kind, payload)
                return
            if kind != frames.ACCEPT:
                raise ChannelCloseError(closecodes.INTERNAL_ERROR, "tunnel protocol error")
            await websocket.accept(json.loads(payload).get("subprotocol"))
            await channel.pumps(partial(self._up, websocket), partial(self._down, websocket, channel))

    async def _next(self) -> tuple[str, bytes]:
        try:
            return await self._recv_in.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return FAILED, frames.dumps({"code": closecodes.SERVICE_RESTART, "reason": "tunnel closed"})

    async def _up(self, websocket: WebSocket) -> None:
        """Client -> owner, until the client leaves (the down pump cancels this when the owner closes)."""
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.owner_told = True
                self._emit(frames.DISCONNECT, frames.dumps({"code": message.get("code", closecodes.NORMAL)}))
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                self._emit(frames.BYTES, data)
            elif text is not None:
                self._emit(frames.TEXT, text.encode())

    async def _down(self, websocket: WebSocket, channel: ChannelRunner) -> None:
        """Owner -> client, acknowledging what reached the client so the owner may send more.

        A client that left ends this in the runner; the up pump has told the owner by then."""
        delivered = acked = 0
        while True:
            kind, payload = await self._next()
            if kind in (frames.CLOSE, FAILED):
                self._close(channel, kind, payload)
                return
            if kind == frames.TEXT:
                await websocket.send_text(payload.decode("utf-8", "replace"))
            elif kind == frames.BYTES:
                await websocket.send_bytes(payload)
            else:
                continue
            delivered += len(payload)
            if delivered - acked >= self._ack_every:
                acked = delivered
                self._emit(frames.ACK, frames.dumps({"bytes": delivered}))

    def _close(self, channel: ChannelRunner, kind: str, payload: bytes) -> None:
        if kind == frames.CLOSE:
            self.owner_told = True  # closed on the owner's word
        body = json.loads(payload)
        channel.end(int(body.get("code", closecodes.NORMAL)), str(body.get("reason", "")))

    def tell_owner_gone(self) -> None:
        if not self.owner_told:
            self.owner_told = True
            self._emit(frames.DISCONNECT, frames.dumps({"code": closecodes.GOING_AWAY}))

    def _emit(self, kind: str, payload: bytes) -> None:
        self._seq_out += 1
        self._publish(kind, frames.pack(self.tid, self._seq_out, payload))
