"""`/term` and `/signal` on any node: served here when this node owns the session, else tunnelled
to the owner (backend.tunnel). The room channel `/yjs` never comes here: it replicates instead.

One node (the embedded default, `LocalOwner`): straight to the endpoint. Several nodes
(`LeasedOwner`): authenticate here (Origin, credentials: they never leave this node), find the
owner by its lease, then either run the endpoint with the principal in the scope or forward the
connection. Either is the node's `owners`; both count tunnels for the metrics (zero on one node).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from backend.auth.types import SCOPE_PRINCIPAL
from backend.bus.leases import REDIS_DOWN_ERRORS, lease_key
from backend.channels.close import raw_path
from backend.errors import TandemError
from backend.rooms.names import room_from_raw_path
from backend.routes.signal import PREFIX as SIGNAL_PREFIX
from backend.routes.signal import signal_asgi
from backend.routes.sockets import Sockets
from backend.routes.term import term_asgi
from backend.routes.ws_auth import authenticate_websocket
from backend.settings import Settings
from backend.terminals.paths import parse_term_path
from backend.tunnel.service import Tunnels

log = logging.getLogger("tandem.tunnel")

Handler = Callable[[Sockets, Scope, Receive, Send], Awaitable[None]]
Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


def _term_session(raw: bytes, settings: Settings) -> str:
    return parse_term_path(raw, settings)[0]


def _signal_session(raw: bytes, settings: Settings) -> str:
    return room_from_raw_path(raw, SIGNAL_PREFIX, settings.room_name_max_length)


ROUTES: dict[str, tuple[Handler, Callable[[bytes, Settings], str]]] = {
    "term": (term_asgi, _term_session),
    "signal": (signal_asgi, _signal_session),
}


def endpoints(sockets: Sockets) -> dict[str, Endpoint]:
    """What runs a route's connection on its owner (this node), by route."""

    def bind(handler: Handler) -> Endpoint:
        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            await handler(sockets, scope, receive, send)

        return endpoint

    return {route: bind(handler) for route, (handler, _) in ROUTES.items()}


class LocalOwner:
    """One node: every session is owned here, nothing is tunnelled."""

    entry_count = 0
    owned_count = 0
    broken = 0

    def __init__(self, sockets: Sockets) -> None:
        self._endpoints = endpoints(sockets)

    async def serve(self, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        await self._endpoints[route](scope, receive, send)

    def close(self) -> None:
        return None


class LeasedOwner:
    """Several nodes: served here when this node holds the session's lease, else tunnelled."""

    def __init__(self, sockets: Sockets, tunnels: Tunnels) -> None:
        self._sockets = sockets
        self._tunnels = tunnels

    @property
    def entry_count(self) -> int:
        return self._tunnels.entry_count

    @property
    def owned_count(self) -> int:
        return self._tunnels.owned_count

    @property
    def broken(self) -> int:
        return self._tunnels.broken

    def close(self) -> None:
        """Tunnelled clients hear 1012 (before this node's terminals end)."""
        self._tunnels.close()

    async def serve(self, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        handler, session_of = ROUTES[route]
        sockets, tunnels = self._sockets, self._tunnels
        try:
            session = session_of(raw_path(scope), sockets.gate.settings)
        except TandemError:
            await handler(sockets, scope, receive, send)  # it closes with the reason
            return
        websocket = WebSocket(scope, receive, send)
        principal = await authenticate_websocket(websocket, sockets.gate, session)
        if principal is None:
            return
        key = lease_key(session)
        try:
            owner = await tunnels.leases.claim(key)
        except REDIS_DOWN_ERRORS as exc:
            # Redis is away: serve here rather than refuse; a second owner is possible until it is
            # back, and the lease renewal then reports it (RedisLeases.lost).
            log.warning("session=%r: owner lease unavailable (%r); serving %s here", session, exc, route)
            owner = tunnels.node_id
        if owner == tunnels.node_id:
            with tunnels.leases.hold(key):
                await handler(sockets, {**scope, SCOPE_PRINCIPAL: principal}, receive, send)
        else:
            await tunnels.forward(websocket, owner, route, session, principal)
