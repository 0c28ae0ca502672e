"""`/term` and `/signal` on any node: served here when this node owns the session, else tunnelled
to the owner (backend.tunnel). The room channel `/yjs` never comes here: it replicates instead.

One node (the embedded default): straight to the endpoint. Several nodes: authenticate here
(Origin, credentials: they never leave this node), find the owner by its lease, then either run
the endpoint with the principal in the scope or forward the connection.
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
from backend.routes.term import term_asgi
from backend.routes.ws_auth import authenticate_websocket
from backend.services import Services
from backend.settings import Settings
from backend.terminals.paths import parse_term_path

log = logging.getLogger("tandem.tunnel")

Handler = Callable[[Services, Scope, Receive, Send], Awaitable[None]]


def _term_session(raw: bytes, settings: Settings) -> str:
    return parse_term_path(raw, settings)[0]


def _signal_session(raw: bytes, settings: Settings) -> str:
    return room_from_raw_path(raw, SIGNAL_PREFIX, settings.room_name_max_length)


ROUTES: dict[str, tuple[Handler, Callable[[bytes, Settings], str]]] = {
    "term": (term_asgi, _term_session),
    "signal": (signal_asgi, _signal_session),
}


def endpoints(services: Services) -> dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]]:
    """What a tunnel runs on the owner, by route."""

    def bind(handler: Handler) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            await handler(services, scope, receive, send)

        return endpoint

    return {route: bind(handler) for route, (handler, _) in ROUTES.items()}


async def owned_asgi(route: str, services: Services, scope: Scope, receive: Receive, send: Send) -> None:
    handler, session_of = ROUTES[route]
    tunnels = services.tunnels
    if tunnels is None:
        await handler(services, scope, receive, send)
        return
    try:
        session = session_of(raw_path(scope), services.settings)
    except TandemError:
        await handler(services, scope, receive, send)  # it closes with the reason
        return
    websocket = WebSocket(scope, receive, send)
    principal = await authenticate_websocket(websocket, services, session)
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
            await handler(services, {**scope, SCOPE_PRINCIPAL: principal}, receive, send)
    else:
        await tunnels.forward(websocket, owner, route, session, principal)
