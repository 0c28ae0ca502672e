"""`/yjs/{room}`: the y-websocket endpoint."""

from __future__ import annotations

import logging

import anyio
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend import closecodes
from backend.errors import (
    CapacityError,
    LimitExceededError,
    ProtocolError,
    RoomNameError,
)
from backend.ops import logcontext
from backend.rooms.connection import ClientConnection, QueueLimits
from backend.rooms.names import room_from_raw_path
from backend.routes.ws_auth import authenticate_websocket
from backend.services import Services

log = logging.getLogger("tandem.yjs")

PREFIX = "/yjs/"


def is_yjs(scope: Scope) -> bool:
    return scope["type"] == "websocket" and scope["path"].startswith(PREFIX)


async def yjs_asgi(services: Services, scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint as plain ASGI, served in front of FastAPI's middleware (see `backend.asgi`)."""
    await yjs_endpoint(WebSocket(scope, receive, send), services, send)


async def yjs_endpoint(websocket: WebSocket, services: Services, send: Send) -> None:
    settings = services.settings
    try:
        # Starlette has already decoded %2F in `rest`: read the raw path instead.
        raw = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
        name = room_from_raw_path(raw, PREFIX, settings.room_name_max_length)
    except RoomNameError as exc:
        await websocket.accept()
        await websocket.close(closecodes.BAD_REQUEST, f"bad room name: {exc}"[:120])
        return
    principal = await authenticate_websocket(websocket, services, name)
    if principal is None:
        return
    await websocket.accept()
    try:
        room = await services.rooms.acquire(name)
    except CapacityError as exc:
        await websocket.close(closecodes.TRY_AGAIN_LATER, str(exc)[:120])
        return
    if len(room.clients) >= settings.max_clients_per_room:
        await websocket.close(closecodes.TRY_AGAIN_LATER, "room is full")
        return
    client = ClientConnection(
        websocket,
        QueueLimits(
            settings.client_queue_max_messages,
            settings.client_queue_max_bytes,
            coalesce_max_bytes=settings.fanout_coalesce_max_bytes,
            raw_frames=settings.fanout_raw_frames,
            eager=settings.fanout_eager_sends,
        ),
        principal,
        name,
        send,
    )
    room.join(client)
    logcontext.bind_principal(principal, name)
    stats = services.rooms.stats
    stats.connections_opened["yjs"] += 1
    peer_code = [closecodes.NORMAL]  # the code the peer closed with, for the closes metric
    over_limit = [False]  # closed for a presence bound, not as a slow reader
    await services.authenticator.joined(principal, name)

    async def receive_loop() -> None:
        receive = websocket.receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1000)
                peer_code[0] = code
                if code == closecodes.MESSAGE_TOO_BIG:
                    log.warning("room=%r principal=%s: frame over the size limit", name, principal)
                return
            data = message.get("bytes")
            if data is None:
                client.close(closecodes.UNSUPPORTED_DATA, "text frames are not y-websocket")
                log.warning("room=%r principal=%s: text frame refused", name, principal)
                return
            if room.closed:
                client.close(closecodes.SERVICE_RESTART, "room closed, reconnect")
                return
            try:
                room.handle(client, data)
            except ProtocolError as exc:
                log.warning("room=%r principal=%s: protocol error: %s", name, principal, exc)
                over_limit[0] = isinstance(exc, LimitExceededError)
                client.close(getattr(exc, "close_code", closecodes.BAD_REQUEST), str(exc))
                return

    try:
        await client.serve(receive_loop)
    finally:
        room.leave(client)
        code = client.close_code
        stats.closes[code if code is not None else peer_code[0]] += 1
        if code == closecodes.MESSAGE_TOO_BIG and not over_limit[0]:
            stats.slow_clients_dropped += 1  # a send backlog overflow
        with anyio.CancelScope(shield=True):
            await services.authenticator.left(client.principal, name)
