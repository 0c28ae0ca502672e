"""Starlette internals: the ASGI `send` behind a `WebSocket` (`WebSocket._send`).

The /yjs connection sends ASGI messages itself (skipping `WebSocket.send`'s state checks on the hot
path) and hands that callable to the raw-frame fast path, which needs uvicorn's own bound method.
Tested on Starlette 1.x; elsewhere, or when the attribute is gone, the public `WebSocket.send`
(which takes the same ASGI messages) stands in. Test: tests/test_compat_starlette.py.
"""

from __future__ import annotations

import logging

from starlette.types import Send
from starlette.websockets import WebSocket

from backend._compat import in_tested_range

log = logging.getLogger("tandem.compat")

TESTED = {"starlette": ("0.40", "2")}
SUPPORTED = all(in_tested_range(dist, *bounds) for dist, bounds in TESTED.items())
if not SUPPORTED:
    log.warning("starlette outside the tested range %s: WebSocket.send carries every message", TESTED)


def asgi_send(websocket: WebSocket) -> Send:
    """The server's ASGI `send` for this socket, or the public `websocket.send` as the fallback."""
    send = getattr(websocket, "_send", None) if SUPPORTED else None
    return send if callable(send) else websocket.send
