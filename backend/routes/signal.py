"""`/signal/{session}`: screen-share signaling (protocol: signaling.messages, hub: signaling.hub).

Served as plain ASGI beside `/yjs` and `/term`. Authenticate exactly like the room -> hand the
connection to the hub -> two loops: the bounded outbox -> frames, frames -> `hub.handle`.
"""

from __future__ import annotations

import logging

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend import closecodes
from backend.channels.close import close_with, raw_path
from backend.channels.runner import ChannelRunner
from backend.errors import RoomNameError
from backend.rooms.names import room_from_raw_path
from backend.routes.sockets import Sockets
from backend.routes.ws_auth import authenticate_websocket
from backend.screenshare import identity_of
from signaling.messages import error_frame

log = logging.getLogger("tandem.signal")

PREFIX = "/signal/"


def is_signal(scope: Scope) -> bool:
    return scope["type"] == "websocket" and scope["path"].startswith(PREFIX)


async def signal_asgi(sockets: Sockets, scope: Scope, receive: Receive, send: Send) -> None:
    await signal_endpoint(WebSocket(scope, receive, send), sockets)


class _Outbox:
    """The hub's view of one client: a bounded queue; overflow or `close` ends the connection."""

    def __init__(self, stream: MemoryObjectSendStream[str], channel: ChannelRunner) -> None:
        self._stream = stream
        self._channel = channel

    def offer(self, text: str) -> bool:
        try:
            self._stream.send_nowait(text)
            return True
        except anyio.WouldBlock:
            self.close(closecodes.MESSAGE_TOO_BIG, "signaling queue overflow")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        return False

    def close(self, code: int, reason: str) -> None:
        self._channel.end(code, reason)


async def signal_endpoint(websocket: WebSocket, sockets: Sockets) -> None:
    settings = sockets.gate.settings
    try:
        session = room_from_raw_path(raw_path(websocket.scope), PREFIX, settings.room_name_max_length)
    except RoomNameError as exc:
        await close_with(websocket, *closecodes.close_for(exc))
        return
    screenshare = sockets.screenshare
    principal = await authenticate_websocket(websocket, sockets.gate, session)
    if principal is None:
        return
    stats = sockets.rooms.stats.channels
    async with ChannelRunner(websocket, "signal", stats, session=session, principal=principal.id) as channel:
        await websocket.accept()
        send, receive = anyio.create_memory_object_stream[str](settings.signal_outbox_messages)
        outbox = _Outbox(send, channel)
        hub = screenshare.hub
        participant = hub.connect(session, identity_of(principal, session), outbox)  # SignalingError: 1013
        screenshare.principals[participant] = principal

        async def pump_out() -> None:
            async for text in receive:
                await websocket.send_text(text)

        async def pump_in() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    participant.errors += 1
                    outbox.offer(error_frame("bad_message", "signaling uses text frames"))
                    continue
                await hub.handle(participant, text)
                if participant.errors > settings.signal_max_errors:
                    return

        try:
            await channel.pumps(pump_in, pump_out)
        finally:
            screenshare.principals.pop(participant, None)
            with anyio.CancelScope(shield=True):
                await hub.disconnect(participant)
                send.close()
                with anyio.move_on_after(1):  # what the hub said last (an `error` before a close) goes out
                    try:
                        async for text in receive:
                            await websocket.send_text(text)
                    except (WebSocketDisconnect, RuntimeError, OSError):
                        pass
                receive.close()
