"""`/yjs/{room}`: the y-websocket endpoint."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend import closecodes
from backend._compat.uvicorn_lean import detach
from backend.access.connlimit import SCOPE_LEASE
from backend.edge.leanws import OP_BINARY, LeanSocket
from backend.errors import (
    CapacityError,
    LimitExceededError,
    ProtocolError,
    RoomNameError,
)
from backend.ops import logcontext
from backend.rooms.connection import ClientConnection, QueueLimits
from backend.rooms.names import room_from_raw_path
from backend.rooms.room import Room
from backend.routes.sockets import Sockets
from backend.routes.ws_auth import authenticate_websocket

log = logging.getLogger("tandem.yjs")

PREFIX = "/yjs/"


def is_yjs(scope: Scope) -> bool:
    return scope["type"] == "websocket" and scope["path"].startswith(PREFIX)


async def yjs_asgi(sockets: Sockets, scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint as plain ASGI, served in front of FastAPI's middleware (see `backend.asgi`)."""
    await yjs_endpoint(WebSocket(scope, receive, send), sockets, send)


async def yjs_endpoint(websocket: WebSocket, sockets: Sockets, send: Send) -> None:
    gate = sockets.gate
    settings = gate.settings
    try:
        # Starlette has already decoded %2F in `rest`: read the raw path instead.
        raw = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
        name = room_from_raw_path(raw, PREFIX, settings.room_name_max_length)
    except RoomNameError as exc:
        await websocket.accept()
        await websocket.close(closecodes.BAD_REQUEST, f"bad room name: {exc}"[:120])
        return
    principal = await authenticate_websocket(websocket, gate, name)
    if principal is None:
        return
    await websocket.accept()
    # Nothing can arrive between the accept's write and this: no await in between.
    lean = detach(send) if settings.yjs_lean_sockets else None
    close = _closer(websocket, lean)
    try:
        room = await sockets.rooms.acquire(name)
    except CapacityError as exc:
        await close(closecodes.TRY_AGAIN_LATER, str(exc)[:120])
        return
    if room.client_count >= settings.max_clients_per_room:
        await close(closecodes.TRY_AGAIN_LATER, "room is full")
        return
    client = ClientConnection(
        websocket if lean is None else None,
        _queue_limits(
            settings.client_queue_max_messages,
            settings.client_queue_max_bytes,
            settings.fanout_coalesce_max_bytes,
            settings.fanout_raw_frames,
            settings.fanout_eager_sends,
        ),
        principal,
        name,
        send if lean is None else lean.send,
        sink=lean if lean is not None and settings.fanout_raw_frames else None,
    )
    room.join(client)
    logcontext.bind_principal(principal, name)
    stats = sockets.rooms.stats
    stats.connections_opened["yjs"] += 1
    session = _Session(sockets, room, client, name)
    await gate.authenticator.joined(principal, name)
    if lean is not None:
        # From here the socket lives on callbacks: this task (and the ASGI frames under it) ends.
        session.lease = websocket.scope.pop(SCOPE_LEASE, None)
        # Its callbacks log with this connection's request id, session and principal, as the
        # task did (a protocol error names whose connection it was).
        session.logged = logcontext.capture()
        lean.attach(session)
        return

    async def receive_loop() -> None:
        receive = websocket.receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                session.peer_code = message.get("code", 1000)
                return
            if not session.handle(message.get("bytes"), message.get("text")):
                return

    try:
        await client.serve(receive_loop)
    finally:
        session.finish()
        with anyio.CancelScope(shield=True):
            await gate.authenticator.left(client.principal, name)


@functools.lru_cache(maxsize=8)
def _queue_limits(max_messages: int, max_bytes: int, coalesce: int, raw: bool, eager: bool) -> QueueLimits:
    """One frozen `QueueLimits` shared by every client with the same settings (not one each)."""
    return QueueLimits(max_messages, max_bytes, coalesce_max_bytes=coalesce, raw_frames=raw, eager=eager)


def _closer(websocket: WebSocket, lean: LeanSocket | None) -> Callable[[int, str], Awaitable[None]]:
    async def close(code: int, reason: str) -> None:
        if lean is None:
            await websocket.close(code, reason)
        else:
            lean.close(code, reason)

    return close


class _Session:
    """One client in one room: its messages into the room, and its end (either path)."""

    __slots__ = ("client", "lease", "logged", "name", "over_limit", "peer_code", "room", "sockets")

    def __init__(self, sockets: Sockets, room: Room, client: ClientConnection, name: str) -> None:
        self.sockets = sockets
        self.room = room
        self.client = client
        self.name = name
        self.peer_code = closecodes.NORMAL  # the code the peer closed with, for the closes metric
        self.over_limit = False  # closed for a presence bound, not as a slow reader
        self.lease: Any = None  # the principal's connection share, once the socket is detached
        self.logged: logcontext.Carried | None = None  # the task's log context, once detached

    def handle(self, data: bytes | None, text: str | None = None) -> bool:
        """One message from the client; False once the client is being closed."""
        client, room, name = self.client, self.room, self.name
        if client.closing:
            return False
        if data is None:
            client.close(closecodes.UNSUPPORTED_DATA, "text frames are not y-websocket")
            log.warning("room=%r principal=%s: text frame refused", name, client.principal)
            return False
        if room.closed:
            client.close(closecodes.SERVICE_RESTART, "room closed, reconnect")
            return False
        try:
            room.handle(client, data)
        except ProtocolError as exc:
            log.warning("room=%r principal=%s: protocol error: %s", name, client.principal, exc)
            self.over_limit = isinstance(exc, LimitExceededError)
            client.close(getattr(exc, "close_code", closecodes.BAD_REQUEST), str(exc))
            return False
        return True

    # -- a detached socket's handler (backend.edge.leanws.Handler) ------------------------------

    def on_lean_message(self, opcode: int, payload: bytes) -> None:
        tokens = logcontext.enter(self.logged) if self.logged is not None else None
        try:
            self.handle(payload if opcode == OP_BINARY else None, "")
        except Exception:
            log.exception("room=%r principal=%r: unexpected error", self.name, self.client.principal)
            self.client.close(closecodes.INTERNAL_ERROR, "internal error")
        finally:
            if tokens is not None:
                logcontext.leave(tokens)

    def on_lean_close(self, code: int) -> None:
        tokens = logcontext.enter(self.logged) if self.logged is not None else None
        try:
            self._lean_closed(code)
        finally:
            if tokens is not None:
                logcontext.leave(tokens)

    def _lean_closed(self, code: int) -> None:
        self.peer_code = code
        self.client.abandon()
        self.finish()
        sockets = self.sockets
        if self.lease is not None:
            sockets.gate.connections.release(self.lease)
        sockets.departures.add(self.client.principal, self.name)

    def finish(self) -> None:
        if self.peer_code == closecodes.MESSAGE_TOO_BIG and self.client.close_code is None:
            log.warning("room=%r principal=%s: frame over the size limit", self.name, self.client.principal)
        self.room.leave(self.client)
        stats = self.sockets.rooms.stats
        code = self.client.close_code
        stats.closes[code if code is not None else self.peer_code] += 1
        if code == closecodes.MESSAGE_TOO_BIG and not self.over_limit:
            stats.slow_clients_dropped += 1  # a send backlog overflow
