"""The owner's end of a tunnel: an ASGI `receive`/`send` pair that the ordinary `/term` or
`/signal` endpoint runs against, as if the client were connected to this node.

Flow control: `send` waits while more than `window` bytes are unacknowledged by the entry node,
so a slow client slows its own endpoint exactly as a slow socket would (a terminal subscriber
falls behind and gets a resync; the signaling outbox fills and closes) — it never piles up in
Redis or in memory here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

import anyio

from backend import closecodes
from backend.tunnel import frames

log = logging.getLogger("tandem.tunnel")


class TunnelClosedError(OSError):
    """Sending on a tunnel whose other end is gone (Starlette turns OSError into a disconnect)."""


class OwnerEnd:
    def __init__(self, tid: str, entry_node: str, publish: Callable[[str, bytes], None], window: int) -> None:
        self.tid = tid
        self.entry_node = entry_node
        self._publish = publish  # (kind, data) to the entry node's inbox
        self._window = window
        self._seq_out = 0
        self.seq_in = 1  # the OPEN was 0
        self._send_in, self._recv_in = anyio.create_memory_object_stream[dict[str, Any]](1024)
        self._connected = False
        self._sent = 0
        self._acked = 0
        self._acked_event = anyio.Event()
        self.closed = False  # the endpoint closed, or the entry end is gone

    # -- the endpoint's side (ASGI) --------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        try:
            return await self._recv_in.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return {"type": "websocket.disconnect", "code": closecodes.SERVICE_RESTART}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if self.closed:
            raise TunnelClosedError("the tunnel is closed")
        if kind == "websocket.accept":
            self._emit(frames.ACCEPT, frames.dumps({"subprotocol": message.get("subprotocol")}))
        elif kind == "websocket.send":
            data = message.get("bytes")
            payload = data if data is not None else (message.get("text") or "").encode()
            while self._sent - self._acked > self._window and not self.closed:
                await self._acked_event.wait()
            if self.closed:
                raise TunnelClosedError("the tunnel is closed")
            self._emit(frames.BYTES if data is not None else frames.TEXT, payload)
            self._sent += len(payload)
        elif kind == "websocket.close":
            self.finish(int(message.get("code", closecodes.NORMAL)), message.get("reason") or "")
        else:  # a denial response (never sent by our endpoints past authentication): a refusal
            self.finish(closecodes.FORBIDDEN, "refused")

    def finish(self, code: int, reason: str) -> None:
        """Tell the entry node the connection is over (once)."""
        if not self.closed:
            self._emit(frames.CLOSE, frames.dumps({"code": code, "reason": reason}))
            self._end()

    # -- the bus's side --------------------------------------------------------------------------

    def deliver(self, kind: str, payload: bytes) -> None:
        if kind == frames.ACK:
            self._acked = max(self._acked, int(json.loads(payload)["bytes"]))
            self._acked_event.set()
            self._acked_event = anyio.Event()
            return
        if kind == frames.TEXT:
            message: dict[str, Any] = {
                "type": "websocket.receive",
                "text": payload.decode("utf-8", "replace"),
            }
        elif kind == frames.BYTES:
            message = {"type": "websocket.receive", "bytes": payload}
        elif kind == frames.DISCONNECT:
            self.lost(int(json.loads(payload).get("code", closecodes.NORMAL)))
            return
        else:
            log.warning("tunnel %s: unexpected %r from the entry node", self.tid, kind)
            return
        try:
            self._send_in.send_nowait(message)
        except anyio.WouldBlock:
            log.warning("tunnel %s: the endpoint does not keep up with its client; closing", self.tid)
            self.finish(closecodes.MESSAGE_TOO_BIG, "tunnel input queue overflow")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def lost(self, code: int = closecodes.SERVICE_RESTART) -> None:
        """The client (or its node, or the tunnel) is gone: the endpoint sees a disconnect."""
        try:
            self._send_in.send_nowait({"type": "websocket.disconnect", "code": code})
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        self._end()

    def _end(self) -> None:
        self.closed = True
        self._send_in.close()
        self._acked_event.set()

    def _emit(self, kind: str, payload: bytes) -> None:
        self._seq_out += 1
        self._publish(kind, frames.pack(self.tid, self._seq_out, payload))
