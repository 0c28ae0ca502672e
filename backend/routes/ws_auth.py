"""The one way a WebSocket channel authenticates (`/yjs`, `/term`, `/signal`).

Origin first (a page of another site must never drive a room, a shell or a share), then the
authenticator. Junk without credentials and a foreign Origin are refused before accept (the
client sees HTTP 403); known failures are accepted, then closed with 4401/4403/4404, because a
browser only sees close codes sent after the handshake.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket

from backend import closecodes
from backend.access.connlimit import SCOPE_LEASE, PrincipalConnections
from backend.access.origin import origin_allowed
from backend.auth.types import SCOPE_PRINCIPAL, Authenticator, Principal
from backend.channels.close import close_with
from backend.errors import (
    AccessDeniedError,
    AuthenticationError,
    CapacityError,
    CredentialsMissingError,
    InvalidInputError,
    SessionNotFoundError,
)
from backend.settings import Settings

log = logging.getLogger("tandem.ws")


@dataclass(frozen=True)
class Gate:
    """What a WebSocket channel is let in by: the Origin rule, the authenticator, the per-principal
    connection limits (backend.access.connlimit)."""

    settings: Settings
    authenticator: Authenticator
    connections: PrincipalConnections


async def authenticate_websocket(websocket: WebSocket, gate: Gate, session: str) -> Principal | None:
    """The principal for `session`, or None after refusing or closing with the code that says why."""
    known = websocket.scope.get(SCOPE_PRINCIPAL)
    if known is not None:
        return known  # authenticated already (Origin included) by `backend.routes.owned`
    if not origin_allowed(websocket.headers, gate.settings.public_url):
        log.warning("session=%r: refused Origin %r", session, websocket.headers.get("origin"))
        await websocket.close(closecodes.POLICY_VIOLATION)  # before accept: HTTP 403
        return None
    try:
        principal = await gate.authenticator.authenticate(websocket, session)
    except CredentialsMissingError:
        await websocket.close(closecodes.POLICY_VIOLATION)  # junk without credentials: HTTP 403
        return None
    except (AuthenticationError, AccessDeniedError, SessionNotFoundError) as exc:
        await close_with(websocket, *closecodes.close_for(exc))
        return None
    except InvalidInputError as exc:  # e.g. a `?name=` that passes for an account
        await close_with(websocket, closecodes.BAD_REQUEST, str(exc))
        return None
    if principal is None:
        await close_with(websocket, closecodes.UNAUTHORIZED, "missing or invalid credentials")
        return None
    try:
        lease = gate.connections.acquire(principal, session)
    except CapacityError as exc:
        log.warning("session=%r %s: %s", session, principal.id, exc)
        await close_with(websocket, closecodes.TRY_AGAIN_LATER, str(exc))
        return None
    if lease is not None:  # released when the connection ends (backend.asgi)
        websocket.scope[SCOPE_LEASE] = lease
    return principal
