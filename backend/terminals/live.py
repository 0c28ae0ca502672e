"""Terminals' session listener (backend.lifecycle): live access changes on open `/term` connections,
and a deleted session's sandbox removed.

A downgrade applies from the next keystroke (the connection's principal is replaced, and every
input frame asks `policy.may_type` again); lost access closes the connection with 4403, a deleted
session with 4404 — within the access watcher's poll interval, without a reconnect. On the node
that deletes a session, its container, workspace and quota image go (`remove`, after the workspace
sync has let go of the workspace: an earlier listener).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol

from backend import closecodes
from backend.auth.types import Principal
from backend.errors import AccessDeniedError, SessionNotFoundError

log = logging.getLogger("tandem.terminals")

Recheck = Callable[[Principal], Awaitable[Principal]]
Remove = Callable[[str], Awaitable[None]]


class TerminalConnection(Protocol):
    principal: Principal

    def revoke(self, code: int, reason: str) -> None: ...


class TerminalAccess:
    def __init__(self, recheck: Recheck, remove: Remove) -> None:
        self._recheck = recheck
        self._remove = remove  # TerminalService.delete_session: a no-op when terminals are off
        self._open: dict[str, set[TerminalConnection]] = defaultdict(set)

    def opened(self, session: str, connection: TerminalConnection) -> None:
        self._open[session].add(connection)

    def closed(self, session: str, connection: TerminalConnection) -> None:
        connections = self._open.get(session)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._open[session]

    async def access_changed(self, session: str) -> None:
        for connection in list(self._open.get(session, ())):
            try:
                fresh = await self._recheck(connection.principal)
            except SessionNotFoundError:
                connection.revoke(closecodes.NOT_FOUND, "this session was deleted")
                continue
            except AccessDeniedError as exc:
                connection.revoke(closecodes.FORBIDDEN, str(exc))
                continue
            if fresh != connection.principal:
                log.info("session=%r %s: terminal role -> %s", session, fresh.id, fresh.role)
                connection.principal = fresh

    async def session_deleted(self, session: str) -> None:
        await self._remove(session)
