"""The services a running app holds, built in the lifespan (no import-time state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from backend.access.connlimit import PrincipalConnections
from backend.access.live import AccessListener
from backend.access.ratelimit import LoginRateLimiter
from backend.auth.types import Authenticator
from backend.bus.types import Bus
from backend.history.recorder import HistoryRecorder
from backend.ops.redisprobe import RedisProbe
from backend.rooms.manager import RoomManager
from backend.screenshare import ScreenShareService
from backend.settings import Settings
from backend.store.types import DocumentStore
from backend.terminals.live import TerminalAccess
from backend.terminals.service import TerminalService
from backend.terminals.workspace_syncs import WorkspaceSyncs

if TYPE_CHECKING:  # tunnels reach the routes, which reach these services
    from backend.tunnel.service import Tunnels

SessionDeletedHook = Callable[[str], Awaitable[None]]


@dataclass
class Services:
    settings: Settings
    engine: Engine
    store: DocumentStore
    rooms: RoomManager
    authenticator: Authenticator
    login_limiter: LoginRateLimiter | None = None
    # Open WebSockets per principal, per room and per node (backend.access.connlimit).
    principal_connections: PrincipalConnections | None = None
    # Called with a session id after the session and its document are deleted: the sandbox
    # registers its container/workspace removal here. A failing hook is logged, not fatal.
    session_deleted_hooks: list[SessionDeletedHook] = field(default_factory=list)
    # Called with a session id whose access changed (any node, or the CLI), within
    # `access_poll_seconds`: terminals and signaling re-check their connections with
    # `authenticator.recheck(principal)`. Rooms are re-checked by the watcher itself.
    access_listeners: list[AccessListener] = field(default_factory=list)
    # The leaves of detached `/yjs` sockets, recorded by one task (backend.routes.departures).
    yjs_departures: Any = None
    # Terminals: the sandbox status, and the live registry when they are on (backend.terminals).
    terminals: TerminalService | None = None
    # Workspace file sync of each loaded room (backend.terminals.workspace_syncs).
    workspace_syncs: WorkspaceSyncs | None = None
    # Open /term connections per session, re-checked when access changes (an access listener).
    terminal_access: TerminalAccess | None = None
    # Version history: the recorder (and its store) behind /api/sessions/{id}/history.
    history: HistoryRecorder | None = None
    # Screen share: the signaling hub and the media relay (backend.screenshare, signaling/).
    screenshare: ScreenShareService | None = None
    # The bus between nodes (backend.bus): `publish`/`subscribe` on named channels; in-process
    # when TANDEM_REDIS_URL is unset. Terminals and signaling may carry their messages on it.
    bus: Bus | None = None
    # `/readyz`'s Redis client (backend.ops.redisprobe), when TANDEM_REDIS_URL is set.
    redis_probe: RedisProbe | None = None
    # Several nodes: `/term` and `/signal` connections go to the session's owner node through
    # these (backend.tunnel); None on one node.
    tunnels: Tunnels | None = None
