"""`/api/sessions/{id}/me`: who I am in a session (name, colour, role), and picking my colour.

The name is the principal's (an account's username, a guest's chosen name); the colour is
allocated per session (backend.access.colors). A pick goes live like an access change: every
node re-stamps my presence and my terminal attribution within `access_poll_seconds`.
"""

from __future__ import annotations

import re

from fastapi import APIRouter

from backend.access.authorize import Action, require
from backend.access.colors import PALETTE, pick_color
from backend.access.models import ColorUpdate, IdentityPublic
from backend.access.sessions import record_change
from backend.auth.types import Principal, PrincipalKind
from backend.errors import InvalidInputError
from backend.routes.deps import CsrfDep, DbDep, PrincipalDep

router = APIRouter(prefix="/api/sessions", tags=["identity"])

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _public(principal: Principal, color: str | None = None) -> IdentityPublic:
    return IdentityPublic(
        id=principal.id,
        name=principal.name,
        color=color or principal.color,
        role=principal.role,
        palette=PALETTE,
    )


@router.get("/{session_id}/me")
def me(session_id: str, principal: PrincipalDep) -> IdentityPublic:
    require(principal, session_id, Action.READ)
    return _public(principal)


@router.put("/{session_id}/me/color", dependencies=[CsrfDep])
def set_color(session_id: str, body: ColorUpdate, principal: PrincipalDep, db: DbDep) -> IdentityPublic:
    """Pick my colour in this session (an account's pick is also its default in new sessions)."""
    require(principal, session_id, Action.READ)
    if not _COLOR.fullmatch(body.color):
        raise InvalidInputError("color: #rrggbb")
    if principal.kind not in (PrincipalKind.USER, PrincipalKind.GUEST):
        raise InvalidInputError(
            "only accounts and guests keep a colour (a ?token= client is a new person each time)"
        )
    pick_color(db, session_id, principal.id, body.color)
    record_change(db, session_id)  # open connections re-stamp presence with it
    db.commit()
    return _public(principal, body.color.lower())
