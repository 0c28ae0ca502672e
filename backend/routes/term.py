"""`/term/{session}/{terminal}`: one client of a shared terminal (protocol: backend.terminals.protocol).

Served as plain ASGI beside `/yjs` (see `backend.asgi`). Authenticate -> attach (starting the
terminal when the role may) -> two loops: hub events -> frames, frames -> input/resize. The hub
never waits for this one client: when its backlog overflows it gets a `skipped` notice, a dim
mark in the output and the newest output from the scrollback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend import closecodes
from backend.auth.types import Principal
from backend.channels.close import close_with, raw_path
from backend.channels.runner import ChannelRunner
from backend.errors import ChannelCloseError, TerminalNameError
from backend.routes.sockets import Sockets
from backend.routes.ws_auth import authenticate_websocket
from backend.settings import Settings
from backend.terminals import policy
from backend.terminals.live import TerminalAccess
from backend.terminals.paths import PREFIX, parse_term_path
from backend.terminals.protocol import (
    Resize,
    Restart,
    control_frame,
    error_frame,
    parse_client_message,
    skip_mark,
    status_frame,
)
from backend.terminals.registry import Terminal, TerminalRegistry
from sandbox import (
    Output,
    PtyClosedError,
    Resync,
    Skipped,
    TerminalSubscription,
)

log = logging.getLogger("tandem.term")


def is_term(scope: Scope) -> bool:
    return scope["type"] == "websocket" and scope["path"].startswith(PREFIX)


async def term_asgi(sockets: Sockets, scope: Scope, receive: Receive, send: Send) -> None:
    await term_endpoint(WebSocket(scope, receive, send), sockets)


async def term_endpoint(websocket: WebSocket, sockets: Sockets) -> None:
    settings = sockets.gate.settings
    try:
        session, name = parse_term_path(raw_path(websocket.scope), settings)
    except TerminalNameError as exc:
        await close_with(websocket, *closecodes.close_for(exc))
        return
    principal = await authenticate_websocket(websocket, sockets.gate, session)
    if principal is None:
        return
    stats = sockets.rooms.stats.channels
    async with ChannelRunner(
        websocket, "term", stats, session=session, terminal=name, principal=principal.id
    ) as channel:
        await websocket.accept()
        terminals = sockets.terminals
        if not terminals.status.enabled:
            reason = terminals.status.reason or "terminals are off"
            await websocket.send_text(error_frame("sandbox_off", reason))
            raise ChannelCloseError(closecodes.TERMINALS_OFF, reason)
        registry = terminals.registry
        async with registry.attach(
            session,
            name,
            principal,
            can_start=policy.may_start(principal, session),
            can_type=policy.may_type(principal, session),
        ) as (term, sub):
            client = _Client(websocket, settings, registry, session, term, sub, principal, channel)
            await client.serve(sockets.terminal_access)


@dataclass(eq=False)  # identity: connections live in sets
class _Client:
    websocket: WebSocket
    settings: Settings
    registry: TerminalRegistry
    session: str
    term: Terminal
    sub: TerminalSubscription
    principal: Principal
    channel: ChannelRunner

    def __post_init__(self) -> None:
        self._send_lock = anyio.Lock()  # error notices share the socket with the output loop
        self._told_read_only = False

    def revoke(self, code: int, reason: str) -> None:
        """Access is gone (backend.terminals.live): end this connection with `code`."""
        self.channel.end(code, reason)

    async def serve(self, access: TerminalAccess) -> None:
        access.opened(self.session, self)
        try:
            await self.channel.pumps(self._pump_in, self._pump_out)
        finally:
            access.closed(self.session, self)

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def _send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
            await self.websocket.send_bytes(data)

    async def _pump_out(self) -> None:
        async for event in self.sub:
            if isinstance(event, Output):
                await self._send_bytes(event.data)
                continue
            text = control_frame(event, self.registry.authors(self.session))
            if text is not None:
                await self._send_text(text)
            if isinstance(event, Resync) and event.data:
                await self._send_bytes(event.data)  # the scrollback, right after the reset
            if isinstance(event, Skipped):
                await self._send_text(status_frame(event))
                mark = skip_mark(event.nbytes) if event.nbytes else b""
                if mark or event.data:
                    await self._send_bytes(mark + event.data)
        self.channel.end(closecodes.GOING_AWAY, "terminal closed")

    async def _pump_in(self) -> None:
        settings = self.settings
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if len(data) > settings.terminal_max_input_bytes:
                    log.warning(
                        "session=%r principal=%s: %d-byte input frame",
                        self.session,
                        self.principal.id,
                        len(data),
                    )
                    raise ChannelCloseError(
                        closecodes.MESSAGE_TOO_BIG,
                        f"input frames are at most {settings.terminal_max_input_bytes} bytes",
                    )
                await self._type(data)
            elif text is not None:
                control = parse_client_message(text)  # a ProtocolError closes with 4400
                if isinstance(control, Resize):
                    await self._resize(control)
                elif isinstance(control, Restart):
                    await self._restart()

    async def _type(self, data: bytes) -> None:
        # Asked again on every frame: a role downgrade takes effect at once.
        self.sub.can_write = policy.may_type(self.principal, self.session)
        if not self.sub.can_write:
            if not self._told_read_only:
                self._told_read_only = True
                await self._send_text(error_frame("read_only", "your role may not type in this terminal"))
            return
        try:
            await self.sub.write(data)
        except PtyClosedError:
            pass  # the shell exited; the client got `exit` and may send `restart`

    async def _resize(self, message: Resize) -> None:
        # Viewers never resize: only subscribers allowed to type count (smallest wins, like tmux).
        self.sub.can_write = policy.may_type(self.principal, self.session)
        if self.sub.can_write:
            try:
                await self.sub.resize(message.cols, message.rows)
            except PtyClosedError:
                pass

    async def _restart(self) -> None:
        hub = self.term.hub
        if hub is None or not policy.may_start(self.principal, self.session):
            await self._send_text(error_frame("forbidden", "your role may not restart terminals"))
            return
        await hub.restart()
