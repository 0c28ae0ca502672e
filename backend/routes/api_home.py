"""`/api/home`: what the home page lists for this browser (an account's sessions, and the sessions
its guest passes hold), each with who is in its live room now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import SQLModel, select

from backend.access import home
from backend.access.models import Account, SessionPublic
from backend.routes.api_sessions import with_online
from backend.routes.deps import DbDep, OptionalAccountDep, RoomsDep, SettingsDep

router = APIRouter(prefix="/api", tags=["sessions"])


class HomePublic(SQLModel):
    account: str | None  # the signed-in username, or None (a guest or nobody)
    first_run: bool  # no account exists yet: the first sign-up becomes the admin
    sessions: list[SessionPublic]


@router.get("/home")
def home_list(
    request: Request, account: OptionalAccountDep, db: DbDep, settings: SettingsDep, rooms: RoomsDep
) -> HomePublic:
    listed = home.my_sessions(db, account, request.cookies, settings.home_guest_sessions_max)
    out = with_online(rooms, listed)
    first = account is None and db.exec(select(Account.id).limit(1)).first() is None
    return HomePublic(account=account.username if account else None, first_run=first, sessions=out)
