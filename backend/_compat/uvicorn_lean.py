"""Reaching into uvicorn's sans-I/O WebSocket protocol (pinned: `UVICORN_VERSION`).

`detach` takes an accepted `/yjs` socket away from uvicorn's protocol and hands it to a
`LeanSocket` (see `backend.edge.leanws` for why). It relies on uvicorn 0.54's attributes
(`transport`, `conn`, `queue`, `connections`, the handshake flags, `stop_keepalive`) and on
`run_asgi` closing `self.transport` when the application returns; `tests/test_edge_lean.py`
checks all of it against the installed version, and any other version keeps the ASGI path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from backend.edge.leanws import LeanSocket

UVICORN_VERSION = "0.54.0"


class _Inert:
    """The transport the ASGI side is left with: the socket has a new owner."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


INERT = _Inert()


def detach(send: Send) -> LeanSocket | None:
    """The accepted socket behind an ASGI `send`, now owned by a `LeanSocket`; None when this
    socket must stay on the ASGI path (another protocol or uvicorn version, an extension, data
    that arrived before the handshake's answer, a message not yet read, a closing socket)."""
    proto = getattr(send, "__self__", None)
    if uvicorn.__version__ != UVICORN_VERSION or not isinstance(proto, WebSocketsSansIOProtocol):
        return None
    return _detach(proto)


def _detach(proto: Any) -> LeanSocket | None:
    # `Any`: the edge's subclass of uvicorn's protocol carries the `lean_*` attributes.
    keepalive = getattr(proto, "lean_keepalive", None)
    if keepalive is None or getattr(proto, "early_data", True):
        return None  # not the edge's protocol (it sets both)
    conn = proto.conn
    if conn.extensions or conn.events or conn.reader.buffer or not proto.queue.empty():
        return None
    if not proto.handshake_complete or proto.close_sent or proto.disconnected:
        return None
    transport: asyncio.Transport = proto.transport
    if transport.is_closing():
        return None
    proto.stop_keepalive()
    proto.connections.discard(proto)
    # `lean_lost` is a plain function of the class: nothing keeps uvicorn's protocol alive.
    lean = LeanSocket(
        transport, proto.config.ws_max_size, keepalive, on_lost=proto.lean_lost, connections=proto.connections
    )
    proto.connections.add(lean)
    transport.set_protocol(lean)
    # Whatever the ASGI side still does (uvicorn closes the transport when the app returns)
    # touches nothing now.
    proto.transport = INERT
    proto.handshake_complete = proto.close_sent = proto.disconnected = True
    return lean
