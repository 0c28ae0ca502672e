"""`/api/sessions`: create, list, rename, delete; participants and their roles; the audit log.

Each route: authenticate (dependencies) -> authorize (`require`) -> hand over to backend.access.
"""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Response, status
from sqlalchemy import Engine
from sqlmodel import Session

from backend.access import audit, home, sessions
from backend.access.authorize import Action, require
from backend.access.identity import guest_cookie
from backend.access.models import (
    AuditEventPublic,
    MemberUpdate,
    ParticipantPublic,
    SessionCreate,
    SessionPublic,
    SessionUpdate,
)
from backend.auth.types import Role
from backend.lifecycle import SessionLifecycle
from backend.rooms.manager import RoomManager
from backend.routes.deps import (
    AccountDep,
    CsrfDep,
    DbDep,
    EngineDep,
    LifecycleDep,
    PrincipalDep,
    RoomsDep,
    SettingsDep,
)

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


def with_online(rooms: RoomManager, listed: list[SessionPublic]) -> list[SessionPublic]:
    """Each session with the names in its live room on this node (none when it is not loaded)."""
    out = []
    for s in listed:
        room = rooms.rooms.get(s.id)
        names = home.online_names(room.awareness.states()) if room is not None else []
        out.append(s.model_copy(update={"online": names}))
    return out


@router.get("")
def list_sessions(
    account: AccountDep,
    db: DbDep,
    rooms: RoomsDep,
    which: Literal["all", "mine", "shared"] = "all",
) -> list[SessionPublic]:
    """Sessions I own (`mine`), that were shared with me (`shared`), or both; with who is online."""
    return with_online(rooms, sessions.list_sessions(db, account, which))


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[CsrfDep])
def create_session(
    body: SessionCreate, account: AccountDep, db: DbDep, settings: SettingsDep
) -> SessionPublic:
    session = sessions.create_session(db, account, body.title, settings)
    return sessions.to_public(db, session, Role.OWNER)


@router.get("/{session_id}")
def get_session(session_id: str, principal: PrincipalDep, db: DbDep) -> SessionPublic:
    require(principal, session_id, Action.READ)
    return sessions.to_public(db, sessions.get_session(db, session_id), principal.role)


@router.patch("/{session_id}", dependencies=[CsrfDep])
def rename_session(
    session_id: str, body: SessionUpdate, principal: PrincipalDep, db: DbDep, settings: SettingsDep
) -> SessionPublic:
    require(principal, session_id, Action.MANAGE)
    session = sessions.get_session(db, session_id)
    sessions.rename_session(db, session, body.title, settings, principal)
    return sessions.to_public(db, session, principal.role)


def _delete_rows(engine: Engine, session_id: str) -> None:
    with Session(engine) as db:
        sessions.delete_session(db, session_id)


async def delete_everywhere(engine: Engine, lifecycle: SessionLifecycle, session_id: str) -> None:
    """Delete the session's rows (other nodes see the access change), then tell its listeners here
    in their order (backend.lifecycle): the room closes and its document goes, then the sandbox."""
    await anyio.to_thread.run_sync(_delete_rows, engine, session_id)
    await lifecycle.session_deleted(session_id)


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[CsrfDep])
async def delete_session(
    session_id: str, principal: PrincipalDep, engine: EngineDep, lifecycle: LifecycleDep
) -> Response:
    """Delete the session, its document, its links and guests (and its sandbox, via listeners)."""
    require(principal, session_id, Action.MANAGE)
    await delete_everywhere(engine, lifecycle, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{session_id}/participants")
def list_participants(session_id: str, principal: PrincipalDep, db: DbDep) -> list[ParticipantPublic]:
    require(principal, session_id, Action.MANAGE)
    return sessions.participants(db, session_id)


@router.patch("/{session_id}/participants/{participant_id}", status_code=204, dependencies=[CsrfDep])
def set_role(
    session_id: str, participant_id: str, body: MemberUpdate, principal: PrincipalDep, db: DbDep
) -> None:
    """Change a member's or guest's role; open connections follow within a second."""
    require(principal, session_id, Action.MANAGE)
    sessions.set_role(db, session_id, participant_id, body.role, principal)


@router.delete("/{session_id}/participants/{participant_id}", status_code=204, dependencies=[CsrfDep])
def remove_participant(session_id: str, participant_id: str, principal: PrincipalDep, db: DbDep) -> None:
    """Remove a member or guest; their open connections are closed (4403) within a second."""
    require(principal, session_id, Action.MANAGE)
    sessions.remove_participant(db, session_id, participant_id, principal)


@router.delete("/{session_id}/membership", status_code=204, dependencies=[CsrfDep])
def leave_session(session_id: str, principal: PrincipalDep, db: DbDep, response: Response) -> None:
    """Give up my own access (a membership or a guest pass); open connections close within a second."""
    require(principal, session_id, Action.READ)
    home.leave(db, session_id, principal)
    response.delete_cookie(guest_cookie(session_id), path="/")


@router.get("/{session_id}/audit")
def audit_log(
    session_id: str,
    principal: PrincipalDep,
    db: DbDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1)] = 100,
    before: int | None = None,
) -> list[AuditEventPublic]:
    """Joins, leaves, link uses, role changes and revocations, newest first (owner only)."""
    require(principal, session_id, Action.MANAGE)
    return audit.events(db, session_id, min(limit, settings.audit_page_max), before)
