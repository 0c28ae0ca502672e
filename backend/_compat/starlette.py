"""Starlette internals: the ASGI `send` behind a `WebSocket` (`WebSocket._send`).

The /yjs connection sends ASGI messages itself (skipping `WebSocket.send`'s state checks on the hot
path) and hands that callable to the raw-frame fast path, which needs uvicorn's own bound method.
Tested on Starlette 1.x; elsewhere, or when the attribute is gone, the public `WebSocket.send`
(which takes the same ASGI messages) stands in. Test: tests/test_compat_starlette.py.
"""

from __future__ import annotations

from starlette.types import Send
from starlette.websockets import WebSocket

from backend._compat import supported

TESTED = {"starlette": ("0.40", "2")}
SUPPORTED = supported(TESTED, otherwise="WebSocket.send carries every message")


def asgi_send(websocket: WebSocket) -> Send:
    """The server's ASGI `send` for this socket, or the public `websocket.send` as the fallback."""
    send = getattr(websocket, "_send", None) if SUPPORTED else None
    return send if callable(send) else websocket.send
