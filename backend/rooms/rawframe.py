"""Broadcast fast path: serialize a frame once, write the same bytes to every client's socket.

Server-to-client WebSocket frames are unmasked, so one broadcast is the same bytes for every
client (no extension is negotiated: `serve` turns permessage-deflate off). Through ASGI each send
re-frames the payload in Python; writing the frame straight to the transport of uvicorn's
`websockets-sansio` protocol halves the CPU per delivered message (bench/). That protocol flushes
its own output after every operation, so frames never interleave. The uvicorn internals sit in
`backend._compat.uvicorn` (version-checked); `tests/test_rawframe.py` checks that the path is taken
and that anything unexpected (another protocol class, a negotiated extension, a closing or paused
socket, an internal that moved and raises) falls back to the ASGI send.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.types import Send
from websockets.frames import Frame, Opcode

from backend._compat import uvicorn as uvicorn_compat

log = logging.getLogger("tandem.rooms")


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
        proto = uvicorn_compat.protocol_of(send)
        return None if proto is None else cls(proto)

    def try_write(self, frame: bytes) -> bool:
        """Write the frame now if the socket is open and not backed up; False means use ASGI.

        An internal that moved (AttributeError and the like) turns this sink off, logged once:
        the fan-out carries on through ASGI sends instead of failing."""
        proto = self._proto
        if proto is None:
            return False
        try:
            return uvicorn_compat.write_if_open(proto, frame)
        except Exception as exc:
            log.warning("raw-frame fast path off for this client: %r", exc)
            self._proto = None
            return False
