"""`authorize(principal, session, action)`: the one access decision every channel asks."""

from __future__ import annotations

from enum import StrEnum

from backend.auth.types import Principal, Role
from backend.errors import AccessDeniedError


class Action(StrEnum):
    READ = "read"  # open the room, receive everything, be present
    EDIT_DOC = "edit_doc"  # any document update
    COMMENT = "comment"  # updates to the `comments` array only
    TYPE_TERMINAL = "type_terminal"
    START_TERMINAL = "start_terminal"
    SHARE_SCREEN = "share_screen"
    MANAGE = "manage"  # rename, delete, share links, members, audit


_WRITERS = frozenset({Role.OWNER, Role.EDITOR})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.READ: frozenset(Role),
    Action.EDIT_DOC: _WRITERS,
    Action.COMMENT: frozenset({Role.OWNER, Role.EDITOR, Role.COMMENTER}),
    Action.TYPE_TERMINAL: _WRITERS,
    Action.START_TERMINAL: _WRITERS,
    Action.SHARE_SCREEN: _WRITERS,
    Action.MANAGE: frozenset({Role.OWNER}),
}


def authorize(principal: Principal | None, session: str, action: Action) -> bool:
    """Whether `principal` may do `action` in `session`. A principal resolved for one session
    (guests, links, members) never carries over to another; `--no-auth` principals hold everywhere."""
    if principal is None:
        return False
    if principal.session is not None and principal.session != session:
        return False
    return principal.role in ALLOWED[action]


def require(principal: Principal | None, session: str, action: Action) -> Principal:
    if principal is None or not authorize(principal, session, action):
        raise AccessDeniedError(f"{action} is not allowed in this session")
    return principal
