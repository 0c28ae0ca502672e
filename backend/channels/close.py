"""Closing a WebSocket with a code, and the raw request path: the leaf every channel shares."""

from __future__ import annotations

from starlette.types import Scope
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState


async def close_with(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with `code` (accepting first if needed); a client that already left is fine."""
    if websocket.application_state == WebSocketState.CONNECTING:
        await websocket.accept()
    if websocket.application_state == WebSocketState.CONNECTED:
        try:
            await websocket.close(code, reason.encode()[:120].decode(errors="ignore"))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client is gone already


def raw_path(scope: Scope) -> bytes:
    """The path as the client sent it (percent-escapes intact), for the strict path parsers."""
    raw = scope.get("raw_path")
    return raw if raw else scope["path"].encode()
