"""One session lifecycle: the parts that hold a session's live state hear of its access changes
and of its deletion through one protocol, in one order.

The listeners, in the order they run (fixed in `backend.node`):

1. rooms (`backend.access.live.RoomAccess`): re-check each client's principal / close the room's
   clients with 4404, unload the room (its last flush lands), then delete its document;
2. workspace sync: lets go of the session's workspace (before the container and quota image go);
3. terminals (`backend.terminals.live.TerminalAccess`): re-check open `/term` connections / remove
   the container, the workspace and its quota image;
4. screen share (`backend.screenshare`): re-check open `/signal` connections;
5. version history: forget the session's versions;
6. the bus: drop the room's channel (a deleted session leaves no stream in Redis).

`access_changed` runs on every node, from its access watcher, within `access_poll_seconds` of a
change (a deletion included: a deleted session's connections close with 4404 on the other nodes).
`session_deleted` runs on the node that deleted the session, after its rows are gone. A failing
listener is logged and the next one still runs: one part's failure never keeps another's state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

log = logging.getLogger("tandem.lifecycle")


class SessionListener(Protocol):
    async def access_changed(self, session: str) -> None:
        """Someone's access to `session` may have changed: re-check the open connections."""

    async def session_deleted(self, session: str) -> None:
        """`session` and its rows are gone: let go of what this part holds for it."""


class OnDeleted:
    """A listener for a part that holds nothing per connection: only the deletion concerns it."""

    def __init__(self, forget: Callable[[str], Awaitable[None]]) -> None:
        self._forget = forget

    async def access_changed(self, session: str) -> None:
        return None

    async def session_deleted(self, session: str) -> None:
        await self._forget(session)


class SessionLifecycle:
    """The listeners of every session, called in their order; a failure is logged, not fatal."""

    def __init__(self, listeners: Sequence[SessionListener]) -> None:
        self.listeners = tuple(listeners)

    async def access_changed(self, session: str) -> None:
        for listener in self.listeners:
            try:
                await listener.access_changed(session)
            except Exception:
                log.exception("session %s: an access listener failed", session)

    async def session_deleted(self, session: str) -> None:
        for listener in self.listeners:
            try:
                await listener.session_deleted(session)
            except Exception:
                log.exception("session %s: a session_deleted listener failed", session)
