"""What the room server asks about a connection, answered from its principal via `authorize`.

RoomManager takes these as callbacks, so `backend.rooms` knows nothing of roles. The principal is
read at every message: a role changed on an open connection applies from its next message.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from pycrdt import Doc

from backend.access.authorize import Action, authorize
from backend.access.comments_only import comments_only
from backend.rooms.connection import ClientConnection


def can_write(client: ClientConnection) -> bool:
    return authorize(client.principal, client.room, Action.EDIT_DOC)


def write_filter(client: ClientConnection, update: bytes, doc: Doc) -> bytes | None:
    """A non-editor's update: the comments-only part for a commenter, nothing for a viewer."""
    if authorize(client.principal, client.room, Action.COMMENT):
        return comments_only(update, doc)
    return None


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
