"""`/yjs/{room}`: the y-websocket endpoint."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from backend import closecodes
from backend.errors import CapacityError, ProtocolError, RoomNameError
from backend.rooms.connection import ClientConnection, QueueLimits
from backend.rooms.names import room_from_raw_path
from backend.services import Services

log = logging.getLogger("tandem.yjs")

router = APIRouter()

PREFIX = "/yjs/"


@router.websocket("/yjs/{rest:path}")
async def yjs_endpoint(websocket: WebSocket, rest: str) -> None:
    services: Services = websocket.app.state.services
    settings = services.settings
    try:
        # Starlette has already decoded %2F in `rest`: read the raw path instead.
        raw = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
        name = room_from_raw_path(raw, PREFIX, settings.room_name_max_length)
    except RoomNameError as exc:
        await websocket.accept()
        await websocket.close(closecodes.BAD_REQUEST, f"bad room name: {exc}"[:120])
        return
    principal = await services.authenticator.authenticate(websocket, name)
    await websocket.accept()
    if principal is None:
        await websocket.close(closecodes.UNAUTHORIZED, "missing or invalid credentials")
        return
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
        QueueLimits(settings.client_queue_max_messages, settings.client_queue_max_bytes),
        principal,
        name,
    )
    room.join(client)

    async def receive_loop() -> None:
        receive = websocket.receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1000)
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
                client.close(closecodes.BAD_REQUEST, str(exc))
                return

    try:
        await client.serve(receive_loop)
    finally:
        room.leave(client)
