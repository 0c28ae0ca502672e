"""Who may do what with a session's terminals: the one place the terminal code asks.

Re-asked on every input frame and resize, so a role change takes effect at once.
"""

from __future__ import annotations

from backend.access.authorize import Action, authorize
from backend.auth.types import Principal


def may_type(principal: Principal, session: str) -> bool:
    return authorize(principal, session, Action.TYPE_TERMINAL)


def may_start(principal: Principal, session: str) -> bool:
    return authorize(principal, session, Action.START_TERMINAL)
