"""uvicorn internals behind the raw-frame fast path (backend/rooms/rawframe.py).

An ASGI `send` of uvicorn's `websockets-sansio` implementation is a bound method of its protocol
(`send.__self__`); the protocol exposes `conn` (the websockets sans-I/O connection), `transport`,
`writable`, `close_sent` and `disconnected`, none of them public. Tested on uvicorn 0.54 with
websockets 17; outside that range `protocol_of` returns None and every send goes through ASGI.
The test is tests/test_rawframe.py.
"""

from __future__ import annotations

import logging
from typing import Any

from backend._compat import supported

log = logging.getLogger("tandem.compat")

TESTED = {"uvicorn": ("0.54", "0.55"), "websockets": ("13", "18")}

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State
except ImportError as exc:  # moved: the fast path is off, ASGI sends carry everything
    log.warning("raw-frame fast path off: %s", exc)
    SUPPORTED = False
else:
    SUPPORTED = supported(TESTED, otherwise="the raw-frame fast path is off")


def protocol_of(send: Any) -> Any | None:
    """uvicorn's sans-I/O protocol behind an ASGI `send`, when frames may be written to it
    directly (no extension negotiated); else None. A subclass counts (backend.edge serves one)."""
    if not SUPPORTED:
        return None
    proto = getattr(send, "__self__", None)
    if not isinstance(proto, WebSocketsSansIOProtocol):
        return None
    conn = getattr(proto, "conn", None)
    if conn is None or getattr(conn, "extensions", None) or not hasattr(proto, "writable"):
        return None
    return proto


def write_if_open(proto: Any, frame: bytes) -> bool:
    """Write a serialized frame now if the socket is open and not backed up; False: use ASGI.

    The protocol flushes its own output after every operation, so frames never interleave."""
    if proto.close_sent or proto.disconnected or not proto.writable.is_set():
        return False
    if proto.conn.state is not State.OPEN:
        return False
    proto.transport.write(frame)
    return True
