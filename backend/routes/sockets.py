"""What the WebSocket channels (`/yjs`, `/term`, `/signal`) are served with: built in the node
before the tunnels, which run `/term` and `/signal` for other nodes (backend.routes.owned)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.rooms.manager import RoomManager
from backend.routes.departures import Departures
from backend.routes.ws_auth import Gate
from backend.screenshare import ScreenShareService
from backend.terminals.live import TerminalAccess
from backend.terminals.service import TerminalService


@dataclass(frozen=True)
class Sockets:
    gate: Gate
    rooms: RoomManager
    # The leaves of detached `/yjs` sockets, recorded by one task (backend.routes.departures).
    departures: Departures
    # Terminals: the sandbox status, and the live registry when they are on.
    terminals: TerminalService
    # Open /term connections per session, re-checked when access changes (a session listener).
    terminal_access: TerminalAccess
    # Screen share: the signaling hub and the media relay (backend.screenshare, signaling/).
    screenshare: ScreenShareService
