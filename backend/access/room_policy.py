"""What the room server asks about a connection, answered from its principal via `authorize`.

RoomManager takes these as callbacks, so `backend.rooms` knows nothing of roles. The principal is
read at every message: a role changed on an open connection applies from its next message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

from pycrdt import Doc

from backend.access.authorize import Action, authorize
from backend.access.comment_policy import Actor, CommentLimits, CommentRefusedError
from backend.access.comments_only import CommentGuard
from backend.rooms.clientids import ClientIdRegistry, owner_key
from backend.rooms.connection import ClientConnection

log = logging.getLogger("tandem.access")


def can_write(client: ClientConnection) -> bool:
    return authorize(client.principal, client.room, Action.EDIT_DOC)


class RoomGuard:
    """Per room: which client updates are applied (see `comments_only` for the rules)."""

    def __init__(self, doc: Doc, client_ids: ClientIdRegistry, limits: CommentLimits) -> None:
        self.comments = CommentGuard(doc, client_ids, limits)

    def admit(self, client: ClientConnection, update: bytes) -> bytes | None:
        """The update to apply, or None to drop it (a viewer's, or one the policy refuses)."""
        principal = client.principal
        if not authorize(principal, client.room, Action.COMMENT):
            return None
        editor = authorize(principal, client.room, Action.EDIT_DOC)
        actor = Actor(
            principal.id, principal.name, principal.color, moderator=editor, comments_only=not editor
        )
        try:
            self.comments.check(update, actor, owner_key(client))
        except CommentRefusedError as exc:
            log.warning("room=%r principal=%s: update refused: %s", client.room, principal.id, exc)
            return None
        return update

    def applied(self, update: bytes) -> None:
        self.comments.applied(update)


def guard_factory(limits: CommentLimits) -> Callable[[Doc, ClientIdRegistry], RoomGuard]:
    return lambda doc, client_ids: RoomGuard(doc, client_ids, limits)


def stamp(owner: Hashable, state: dict[str, Any]) -> dict[str, Any]:
    """Replace the client's `user` with its authenticated identity: no one appears as someone else."""
    principal = getattr(owner, "principal", None)
    if principal is None:
        state.pop("user", None)
        return state
    state["user"] = {
        "id": principal.id,
        "name": principal.name,
        "color": principal.color,
        "role": str(principal.role),
    }
    return state
