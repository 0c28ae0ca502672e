"""Share links: `/api/sessions/{id}/links` (owner) and `/api/join/{token}` (whoever holds one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from backend.access import links
from backend.access.authorize import Action, require
from backend.access.identity import guest_cookie
from backend.access.models import (
    JoinRequest,
    JoinResult,
    ShareLink,
    ShareLinkCreate,
    ShareLinkCreated,
    ShareLinkPublic,
)
from backend.access.sessions import get_session
from backend.errors import InvalidInputError
from backend.routes.deps import (
    CsrfDep,
    DbDep,
    OptionalAccountDep,
    PrincipalDep,
    SettingsDep,
    cookie_secure,
    public_base,
)
from backend.settings import Settings

router = APIRouter(prefix="/api", tags=["share links"])


def _public(link: ShareLink) -> ShareLinkPublic:
    return ShareLinkPublic.model_validate(link, from_attributes=True)


@router.get("/sessions/{session_id}/links")
def list_links(session_id: str, principal: PrincipalDep, db: DbDep) -> list[ShareLinkPublic]:
    require(principal, session_id, Action.MANAGE)
    return [_public(link) for link in links.links_of(db, session_id)]


@router.post("/sessions/{session_id}/links", status_code=status.HTTP_201_CREATED, dependencies=[CsrfDep])
def create_link(
    session_id: str,
    body: ShareLinkCreate,
    request: Request,
    principal: PrincipalDep,
    db: DbDep,
    settings: SettingsDep,
) -> ShareLinkCreated:
    """A new link; its token is in this response only (only its hash is stored)."""
    require(principal, session_id, Action.MANAGE)
    session = get_session(db, session_id)
    link, token = links.create_link(
        db,
        session,
        body.role,
        settings,
        principal,
        expires_in_seconds=body.expires_in_seconds,
        max_uses=body.max_uses,
    )
    return ShareLinkCreated(
        **_public(link).model_dump(), token=token, url=f"{public_base(request, settings)}/join/{token}"
    )


@router.delete("/sessions/{session_id}/links/{link_id}", status_code=204, dependencies=[CsrfDep])
def revoke_link(session_id: str, link_id: str, principal: PrincipalDep, db: DbDep) -> None:
    """Revoke: the link admits no one, and whoever it admitted loses access (open connections too)."""
    require(principal, session_id, Action.MANAGE)
    link = db.get(ShareLink, link_id)
    if link is None or link.session_id != session_id:
        raise InvalidInputError("no such link in this session")
    links.revoke_link(db, link, principal)


def set_guest_cookie(response: Response, session_id: str, token: str, settings: Settings) -> None:
    response.set_cookie(
        guest_cookie(session_id),
        token,
        max_age=int(settings.guest_ttl_days * 86400),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings),
        path="/",
    )


@router.post("/join/{token}", dependencies=[CsrfDep])
def join(
    token: str,
    response: Response,
    account: OptionalAccountDep,
    db: DbDep,
    settings: SettingsDep,
    body: Annotated[JoinRequest | None, Body()] = None,
) -> JoinResult:
    """Logged in: become a member with the link's role. Otherwise: a guest with `name`, for this
    session only (sets the guest cookie)."""
    if account is not None:
        session, role = links.join_as_member(db, token, account)
        return JoinResult(
            session_id=session.id, role=role, name=account.username, room_url=f"/s/{session.id}"
        )
    if body is None:
        raise InvalidInputError("a guest needs a display name")
    guest, guest_token = links.join_as_guest(db, token, body.name, settings)
    set_guest_cookie(response, guest.session_id, guest_token, settings)
    return JoinResult(
        session_id=guest.session_id, role=guest.role, name=guest.name, room_url=f"/s/{guest.session_id}"
    )
