"""Broadcast fast path: serialize a frame once, write the same bytes to every client's socket.

Server-to-client WebSocket frames are unmasked, so one broadcast is the same bytes for every
client (no extension is negotiated: `serve` turns permessage-deflate off). Through ASGI each send
re-frames the payload in Python; writing the frame straight to the transport of uvicorn's
`websockets-sansio` protocol halves the CPU per delivered message (bench/). That protocol flushes
its own output after every operation, so frames never interleave. uvicorn is pinned to an exact
version for this, `tests/test_fanout_order.py` checks that the path is taken (the `raw` count of
`tandem_client_sends_total`), and anything unexpected (another protocol class, a negotiated
extension, a closing or paused socket) falls back to the ASGI send.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.types import Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State


def encode_binary_frame(payload: bytes) -> bytes:
    return Frame(Opcode.BINARY, payload).serialize(mask=False)


class FrameSink(Protocol):
    def try_write(self, frame: bytes) -> bool: ...


class RawFrameSink:
    __slots__ = ("_proto",)

    def __init__(self, proto: Any) -> None:
        self._proto = proto

    @classmethod
    def for_send(cls, send: Send) -> RawFrameSink | None:
        """The sink behind an ASGI `send`, when it is uvicorn's sans-I/O protocol; else None.

        A subclass counts: `backend.edge` serves a guarded subclass (matching the class by name
        silently turned this fast path off there).
        """
        proto = getattr(send, "__self__", None)
        if not isinstance(proto, WebSocketsSansIOProtocol):
            return None
        conn = getattr(proto, "conn", None)
        if conn is None or getattr(conn, "extensions", None) or not hasattr(proto, "writable"):
            return None
        return cls(proto)

    def try_write(self, frame: bytes) -> bool:
        """Write the frame now if the socket is open and not backed up; False means use ASGI."""
        proto = self._proto
        if proto.close_sent or proto.disconnected or not proto.writable.is_set():
            return False
        if proto.conn.state is not State.OPEN:
            return False
        proto.transport.write(frame)
        return True
